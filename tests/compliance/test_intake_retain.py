"""Intake hands a stored lead to the retainer after its commit: the answer never waits for TrustedForm."""

from __future__ import annotations

import time

import pytest

from harness.fake_trustedform import FakeTrustedForm
from harness.processes import wait_for
from store import compliance as evidence

CONFIG = """
defaults:
  campaign: Sales
compliance:
  consent:
    require: all
    trustedform: {{api_key: tf-key, api_base: "{url}"}}
sources:
  web:
    type: generic
    token: t0ken-t0ken-t0ken
"""

pytestmark = pytest.mark.process  # the fake TrustedForm listens on loopback


@pytest.mark.process  # the fake TrustedForm on loopback
def test_the_webhook_answers_queued_before_the_retain_and_the_retain_follows(make_app, db_url):
    with FakeTrustedForm(api_key="tf-key") as tf:
        tf.latency = 0.3  # slower than any acknowledgement may be
        app = make_app(CONFIG.format(url=tf.url), db_url)
        cert = tf.add_cert(phone="3055550100")
        started = time.monotonic()
        response = app.test_client().post(
            "/webhooks/web",
            json={"id": "L1", "phone": "(305) 555-0100", "email": "ada@example.com",
                  "xxTrustedFormCertUrl": tf.cert_url(cert)},
            headers={"X-Leadrelay-Token": "t0ken-t0ken-t0ken"},
        )  # fmt: skip
        answered = time.monotonic() - started
        assert response.status_code == 202 and "queued" in response.get_data(as_text=True)
        assert answered < 0.3, f"the answer waited {answered:.2f} s: the retain is on the request path"
        engine = app.extensions["leadrelay"].engine

        wait_for(lambda: evidence.report(engine, extern_id="L1"), timeout=5)
        rows = evidence.report(engine, extern_id="L1")
        assert [(r["gate"], r["decision"], r["cert_id"]) for r in rows] == [("retain", "verified", cert)]
        assert rows[0]["phones"] == ["+13055550100"] and rows[0]["email"] == "ada@example.com"
        assert tf.retains[0]["vendor"] == "web" and "L1" in tf.retains[0]["reference"]

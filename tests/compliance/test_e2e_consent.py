"""End to end: gunicorn, the fake Engage in its own process, the fake TrustedForm on loopback.

Every loaded lead's certificate was retained before Engage received it; mismatches, unknown and
refused certificates are blocked (a refused URL without any request); TrustedForm down or refusing
our key defers (never blocks) and the leads flow once it answers (tests/faults/test_trustedform_outage.py:
3 minutes down in `make soak`). Windows are off here
(`calling_hours: off`) so the test does not depend on the hour it runs at; test_windows.py pins them.
"""

from __future__ import annotations

from collections import Counter

import pytest

from harness.fake_trustedform import FakeTrustedForm
from harness.processes import wait_for
from tests.compliance.helpers import CONFIG, post, start, statuses

# gunicorn, the fake Engage and the fake TrustedForm on loopback.
pytestmark = pytest.mark.process


def test_retain_before_load_and_each_verdict(tmp_path, db_url, procs):
    """Every loaded lead's certificate was retained before the load; each bad certificate is blocked."""
    with FakeTrustedForm(api_key="tf-key") as tf:
        service, fake = start(tmp_path, db_url, procs, tf)
        good = [tf.add_cert(phone=f"303555{n:04d}") for n in range(5)]
        for n, cert in enumerate(good):
            assert post(service, f"OK{n}", f"303555{n:04d}", tf.cert_url(cert)).json()["leads"][0]["status"] == "queued"
        other = tf.add_cert(phone="7205550199")
        answers = [
            post(service, "MISMATCH", "3035550100", tf.cert_url(other)),
            post(service, "UNKNOWN", "3035550101", tf.cert_url("f" * 40)),
            post(service, "EVIL", "3035550102", "https://cert.trustedform.com.evil.example/" + "a" * 40),
            post(service, "NONE", "3035550103", None),
        ]
        # No oracle: every answer says queued, whatever a gate will do with the lead.
        assert {a.json()["leads"][0]["status"] for a in answers} == {"queued"}
        wait_for(lambda: Counter(statuses(db_url).values()) == Counter({"delivered": 5, "blocked": 4}), 30,
                 message="5 delivered, 4 blocked")  # fmt: skip
        loaded = {lead["extern_id"]: lead["received_at"] for lead in fake.leads()}
        assert set(loaded) == {f"OK{n}" for n in range(5)}
        retained = {r["reference"].split("/")[-1].rstrip(")"): r["at"] for r in tf.retains if r["matched"]}
        assert all(retained[extern] < loaded[extern] for extern in loaded), (retained, loaded)
        assert not any("evil" in r["path"] or "a" * 40 in r["path"] for r in tf.requests)


def test_worker_mode_the_web_process_retains_and_the_worker_loads_at_once(tmp_path, pg_url, stack):
    """Worker mode: the web process retains, the worker loads about one TrustedForm round trip later."""
    # The retain runs in the web process; the worker defers the lead, and the recorded answer puts it
    # back in the queue with a NOTIFY: loaded about one TrustedForm round trip after receipt.
    with FakeTrustedForm(api_key="tf-key") as tf:
        tf.latency = 0.3
        (tmp_path / "leadrelay.yml").write_text(CONFIG.format(key="tf-key", url=tf.url))
        running = stack(pg_url, workers=1)
        fake, web, worker = running.fake, running.web, running.workers[0]
        wait_for(lambda: "dispatcher is leader" in worker.log_tail(50), 30, message="the worker leads")
        warm = tf.add_cert(phone="3035550301")  # the first load also exchanges the Engage token
        post(web, "W0", "3035550301", tf.cert_url(warm))
        wait_for(lambda: statuses(pg_url).get("W0") == "delivered", 15, message="W0 delivered")
        cert = tf.add_cert(phone="3035550300")
        post(web, "W1", "3035550300", tf.cert_url(cert))
        wait_for(lambda: statuses(pg_url).get("W1") == "delivered", 10, message="W1 delivered")
        lead = next(lead for lead in fake.leads() if lead["extern_id"] == "W1")
        retained = next(r for r in tf.retains if "W1" in r["reference"])
        assert retained["at"] < lead["received_at"] < retained["at"] + 1.5  # not a 10 s grace or a backoff later

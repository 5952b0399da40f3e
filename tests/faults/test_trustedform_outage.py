"""TrustedForm refusing our key, then down (3 s in `make test`, 3 minutes in `make soak`): deferred, never blocked.

The service under gunicorn with the fake Engage process and the fake TrustedForm on loopback; the
lead is loaded once TrustedForm answers again, within consent.max_wait (10 min).
"""

from __future__ import annotations

import time

import pytest

from harness.fake_trustedform import FakeTrustedForm
from harness.processes import wait_for
from tests.compliance.helpers import post, start, statuses
from tests.faults.matrix import SOAK

# gunicorn, the fake Engage and the fake TrustedForm on loopback.
pytestmark = pytest.mark.process

OUTAGE = 180.0 if SOAK else 3.0

pytestmark = pytest.mark.process  # gunicorn, the fake Engage process and the fake TrustedForm on loopback


def test_trustedform_down_or_refusing_our_key_defers_then_flows(tmp_path, db_url, procs):
    with FakeTrustedForm(api_key="tf-key") as tf:
        service, fake = start(tmp_path, db_url, procs, tf)
        tf.fail_with(401)  # our key refused: deferred with an alert, never blocked
        cert = tf.add_cert(phone="3035550200")
        post(service, "K1", "3035550200", tf.cert_url(cert))
        wait_for(lambda: statuses(db_url).get("K1") == "deferred", 15, message="K1 deferred")
        tf.fail_with(None)
        tf.down()  # then TrustedForm is unreachable for a while
        time.sleep(OUTAGE)
        assert statuses(db_url)["K1"] == "deferred" and fake.leads() == []
        tf.up()
        wait_for(
            lambda: statuses(db_url).get("K1") == "delivered", 120, message="K1 delivered once TrustedForm answers"
        )
        assert "ALERT" in service.log_tail(400)

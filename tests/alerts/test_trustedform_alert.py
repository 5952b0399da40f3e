"""The trustedform_unavailable alert: fires while TrustedForm's latest answer is unavailable, resolves on success."""

from __future__ import annotations

import time

import pytest

from store import compliance as evidence
from store.db import write
from tests.alerts.helpers import config, runners, tick


def retain(app, verdict: str, status: int | None, reason: str) -> None:
    with write(app.extensions["leadrelay"].engine) as conn:
        evidence.record(conn, [evidence.EvidenceRow(1, "hubspot", "x", [], None, "a" * 40, "retain", verdict,
                                                    {"verdict": verdict, "status": status, "reason": reason},
                                                    time.time(), 1825)])  # fmt: skip


@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_fires_on_our_refused_key_and_resolves_when_trustedform_answers(make_app, sqlite_url, receiver):
    app = make_app(config(receiver), sqlite_url, ADMIN_TOKEN="t")
    (loop,) = runners(app, 1)
    tick(loop)
    assert receiver.of("trustedform_unavailable", "firing") == []
    retain(app, "unavailable", 401, "Authentication failed: invalid API key")
    tick(loop)
    [firing] = receiver.of("trustedform_unavailable", "firing")
    assert firing["details"]["status"] == 401 and "api_key" in firing["text"]
    retain(app, "verified", 200, "")
    tick(loop)
    assert len(receiver.of("trustedform_unavailable", "resolved")) == 1
    loop.engine.dispose()

"""The gates at claim time on a real database (SQLite and PostgreSQL) with the fake TrustedForm."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest

from compliance.consent import ConsentSettings
from compliance.gates import Action, Gate, GateSettings
from compliance.windows import WindowSettings
from config.compliance import gate_settings
from dispatch.gating import Gatekeeper
from dispatch.retainer import Retainer
from harness.fake_trustedform import FakeTrustedForm
from harness.processes import wait_for
from store import compliance as evidence
from store import db
from store.ingest import PendingLead, store_webhook
from store.queue import ClaimedLead
from tests.lanes import process_fixture

ET = ZoneInfo("America/New_York")
NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=ET).timestamp()


@pytest.fixture
def engine(db_url):
    eng = db.make_engine(db_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
@process_fixture
def tf():
    with FakeTrustedForm(api_key="tf-key") as fake:
        yield fake


def store(engine, extern: str, phone: str = "3055550100", record: dict | None = None, source: str = "web",
          received_at: float | None = None) -> ClaimedLead:  # fmt: skip
    """Store one queued lead and return it as the claim would."""
    lead = {"externId": extern, "leadPhone": phone, "email": "ada@example.com"}
    received = received_at or time.time()
    stored = store_webhook(
        engine, source=source, received_at=received, method="POST", path="/", content_type="application/json",
        headers={}, body=b"{}", remote_addr="", event_status="accepted", reason=None, sandbox=False,
        pending=[PendingLead(status="queued", priority="IMMEDIATE", campaign="Sales", record_key=f"k:{extern}",
                             key_expires_at=None, extern_id=extern, lead=lead, record=record or {})],
    )  # fmt: skip
    lead_id = stored.outcomes[0].lead_id
    assert lead_id is not None
    return ClaimedLead(lead_id, source, extern, "IMMEDIATE", "Sales", lead, {}, 0, 1, received, phone)


def consent(tf: FakeTrustedForm, api_key: str = "tf-key", **kw) -> GateSettings:
    return GateSettings(
        windows=WindowSettings(enabled=False),
        consent=ConsentSettings(require="all", trustedform_api_key=api_key, trustedform_api_base=tf.url, **kw),
        caps={"FL": 1},
    )


def retained(engine, lead_id: int) -> bool:
    """Whether a retain answer is recorded for the lead (a fresh connection: no stale snapshot)."""
    with engine.connect() as conn:
        return bool(evidence.retain_states(conn, [lead_id]))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_consent_waits_for_the_retain_then_loads(engine, tf):
    gates = consent(tf)
    retainer = Retainer(engine, lambda source: gates)
    keeper = Gatekeeper(engine, lambda source: gates, retainer)
    cert = tf.add_cert(phone="3055550100")
    lead = store(engine, "A1", record={"xxTrustedFormCertUrl": tf.cert_url(cert)})
    first = keeper.screen([lead])[0].result
    assert first.action is Action.DEFER and first.gate is Gate.CONSENT_CHECK and first.needs_retain
    retainer.submit([lead.id])  # what intake does after its commit
    wait_for(lambda: retained(engine, lead.id), timeout=5)
    loaded_at = time.time()
    second = keeper.screen([lead])[0].result
    assert second.action is Action.LOAD and second.details["consent"]["retain"]["verdict"] == "verified"
    assert all(r["at"] < loaded_at for r in tf.retains) and len(tf.retains) == 1
    with engine.connect() as conn:
        decisions = [(r["gate"], r["decision"]) for r in evidence.for_lead(conn, lead.id)]
    assert decisions == [("consent_check", "defer"), ("retain", "verified"), ("load", "load")]
    retainer.close()


@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_bad_key_defers_with_an_alert_then_blocks_after_max_wait(engine, tf):
    gates = consent(tf, api_key="wrong", max_wait=600)
    clock = Clock(time.time())
    retainer = Retainer(engine, lambda source: gates, clock=clock)
    keeper = Gatekeeper(engine, lambda source: gates, retainer, clock=clock)
    lead = store(engine, "B1", record={"xxTrustedFormCertUrl": tf.cert_url(tf.add_cert(phone="3055550100"))})
    retainer.submit([lead.id])
    wait_for(lambda: retained(engine, lead.id), timeout=5)
    waiting = keeper.screen([lead])[0].result
    assert waiting.action is Action.DEFER and waiting.gate is Gate.CONSENT_CHECK and waiting.alert
    assert waiting.details["consent"]["retain"]["status"] == 401
    clock.now += 601
    blocked = keeper.screen([lead])[0].result
    assert (
        blocked.action is Action.BLOCK
        and blocked.gate is Gate.CONSENT
        and "max_wait" in blocked.details["consent"]["why"]
    )
    retainer.close()


@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_a_refused_certificate_url_is_blocked_without_a_request(engine, tf):
    gates = consent(tf)
    retainer = Retainer(engine, lambda source: gates)
    keeper = Gatekeeper(engine, lambda source: gates, retainer)
    lead = store(engine, "C1", record={"xxTrustedFormCertUrl": "https://evil.example/" + "a" * 40})
    retainer.submit([lead.id])
    wait_for(retainer.idle, timeout=5)
    retainer.close()
    result = keeper.screen([lead])[0].result
    assert result.action is Action.BLOCK and result.gate is Gate.CONSENT and tf.requests == []


def test_calling_window_defers_to_the_next_opening(engine):
    late = dt.datetime(2026, 12, 7, 22, 0, tzinfo=ET).timestamp()
    keeper = Gatekeeper(engine, lambda source: GateSettings(), None, clock=Clock(late))
    result = keeper.screen([store(engine, "D1")])[0].result
    assert result.action is Action.DEFER and result.gate is Gate.CALLING_WINDOW
    assert result.next_attempt_at == dt.datetime(2026, 12, 8, 8, 0, tzinfo=ET).timestamp()


def test_calling_hours_off_loads_at_night(engine):
    """`calling_hours: off` as config builds it loads at 22:00 Eastern (the gate reads the windows' flag)."""
    late = dt.datetime(2026, 12, 7, 22, 0, tzinfo=ET).timestamp()
    settings = gate_settings({"calling_hours": "off"}, None, "leadrelay.yml")
    keeper = Gatekeeper(engine, lambda source: settings, None, clock=Clock(late))
    assert keeper.screen([store(engine, "D2")])[0].result.action is Action.LOAD


def test_settings_that_say_hours_off_with_windows_on_are_refused():
    """The reported defect: GateSettings(calling_hours_off=True) kept the windows on, so the opt-out flow test
    deferred its lead every evening; such settings cannot be built now."""
    with pytest.raises(ValueError, match="windows=WindowSettings\\(enabled=False\\)"):
        GateSettings(calling_hours_off=True)
    assert (
        GateSettings(windows=WindowSettings(enabled=False), calling_hours_off=True)
        .describe()
        .startswith("windows off (calling_hours: off)")
    )


def test_florida_cap_counts_loads_across_sources_for_24_hours(engine):
    clock = Clock(NOON)
    keeper = Gatekeeper(engine, lambda source: GateSettings(caps={"FL": 1}), None, clock=clock)
    assert keeper.screen([store(engine, "E1", source="web")])[0].result.action is Action.LOAD
    clock.now += 3600
    again = keeper.screen([store(engine, "E2", source="crm", phone="2125550100|3055550100")])[0].result
    assert again.action is Action.BLOCK and again.gate is Gate.FREQUENCY_CAP
    assert again.details["frequency_cap"] == {"loads_24h": 1, "cap": 1, "state": "FL"}
    texas = keeper.screen([store(engine, "E3", phone="2145550100")])[0].result
    assert texas.action is Action.LOAD  # no cap in Texas by default
    clock.now = NOON + 24 * 3600 + 1
    assert keeper.screen([store(engine, "E4")])[0].result.action is Action.LOAD


def test_do_not_call_blocks_before_any_other_gate(engine):
    keeper = Gatekeeper(
        engine, lambda source: GateSettings(), None, dnc=lambda conn, phones: {"+13055550100"} & set(phones),
        clock=Clock(dt.datetime(2026, 12, 7, 23, 0, tzinfo=ET).timestamp()),
    )  # fmt: skip
    result = keeper.screen([store(engine, "F1", phone="2125550100|3055550100")])[0].result
    assert result.action is Action.BLOCK and result.gate is Gate.DO_NOT_CALL
    assert result.details["do_not_call"] == {"on_list": True}


@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_a_burst_of_retains_runs_concurrently(engine, tf):
    gates = consent(tf)
    tf.latency = 0.05
    retainer = Retainer(engine, lambda source: gates)
    ids = []
    for i in range(200):
        phone = f"30555{i:05d}"
        ids.append(
            store(
                engine, f"G{i}", phone=phone, record={"xxTrustedFormCertUrl": tf.cert_url(tf.add_cert(phone=phone))}
            ).id
        )
    started = time.monotonic()
    retainer.submit(ids)
    wait_for(retainer.idle, timeout=30)
    elapsed = time.monotonic() - started
    retainer.close()
    assert len(tf.retains) == 200 and all(r["matched"] for r in tf.retains)
    assert elapsed < 200 * 0.05 / 4, f"200 retains at 50 ms took {elapsed:.2f} s: not concurrent"

"""The job lane against the fake Engage on a real socket, on SQLite and PostgreSQL.

Jobs are enqueued directly (the opt-out side enqueues the same kinds and payloads); every check
counts at the far end: the fake's DNC list, its DNC add log (each number accepted once) and its
lead actions and lead states.
"""

from __future__ import annotations

import time

from harness.processes import wait_for
from store import db
from store.outbox import (
    DONE,
    ENGAGE_DNC_ADD,
    ENGAGE_LEAD_ACTION,
    FAILED,
    PRIORITY_BULK,
    PRIORITY_LIVE,
    Outbox,
    enqueue,
)
from tests.dispatch.helpers import delivered
from tests.dispatch.helpers import enqueue as enqueue_leads

JOB_CFG = {"call_timeout": 1.0, "outage_probe_cap": 0.5}


def add_job(engine, kind, key, payload, priority=PRIORITY_LIVE):
    """Enqueue one job in its own transaction (as the opt-out's transaction would)."""
    with db.write(engine) as conn:
        return enqueue(conn, kind, key, payload, priority=priority)


def opt_out(engine, extern, phone, campaign="Hot Inbound", action="CANCEL_LEADS", priority=PRIORITY_LIVE):
    """The two jobs of an opt-out of a loaded lead: the DNC entry and the lead action."""
    e164 = "+1" + phone
    dnc = add_job(engine, ENGAGE_DNC_ADD, f"dnc:{e164}", {"phones": [e164], "reason": "opt-out"}, priority)
    act = add_job(
        engine,
        ENGAGE_LEAD_ACTION,
        f"action:{extern}",
        {"action": action, "extern_ids": [extern], "campaigns": [campaign], "phones": [phone]},
        priority,
    )
    return dnc, act


def stored(engine, job_id):
    """One stored job, which must exist."""
    found = Outbox(engine).get(job_id)
    assert found is not None
    return found


def states(engine, *ids):
    """The jobs' states, in order."""
    outbox = Outbox(engine)
    return [getattr(outbox.get(i), "state", None) for i in ids]


def accepted_once(fake):
    """No number was added twice (a duplicate add means a resend after acceptance)."""
    log = fake.dnc_log()
    return not [e for e in log if e["duplicate"]]


def loaded(engine, fake, running, n=1):
    """Start a dispatcher and load `n` hot leads (L0…); returns the dispatcher handle."""
    run = running(cfg=JOB_CFG)
    wait_for(lambda: run.dispatcher.lease.epoch is not None, 5, message="leadership")
    enqueue_leads(engine, n)
    run.waker.wake()
    wait_for(lambda: len(delivered(fake)) == n, 10, message="leads loaded")
    return run


def test_an_opt_out_of_a_loaded_lead_reaches_engage(engine, fake, running):
    """DNC entry under GLOBAL and the lead cancelled (criteria: externId, campaign id, number): not dialed."""
    loaded(engine, fake, running, 2)
    assert len(fake.dialable()) == 2
    dnc, act = opt_out(engine, "L0", "3035550000")
    wait_for(lambda: states(engine, dnc, act) == [DONE, DONE], 10, message="jobs done")
    [entry] = fake.dnc_entries()
    assert (entry["phone"], entry["tag"], entry["countryCode"]) == ("3035550000", "GLOBAL", {"id": "USA"})
    [action] = fake.action_log()
    assert action["action"] == "CANCEL_LEADS"
    assert action["criteria"] == {
        "externIds": ["L0"],
        "campaignIds": [fake.campaign_id("Hot Inbound")],
        "leadPhoneNumbers": ["3035550000"],
    }
    assert [lead["extern_id"] for lead in fake.dialable()] == ["L1"]
    assert accepted_once(fake)


def test_each_job_step_shows_on_the_leads_timeline(engine, fake, running):
    """A job naming lead ids writes its outcome on each lead's timeline (masked), in the settle's transaction."""
    from sqlalchemy import text

    from store.audit import timeline

    loaded(engine, fake, running, 1)
    with engine.connect() as conn:
        lead_id = conn.execute(text("SELECT id FROM leads WHERE extern_id='L0'")).scalar_one()
    fake.set_fault(lists_status=400, lists_status_count=1)
    refused = add_job(engine, ENGAGE_DNC_ADD, "dnc:a", {"phones": ["+13035550000"], "lead_ids": [lead_id]})
    wait_for(lambda: states(engine, refused) == [FAILED], 10, message="refused")
    done = add_job(engine, ENGAGE_DNC_ADD, "dnc:b", {"phones": ["+13035550001"], "lead_ids": [lead_id]})
    wait_for(lambda: states(engine, refused, done) == [FAILED, DONE], 10, message="settled")
    steps = [(t["detail"]["job"], t["detail"]["state"]) for t in timeline(engine, lead_id) if t["kind"] == "job"]
    assert steps == [(refused, FAILED), (done, DONE)]


def test_a_privacy_deletion_deletes_the_lead_in_engage(engine, fake, running):
    """DELETE_LEADS removes the lead: lead search no longer finds it."""
    loaded(engine, fake, running, 1)
    job = add_job(
        engine,
        ENGAGE_LEAD_ACTION,
        "delete:L0",
        {"action": "DELETE_LEADS", "extern_ids": ["L0"], "campaigns": ["Hot Inbound"], "phones": ["3035550000"]},
    )
    wait_for(lambda: states(engine, job) == [DONE], 10, message="deleted")
    assert fake.stats()["leads_deleted"] == 1 and fake.dialable() == []


def test_live_opt_outs_go_before_a_bulk_import(engine, fake, running):
    """60 bulk lead actions and a live one stored after them (one commit): the live one rides the first call."""
    loaded(engine, fake, running, 1)
    with db.write(engine) as conn:
        for i in range(60):
            payload = {"action": "CANCEL_LEADS", "extern_ids": [f"B{i}"], "campaigns": ["Hot Inbound"], "phones": ["1"]}
            enqueue(conn, ENGAGE_LEAD_ACTION, f"bulk:{i}", payload, priority=PRIORITY_BULK)
        live = enqueue(
            conn,
            ENGAGE_LEAD_ACTION,
            "live:L0",
            {"action": "CANCEL_LEADS", "extern_ids": ["L0"], "campaigns": ["Hot Inbound"], "phones": ["3035550000"]},
        )
    wait_for(lambda: Outbox(engine).counts()[DONE] == 61, 15, message="all done")
    first = fake.action_log()[0]["criteria"]["externIds"]
    assert first[0] == "L0" and len(first) == 50
    assert stored(engine, live).result["batched"] == 50
    assert fake.dialable() == []


def test_opt_outs_while_engage_is_down_all_arrive_once_after_it_returns(engine, fake, running):
    """Engage's socket closed for 2 s: opt-outs wait (no attempt burnt) and each lands once when it is back."""
    loaded(engine, fake, running, 5)
    fake.server.stop()
    jobs = [j for i in range(5) for j in opt_out(engine, f"L{i}", f"303555{i:04d}")]
    time.sleep(2.0)
    assert Outbox(engine).counts()[DONE] == 0
    fake.server.start()
    wait_for(lambda: Outbox(engine).counts()[DONE] == len(jobs), 15, message="drained after the outage")
    assert sorted(e["phone"] for e in fake.dnc_entries()) == [f"303555{i:04d}" for i in range(5)]
    assert accepted_once(fake) and fake.dialable() == []
    assert all(stored(engine, j).attempts <= 1 for j in jobs)


def test_a_dnc_add_whose_answer_was_lost_is_looked_up_not_resent(engine, fake, running):
    """The fake lists the number, then hangs past the read timeout: advancedSearch finds it, no second add."""
    loaded(engine, fake, running, 1)
    fake.set_fault(lists_hang=3.0, lists_hang_count=1, lists_hang_after=True)
    job = add_job(engine, ENGAGE_DNC_ADD, "dnc:+13035550000", {"phones": ["+13035550000"]})
    wait_for(lambda: states(engine, job) == [DONE], 15, message="done after the lookup")
    assert stored(engine, job).result == {"found_by_lookup": True}
    assert len(fake.dnc_log()) == 1 and fake.stats()["dnc_searches"] >= 1


def test_a_lead_action_whose_answer_was_lost_is_looked_up_not_resent(engine, fake, running):
    """The cancel is carried out, the answer lost: leadSearch shows CANCELLED, no second action."""
    loaded(engine, fake, running, 1)
    fake.set_fault(lists_hang=3.0, lists_hang_count=1, lists_hang_after=True)
    act = add_job(
        engine,
        ENGAGE_LEAD_ACTION,
        "action:L0",
        {"action": "CANCEL_LEADS", "extern_ids": ["L0"], "campaigns": ["Hot Inbound"], "phones": ["3035550000"]},
    )
    wait_for(lambda: states(engine, act) == [DONE], 15, message="done after the lookup")
    assert len(fake.action_log()) == 1
    assert stored(engine, act).result == {"found_by_lookup": True}


def test_a_lost_answer_that_did_not_land_is_sent_after_the_lookup(engine, fake, running):
    """The call hung before doing anything: the lookup finds nothing, the number is added once."""
    loaded(engine, fake, running, 1)
    fake.set_fault(lists_hang=3.0, lists_hang_count=1, lists_hang_after=False)
    job = add_job(engine, ENGAGE_DNC_ADD, "dnc:+13035550000", {"phones": ["+13035550000"]})
    wait_for(lambda: states(engine, job) == [DONE], 15, message="sent after the lookup")
    assert [e["duplicate"] for e in fake.dnc_log()] == [False]


def test_a_429_waits_for_retry_after_and_burns_no_attempt(engine, fake, running):
    """Engage says 429 with Retry-After: 1; the job goes after that, attempts stay 0 + the success."""
    loaded(engine, fake, running, 1)
    fake.set_fault(lists_status=429, lists_status_count=1, retry_after=1)
    started = time.monotonic()
    job = add_job(engine, ENGAGE_DNC_ADD, "dnc:+13035550000", {"phones": ["+13035550000"]})
    wait_for(lambda: states(engine, job) == [DONE], 10, message="done after the pause")
    assert time.monotonic() - started >= 1.0
    assert stored(engine, job).attempts == 1 and len(fake.dnc_entries()) == 1


def test_a_refused_job_fails_for_people(engine, fake, running):
    """A number Engage cannot take (not a phone) and an unknown action fail at once, with the reason."""
    loaded(engine, fake, running, 1)
    bad_phone = add_job(engine, ENGAGE_DNC_ADD, "dnc:bad", {"phones": ["12"]})
    bad_action = add_job(engine, ENGAGE_LEAD_ACTION, "act:bad", {"action": "BURN_LEADS", "extern_ids": ["L0"]})
    wait_for(lambda: states(engine, bad_phone, bad_action) == [FAILED, FAILED], 10, message="failed")
    assert "BURN_LEADS" in (stored(engine, bad_action).last_error or "")


def test_several_due_numbers_go_as_one_upload(engine, fake, running):
    """Numbers due together (a burst, an import) go in one uploadDncFile call, each listed once."""
    run = running(cfg=JOB_CFG)
    wait_for(lambda: run.dispatcher.lease.epoch is not None, 5, message="leadership")
    run.dispatcher.jobs.wake.clear()
    with db.write(engine) as conn:
        for i in range(40):
            enqueue(conn, ENGAGE_DNC_ADD, f"imp:{i}", {"phones": [f"+1720555{i:04d}"]}, priority=PRIORITY_BULK)
    wait_for(lambda: Outbox(engine).counts()[DONE] == 40, 10, message="imported")
    assert len(fake.dnc_entries()) == 40 and accepted_once(fake)
    assert fake.stats()["dnc_uploads"] <= 2


def test_an_opt_out_is_not_starved_by_a_flood_of_leads(engine, fake, running):
    """3,000 NORMAL leads fill the shared windows (27 / 10 s) for a minute: a live lead action waits < 4 s."""
    run = running(cfg=JOB_CFG)
    wait_for(lambda: run.dispatcher.lease.epoch is not None, 5, message="leadership")
    enqueue_leads(engine, 1, start=9000)
    wait_for(lambda: len(delivered(fake)) == 1, 10, message="the lead to cancel is loaded")
    enqueue_many(engine, 3000, "NORMAL", start=10000)
    run.waker.wake()
    wait_for(lambda: fake.stats()["loader_calls"] >= 20, 20, message="flood fills the windows")
    start = time.time()
    job = add_job(
        engine,
        ENGAGE_LEAD_ACTION,
        "live:L9000",
        {"action": "CANCEL_LEADS", "extern_ids": ["L9000"], "campaigns": ["Hot Inbound"], "phones": ["3035559000"]},
    )
    wait_for(lambda: states(engine, job) == [DONE], 15, message="opt-out through")
    waited = time.time() - start
    assert waited <= 4.0, waited
    assert len(delivered(fake)) < 3001  # the flood was still going: the opt-out did not wait for it
    assert fake.stats()["http_429"] == 0


def test_hot_leads_are_not_starved_by_a_flood_of_opt_outs(engine, fake, running, monkeypatch):
    """300 lead actions, one per call, fill the shared windows: a hot lead still goes within 3 s."""
    from dispatch.jobs import REGISTRY

    monkeypatch.setattr(REGISTRY.kinds[ENGAGE_LEAD_ACTION], "batch", 1)
    run = running(cfg=JOB_CFG)
    wait_for(lambda: run.dispatcher.lease.epoch is not None, 5, message="leadership")
    with db.write(engine) as conn:
        for i in range(300):
            payload = {"action": "CANCEL_LEADS", "extern_ids": [f"F{i}"], "campaigns": ["Hot Inbound"], "phones": ["1"]}
            enqueue(conn, ENGAGE_LEAD_ACTION, f"flood:{i}", payload)
    wait_for(lambda: len(fake.action_log()) >= 20, 20, message="the flood fills the windows")
    for n in range(3):
        start = time.time()
        enqueue_leads(engine, 1, start=500 + n)
        run.waker.wake()
        extern = f"L{500 + n}"
        wait_for(lambda: extern in delivered(fake), 10, message="hot lead through")  # noqa: B023 - waited here
        waited = time.time() - start
        assert waited <= 3.0, (n, waited)
    assert len(fake.action_log()) < 300  # the flood was still going
    assert fake.stats()["http_429"] == 0


def enqueue_many(engine, n, priority, start):
    """Store n leads in one webhook (a flood arrives faster than one transaction per lead)."""
    from store.ingest import PendingLead, store_webhook

    store_webhook(
        engine,
        source="t",
        received_at=time.time(),
        method="POST",
        path="/",
        content_type="application/json",
        headers={},
        body=b"{}",
        remote_addr="",
        event_status="accepted",
        reason=None,
        sandbox=False,
        pending=[
            PendingLead(
                status="queued",
                priority=priority,
                campaign="Inbound Leads",
                record_key=f"k:L{i}",
                key_expires_at=None,
                extern_id=f"L{i}",
                lead={"externId": f"L{i}", "leadPhone": f"720555{i % 10000:04d}"},
                primary_phone=f"720555{i % 10000:04d}",
                load_options={"duplicateHandling": "REMOVE_FROM_LIST", "timeZoneOption": "NPA_NXX"},
            )
            for i in range(start, start + n)
        ],
    )

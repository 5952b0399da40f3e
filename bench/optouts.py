"""Opt-outs reach Engage (issue 16): propagation under the hot-under-load shape, and a bulk import beside a burst.

`optout-under-load`: the hot-under-load shape (41 webhooks/s, every 41st hot) while 200 opt-outs of
loaded leads are stored (10/s); each opt-out's latency runs from its stored time (the job's
`created_at`, what the opt-out's `received_at` is) until Engage has BOTH its DNC entry and its lead
action (the fake's own clocks). Target p99 ≤ 10 s, 0 × 429, and the shape's hot p99 beside it.

`optout-import-burst`: in one run, 600 hot leads alone (the burst), then 600 more together with
1,000 opt-outs imported at once (bulk priority; the import's numbers include 200 loaded leads, so
200 lead actions too). Targets: 0 × 429, every opt-out at Engage, and the second burst's hot p99
within 1 s of the first's.

Until the opt-out intake lands, opt-outs are stored as the opt-out side will store them: its two
jobs (store.outbox.enqueue) in one commit, straight into the service's database.
"""

from __future__ import annotations

import math
import threading
import time

from bench import config_file, databases, shapes, stack
from bench.burst import _warm
from bench.common import Profile, Result, log_dir, workdir
from bench.loadgen import run_burst
from bench.payloads import BodyFactory
from bench.stats import summarize
from store import db as store_db
from store.outbox import DONE, ENGAGE_DNC_ADD, ENGAGE_LEAD_ACTION, PRIORITY_BULK, PRIORITY_LIVE, Outbox, enqueue

POLL = 0.5
OPT_OUTS = 200
IMPORTED = 1000
P99_LIMIT_S = 10.0


def _e164(phone: str) -> str:
    """A US number as E.164."""
    return "+1" + phone[-10:]


class Store:
    """The opt-out side's writes: an opt-out's jobs in one commit, timed by the host clock (as received_at is)."""

    def __init__(self, url: str) -> None:
        """An engine on the service's database."""
        self.engine = store_db.make_engine(url)
        self.stored: dict[str, float] = {}  # phone digits → when its opt-out was stored

    def opt_out(self, lead: dict, priority: int = PRIORITY_LIVE, action: bool = True) -> None:
        """Store one opt-out of a loaded lead (`lead`: the fake's record): its DNC add and its lead action."""
        phone = str(lead["lead"]["leadPhone"])
        at = time.time()
        with store_db.write(self.engine) as conn:
            enqueue(conn, ENGAGE_DNC_ADD, f"dnc:{phone}", {"phones": [_e164(phone)]}, priority=priority, now=at)
            if action:
                payload = {
                    "action": "CANCEL_LEADS",
                    "extern_ids": [str(lead["extern_id"])],
                    "campaigns": [str(lead["campaign_id"])],
                    "phones": [phone],
                }
                enqueue(conn, ENGAGE_LEAD_ACTION, f"cancel:{lead['extern_id']}", payload, priority=priority, now=at)
        self.stored[phone[-10:]] = at

    def import_numbers(self, phones: list[str], loaded: dict[str, dict]) -> None:
        """A CSV import: every number's DNC add, and a lead action for each loaded lead, in one commit."""
        at = time.time()
        with store_db.write(self.engine) as conn:
            for phone in phones:
                enqueue(
                    conn, ENGAGE_DNC_ADD, f"imp:{phone}", {"phones": [_e164(phone)]}, priority=PRIORITY_BULK, now=at
                )
                lead = loaded.get(phone)
                if lead is not None:
                    payload = {
                        "action": "CANCEL_LEADS",
                        "extern_ids": [str(lead["extern_id"])],
                        "campaigns": [str(lead["campaign_id"])],
                        "phones": [phone],
                    }
                    enqueue(conn, ENGAGE_LEAD_ACTION, f"imp-cancel:{phone}", payload, priority=PRIORITY_BULK, now=at)
                self.stored[phone[-10:]] = at

    def done(self) -> int:
        """How many jobs are done."""
        return Outbox(self.engine).counts()[DONE]

    def close(self) -> None:
        """Dispose of the engine."""
        self.engine.dispose()


def _at_engage(procs: stack.Stack, with_action: set[str]) -> dict[str, float]:
    """Phone → when Engage had everything of its opt-out (DNC entry, and the lead action when one was due)."""
    listed = {e["phone"][-10:]: e["addedAt"] for e in procs.fake.control("GET", "dnc")["entries"]}
    acted: dict[str, float] = {}
    leads = {str(lead["extern_id"]): str(lead["lead"]["leadPhone"])[-10:] for lead in procs.fake.leads()}
    for action in procs.fake.control("GET", "actions")["actions"]:
        for extern in action["criteria"].get("externIds", []):
            phone = leads.get(str(extern))
            if phone is not None:
                acted.setdefault(phone, action["at"])
    out = {}
    for phone, at in listed.items():
        if phone in with_action:
            if phone in acted:
                out[phone] = max(at, acted[phone])
        else:
            out[phone] = at
    return out


def _preload(procs: stack.Stack, factory: BodyFactory, start: int, count: int) -> list[dict]:
    """Load `count` hot leads through the webhook and return the fake's records of them."""
    bodies = factory.batch(start, count, hot_every=None)
    before = procs.fake.stats().get("leads_accepted", 0)
    run_burst(f"{procs.web.url}/webhooks/hubspot", [b for _, b in bodies], 8)
    deadline = time.time() + 120
    while time.time() < deadline and procs.fake.stats().get("leads_accepted", 0) < before + count:
        time.sleep(POLL)
    ids = {extern for extern, _ in bodies}
    return [lead for lead in procs.fake.leads() if str(lead["extern_id"]) in ids]


def run_under_load(name: str, title: str, profile: Profile) -> Result:
    """200 opt-outs of loaded leads during the hot-under-load shape; p99 from stored to both at Engage."""
    result = Result(name, title)
    shape = shapes.SHAPES["hot-under-load"]
    schedule = shape.schedule(profile)
    factory = BodyFactory()
    _, warm_body = factory.body(0, hot=True)
    bodies = [factory.body(n, hot) for n, (_, hot) in enumerate(schedule, start=1)]
    count = OPT_OUTS if profile.name == "full" else 50
    with workdir(name) as tmp, databases.sqlite_db(tmp) as db:
        config = config_file.write(tmp)
        with stack.running(log_dir(name), db.url, config, mode="inline", strict=True) as procs:
            _warm(procs, warm_body)
            targets = _preload(procs, factory, 100_000, count)
            time.sleep(11.0)  # the preload's calls leave the 10-s window: the shape starts on a fresh one
            store = Store(db.url)
            try:
                spread = max(1.0, schedule[-1][0] if schedule else 1.0)

                def optouts() -> None:
                    """The opt-outs, evenly over the shape's duration."""
                    began = time.time()
                    for k, lead in enumerate(targets):
                        time.sleep(max(0.0, began + k * spread / len(targets) - time.time()))
                        store.opt_out(lead)

                thread = threading.Thread(target=optouts, daemon=True)
                thread.start()
                window = shapes._send(procs, db, shape, profile, schedule, [b for _, b in bodies], [])
                thread.join(120)
                deadline = time.time() + 60
                while time.time() < deadline and store.done() < 2 * len(targets):
                    time.sleep(POLL)
                with_action = {str(lead["lead"]["leadPhone"])[-10:] for lead in targets}
                at_engage = _at_engage(procs, with_action)
                fake_stats = procs.fake.stats()
                fake_leads = procs.fake.leads()
            finally:
                store.close()
            latencies = [at_engage[p] - t for p, t in store.stored.items() if p in at_engage]
        db_leads = db.leads()
    ids = {extern for extern, _ in bodies}
    shapes._figures(result, db_leads, fake_leads, ids, set(), window)
    result.latency["optout_both_at_engage"] = summarize(latencies)
    result.target("optout_both_at_engage", "p99", P99_LIMIT_S * 1000)
    reached = len(latencies)
    result.check("opt-outs at Engage (DNC entry + lead action)", reached, f"== {len(targets)}", reached == len(targets))
    result.check("429 answers", fake_stats.get("http_429"), "== 0", fake_stats.get("http_429") == 0)
    result.check(
        "DNC adds accepted twice", fake_stats.get("dnc_duplicates"), "== 0", fake_stats.get("dnc_duplicates") == 0
    )
    result.info.update(
        {
            "opt_outs": len(targets),
            "dnc_calls": fake_stats.get("dnc_calls"),
            "dnc_uploads": fake_stats.get("dnc_uploads"),
            "action_calls": fake_stats.get("action_calls"),
            "loader_calls": fake_stats.get("loader_calls"),
            "webhooks_not_202": window["non_202"],
        }
    )
    return result


def run_import_burst(name: str, title: str, profile: Profile) -> Result:
    """The burst alone, then the burst with a 1,000-number import at once: 0 × 429, hot p99 within 1 s."""
    result = Result(name, title)
    factory = BodyFactory()
    _, warm_body = factory.body(0, hot=True)
    size = profile.burst_leads
    imported = IMPORTED if profile.name == "full" else 300
    with workdir(name) as tmp, databases.sqlite_db(tmp) as db:
        config = config_file.write(tmp)
        with stack.running(log_dir(name), db.url, config, mode="inline", strict=True) as procs:
            _warm(procs, warm_body)
            alone = _burst(procs, db, factory, 1, size)
            time.sleep(12.0)  # the first burst's calls leave the 10-s window
            loaded = {str(lead["lead"]["leadPhone"])[-10:]: lead for lead in procs.fake.leads()}
            phones = list(loaded)[:200] + [f"303{7000000 + n:07d}" for n in range(imported - min(200, len(loaded)))]
            store = Store(db.url)
            try:
                importer = threading.Thread(target=store.import_numbers, args=(phones, loaded), daemon=True)
                importer.start()
                together = _burst(procs, db, factory, 10_000, size)
                importer.join(60)
                jobs = imported + min(200, len(loaded))
                began = min(store.stored.values())
                deadline = time.time() + 300
                while time.time() < deadline and store.done() < jobs:
                    time.sleep(POLL)
                import_done = time.time() - began if store.done() >= jobs else None
                fake_stats = procs.fake.stats()
                listed = len(procs.fake.control("GET", "dnc")["entries"])
            finally:
                store.close()
    result.latency["hot_stl_burst_alone"] = summarize(alone)
    result.latency["hot_stl_burst_with_import"] = summarize(together)
    p99_alone = result.latency["hot_stl_burst_alone"]["p99"] or math.inf
    result.target("hot_stl_burst_with_import", "p99", p99_alone + 1000.0)
    result.check("429 answers", fake_stats.get("http_429"), "== 0", fake_stats.get("http_429") == 0)
    result.check("imported numbers on Engage's DNC list", listed, f"== {imported}", listed == imported)
    result.info.update(
        {
            "imported": imported,
            "import_all_at_engage_s": None if import_done is None else round(import_done, 1),
            "dnc_calls": fake_stats.get("dnc_calls"),
            "dnc_uploads": fake_stats.get("dnc_uploads"),
            "action_calls": fake_stats.get("action_calls"),
            "loader_calls": fake_stats.get("loader_calls"),
        }
    )
    return result


def _burst(procs: stack.Stack, db: databases.SqliteDb, factory: BodyFactory, start: int, size: int) -> list[float]:
    """`size` hot leads from 8 threads; each one's speed-to-lead (fake arrival − stored receipt), seconds."""
    bodies = factory.batch(start, size, hot_every=None)
    before = procs.fake.stats().get("leads_accepted", 0)
    run_burst(f"{procs.web.url}/webhooks/hubspot", [b for _, b in bodies], 8)
    deadline = time.time() + 120
    while time.time() < deadline and procs.fake.stats().get("leads_accepted", 0) < before + size:
        time.sleep(POLL)
    ids = {extern for extern, _ in bodies}
    arrived: dict[str, float] = {}
    for lead in procs.fake.leads():
        extern = str(lead["extern_id"])
        if extern in ids:
            arrived[extern] = min(arrived.get(extern, math.inf), lead["received_at"])
    received = {str(extern): at for extern, at, *_ in db.leads() if str(extern) in ids}
    return [arrived[e] - received[e] for e in arrived if e in received]

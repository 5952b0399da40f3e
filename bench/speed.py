"""Scenario 2: speed-to-lead, one IMMEDIATE lead at a time, webhook in → lead at the fake Engage."""

from __future__ import annotations

import time

import requests

from bench import config_file, cpu, databases, stack
from bench.common import Profile, Result, log_dir, workdir
from bench.loadgen import HEADERS
from bench.payloads import BodyFactory
from bench.stats import summarize

TARGET_P50_MS, TARGET_P99_MS = 20.0, 100.0
POLL_INTERVAL = 0.002  # fake polling: fine enough for client-observed numbers, light on a 2-CPU box


class Sender:
    """Sends one webhook and waits until the fake Engage holds one more lead."""

    def __init__(self, web_url: str, fake_url: str, timeout: float) -> None:
        """Two keep-alive sessions: one to the service, one to the fake's control API."""
        self.webhook = f"{web_url}/webhooks/hubspot"
        self.leads_url = f"{fake_url}/_fake/leads"
        self.timeout = timeout
        self.service, self.fake = requests.Session(), requests.Session()
        self.seen = 0  # leads the fake held after the last wait

    def send_and_wait(self, body: bytes) -> dict:
        """POST the webhook, then poll the fake; wall-clock times of send, 202 and arrival."""
        sent = time.time()
        try:
            status = self.service.post(self.webhook, data=body, headers=HEADERS, timeout=self.timeout).status_code
        except requests.RequestException:
            status = 0  # no answer: counted in non_202, the run goes on
        acked = time.time()
        if status != 202:
            return {"sent": sent, "acked": acked, "status": status, "arrived": None}
        deadline = sent + self.timeout
        while time.time() < deadline:
            count = self.fake.get(self.leads_url, params={"since": self.seen}, timeout=self.timeout).json()["count"]
            if count:
                self.seen += count
                return {"sent": sent, "acked": acked, "status": 202, "arrived": time.time()}
            time.sleep(POLL_INTERVAL)
        return {"sent": sent, "acked": acked, "status": 202, "arrived": None}

    def close(self) -> None:
        """Close both sessions."""
        self.service.close()
        self.fake.close()


def run(name: str, title: str, profile: Profile, db_kind: str, mode: str) -> Result:
    """Fresh stack (rate limits lifted), warm-up leads, then `stl_leads` IMMEDIATE leads one at a time."""
    result = Result(name, title)
    factory = BodyFactory()
    warm = factory.batch(0, profile.stl_warmup, hot_every=None)
    measured = factory.batch(profile.stl_warmup, profile.stl_leads, hot_every=None)
    with workdir(name) as tmp, databases.fresh(db_kind, tmp) as db:
        config = config_file.write(tmp, unthrottled=True)
        # Unthrottled on both sides: at ~15 leads/s Engage's 30 calls/10 s would dominate every number.
        with stack.running(log_dir(name), db.url, config, mode=mode, strict=False) as procs:
            sender = Sender(procs.web.url, procs.fake.url, profile.lead_timeout)
            try:
                for _, body in warm:
                    sender.send_and_wait(body)
                    time.sleep(profile.stl_pause)
                meter = _meter(procs, db_kind)
                meter.start()
                client = _send_all(sender, measured, profile)
                cpu_use = meter.stop()
            finally:
                sender.close()
            fake_leads = procs.fake.leads()
            fake_stats = procs.fake.stats()
        db_leads = db.leads()
    _summarize(result, measured, client, fake_leads, db_leads)
    result.info.update(
        {
            "database": db_kind,
            "dispatch_mode": mode,
            "fake_strict_rate_limits": False,
            "dispatch_rate_limits": config_file.UNTHROTTLED,
            "pause_s": profile.stl_pause,
            "warmup_leads": profile.stl_warmup,
            "fake_loader_calls": fake_stats.get("loader_calls"),
            "fake_loader_429": fake_stats.get("loader_429"),
            "fake_max_batch": fake_stats.get("max_batch"),
            **cpu_use,
        }
    )
    result.target("speed_to_lead", "p50", TARGET_P50_MS)
    result.target("speed_to_lead", "p99", TARGET_P99_MS)
    return result


def _meter(procs: stack.Stack, db_kind: str) -> cpu.Meter:
    """CPU meter over the web (and worker) process groups, the fake and (PostgreSQL) the database."""
    groups = {"service": stack.popen(procs.web).pid}
    if procs.worker is not None:
        groups["worker"] = stack.popen(procs.worker).pid
    return cpu.Meter(
        groups, {"fake": stack.popen(procs.fake).pid}, {"postgres_host": "postgres"} if db_kind == "postgresql" else {}
    )


def _send_all(sender: Sender, measured: list[tuple[str, bytes]], profile: Profile) -> dict[str, dict]:
    """Send each lead and wait for it, within the scenario's time budget; client timings by externId."""
    client: dict[str, dict] = {}
    budget_end = time.time() + profile.stl_budget
    for extern_id, body in measured:
        if time.time() > budget_end:
            break
        client[extern_id] = sender.send_and_wait(body)
        time.sleep(profile.stl_pause)
    return client


def _summarize(
    result: Result, measured: list[tuple[str, bytes]], client: dict, fake_leads: list[dict], db_leads: list
) -> None:
    """Join the fake's arrivals with the database's receipt times by externId; percentiles of each leg."""
    at_fake = {str(lead["extern_id"]): lead["received_at"] for lead in fake_leads}
    in_db = {str(extern): (received, status, delivered) for extern, received, status, delivered, _ in db_leads}
    stl, ack, client_seen, to_handler, settle = [], [], [], [], []
    for extern_id, _ in measured:
        timing = client.get(extern_id)
        if timing is None:
            continue
        ack.append(timing["acked"] - timing["sent"])
        if timing["arrived"] is not None:
            client_seen.append(timing["arrived"] - timing["sent"])
        if extern_id in at_fake and extern_id in in_db:
            received, _, delivered = in_db[extern_id]
            stl.append(at_fake[extern_id] - received)
            to_handler.append(received - timing["sent"])  # client send → the view function's first line
            if delivered is not None:
                settle.append(delivered - at_fake[extern_id])
    result.latency["speed_to_lead"] = summarize(stl)
    result.latency["client_send_to_fake"] = summarize(client_seen)
    result.latency["client_ack"] = summarize(ack)
    result.latency["client_to_handler"] = summarize(to_handler)
    result.latency["settle_after_fake"] = summarize(settle)
    sent = len(client)
    result.info.update(
        {
            "leads_planned": len(measured),
            "leads_sent": sent,
            "non_202": sum(1 for t in client.values() if t["status"] != 202),
            "missing_at_fake": sum(1 for e in client if e not in at_fake),
            "missing_in_db": sum(1 for e in client if e not in in_db),
            "negative_speed_to_lead": sum(1 for v in stl if v < 0),
        }
    )
    if sent < len(measured):
        result.info["note"] = f"time budget ran out after {sent} of {len(measured)} leads"

"""Ack latency for the heaviest webhook: Salesforce outbound messages of 100 Notifications, open loop."""

from __future__ import annotations

from collections import Counter

from bench import config_file, cpu, databases, stack
from bench.ack import summarize_samples
from bench.common import Profile, Result, log_dir, workdir
from bench.loadgen import run_open_loop
from bench.soap import HEADERS, MessageFactory, is_ack
from bench.stats import summarize

TARGET_P99_MS = 100.0


def run(name: str, title: str, profile: Profile) -> Result:
    """Fresh SQLite stack (inline dispatcher, strict fake); `sf_rate` messages/s for `sf_seconds`."""
    result = Result(name, title)
    count = int(profile.sf_seconds * profile.sf_rate)
    factory = MessageFactory(profile.sf_notifications)
    warm = factory.batch(0, profile.sf_threads)
    bodies = factory.batch(profile.sf_threads, count)  # all built before the clock starts
    with workdir(name) as tmp, databases.fresh("sqlite", tmp) as db:
        config = config_file.write(tmp, salesforce=True)
        logs = log_dir(name)
        with stack.running(logs, db.url, config, mode="inline", strict=True) as procs:
            url = f"{procs.web.url}/webhooks/salesforce?token={config_file.SF_TOKEN}"
            meter = cpu.Meter({"service": stack.popen(procs.web).pid}, {"fake": stack.popen(procs.fake).pid}, {})
            meter.start()
            samples, t0 = run_open_loop(
                url, bodies, profile.sf_rate, profile.sf_threads, warm, headers=HEADERS, check=is_ack
            )
            cpu_use = meter.stop()
            fake_stats = procs.fake.stats()
        db_leads = db.leads()
    summarize_samples(result, samples, t0)
    # Server side (request parsed → answer sent, gunicorn's access log), warm-up messages dropped.
    server = stack.server_ack_ms(logs)[len(warm) :]
    result.latency["ack_server_side"] = summarize([ms / 1000.0 for ms in server])
    answered = [s for s in samples if s.status]
    not_ack = sum(1 for s in samples if not s.answer_ok)
    leads_expected = (len(warm) + count) * profile.sf_notifications
    result.info.update(
        {
            "database": "sqlite",
            "dispatch_mode": "inline",
            "fake_strict_rate_limits": True,
            "rate_target": profile.sf_rate,
            "duration_s": profile.sf_seconds,
            "sender_threads": profile.sf_threads,
            "notifications_per_message": profile.sf_notifications,
            "message_bytes": len(bodies[0]) if bodies else 0,
            "leads_per_s_offered": profile.sf_rate * profile.sf_notifications,
            "soap_ack_200": sum(1 for s in answered if s.answer_ok),
            "not_soap_ack": not_ack,
            "leads_stored": len(db_leads),
            "leads_expected": leads_expected,
            "lead_statuses_after": dict(Counter(status for _, _, status, _, _ in db_leads)),
            "fake_loader_calls": fake_stats.get("loader_calls"),
            "fake_loader_429": fake_stats.get("loader_429"),
            "fake_leads_accepted": fake_stats.get("leads_accepted"),
            **cpu_use,
            "service_cpu_ms_per_message": round(1000 * cpu_use["cpu_s_service"] / max(1, count), 2),
        }
    )
    result.target("ack_server_side", "p99", TARGET_P99_MS)
    result.check("every answer is the SOAP Ack (200, <Ack>true</Ack>)", not_ack, "== 0 not Ack", not_ack == 0)
    result.check(
        "every notification stored as a lead", len(db_leads), f"== {leads_expected}", len(db_leads) == leads_expected
    )
    return result

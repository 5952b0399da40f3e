"""The consent gate's cost, measured beside the same run without it (issue 15's bench rows).

Two scenarios, each run twice in one process with the same leads' shape: without the gate, then
with `consent.require: all` against the fake TrustedForm answering after 50 ms (retains start at
intake, concurrently; the claim-time gate waits for each answer). Windows are off
(`calling_hours: off`) so the numbers do not depend on the hour the bench runs at; Colorado numbers
(720) so no frequency cap applies.

- consent-stl: hot-lead speed-to-lead one at a time; target: gate p50 ≤ no-gate p50 + 60 ms.
- consent-burst: the burst of IMMEDIATE leads from 8 threads into the strict fake; target: gate p99
  ≤ no-gate p99 + 1 s.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests
import yaml

from bench import config_file, databases, speed, stack
from bench.common import Profile, Result, log_dir, workdir
from bench.loadgen import HEADERS, run_burst
from bench.payloads import BodyFactory, phone_number
from bench.stats import summarize
from config.compliance import ConfigKey
from harness.fake_trustedform import FakeTrustedForm

TF_KEY = "bench-tf-key"
TF_LATENCY = 0.05
STL_DELTA_P50_MS = 60.0
BURST_DELTA_P99_MS = 1000.0
POLL = 0.05


def _config(directory: Path, tf_url: str | None, unthrottled: bool) -> Path:
    """The bench's config, with the consent gate against the fake TrustedForm when `tf_url` is given."""
    doc = config_file.config(unthrottled=unthrottled)
    doc["compliance"] = {"calling_hours": "off"}
    if tf_url is not None:
        doc["compliance"][ConfigKey.CONSENT.value] = {
            "require": "all",
            "trustedform": {"api_key": TF_KEY, "api_base": tf_url},
        }
    path = directory / "leadrelay.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _bodies(factory: BodyFactory, start: int, count: int, tf: FakeTrustedForm | None) -> list[tuple[str, bytes]]:
    """Hot HubSpot bodies; with `tf`, each carries a certificate recorded for its phone."""
    out = []
    for n in range(start, start + count):
        extern, raw = factory.body(n, hot=True)
        if tf is not None:
            body = json.loads(raw)
            cert = tf.add_cert(phone=phone_number(n))
            body["properties"]["xxTrustedFormCertUrl"] = {"value": tf.cert_url(cert), "versions": []}
            raw = json.dumps(body, separators=(",", ":")).encode()
        out.append((extern, raw))
    return out


def _stl_variant(name: str, profile: Profile, tf: FakeTrustedForm | None, offset: int) -> tuple[dict, dict]:
    """One speed-to-lead run (fresh SQLite stack); returns the latency summaries and counters."""
    factory = BodyFactory()
    warm = _bodies(factory, offset, profile.stl_warmup, tf)
    measured = _bodies(factory, offset + profile.stl_warmup, profile.stl_leads, tf)
    with workdir(name) as tmp, databases.sqlite_db(tmp) as db:
        config = _config(tmp, tf.url if tf else None, unthrottled=True)
        with stack.running(log_dir(name), db.url, config, mode="inline", strict=False) as procs:
            sender = speed.Sender(procs.web.url, procs.fake.url, profile.lead_timeout)
            try:
                for _, body in warm:
                    sender.send_and_wait(body)
                    time.sleep(profile.stl_pause)
                client = speed._send_all(sender, measured, profile)
            finally:
                sender.close()
            fake_leads = procs.fake.leads()
        db_leads = db.leads()
    scratch = Result(name, "")
    speed._summarize(scratch, measured, client, fake_leads, db_leads)
    return scratch.latency, scratch.info


def run_stl(name: str, title: str, profile: Profile) -> Result:
    """Hot-lead speed-to-lead without and with the consent gate (fake TrustedForm at 50 ms), same run."""
    result = Result(name, title)
    without, info_without = _stl_variant(name + "-nogate", profile, None, 0)
    with FakeTrustedForm(api_key=TF_KEY) as tf:
        tf.latency = TF_LATENCY
        with_gate, info_gate = _stl_variant(name + "-gate", profile, tf, 100_000)
        retains = len(tf.retains)
    result.latency["speed_to_lead_no_gate"] = without["speed_to_lead"]
    result.latency["speed_to_lead_consent_gate"] = with_gate["speed_to_lead"]
    p50_without, p50_gate = without["speed_to_lead"]["p50"], with_gate["speed_to_lead"]["p50"]
    result.info.update(
        {"trustedform_latency_ms": TF_LATENCY * 1000, "retains": retains, "no_gate": info_without, "gate": info_gate}
    )
    if p50_without is not None and p50_gate is not None:
        delta = round(p50_gate - p50_without, 2)
        result.info["p50_delta_ms"] = delta
        result.check(
            "speed_to_lead p50: gate − no gate (ms)", delta, f"≤ {STL_DELTA_P50_MS:.0f}", delta <= STL_DELTA_P50_MS
        )
    return result


def _burst_variant(name: str, profile: Profile, tf: FakeTrustedForm | None, offset: int) -> tuple[dict, dict]:
    """One burst (fresh SQLite stack, strict fake, default dispatch settings): per-lead speed-to-lead."""
    factory = BodyFactory()
    burst = _bodies(factory, offset, profile.burst_leads, tf)
    _, warm_body = _bodies(factory, offset + profile.burst_leads, 1, tf)[0]
    with workdir(name) as tmp, databases.sqlite_db(tmp) as db:
        config = _config(tmp, tf.url if tf else None, unthrottled=False)
        with stack.running(log_dir(name), db.url, config, mode="inline", strict=True) as procs:
            requests.post(f"{procs.web.url}/webhooks/hubspot", data=warm_body, headers=HEADERS, timeout=10)
            deadline = time.time() + 15
            while time.time() < deadline and procs.fake.stats().get("leads_accepted", 0) < 1:
                time.sleep(POLL)
            started = time.time()
            sent = run_burst(f"{procs.web.url}/webhooks/hubspot", [body for _, body in burst], profile.burst_threads)
            deadline = time.time() + profile.burst_wait
            while time.time() < deadline and procs.fake.stats().get("leads_accepted", 0) < len(burst) + 1:
                time.sleep(POLL)
            fake_leads = procs.fake.leads()
        db_leads = db.leads()
    at_fake = {str(lead["extern_id"]): lead["received_at"] for lead in fake_leads}
    received = {str(extern): at for extern, at, *_ in db_leads}
    wanted = [extern for extern, _ in burst]
    stl = [at_fake[e] - received[e] for e in wanted if e in at_fake and e in received]
    last = max((at_fake[e] for e in wanted if e in at_fake), default=started)
    info = {
        "leads": len(wanted),
        "non_202": sum(1 for s in sent if s.status != 202),
        "missing_at_fake": sum(1 for e in wanted if e not in at_fake),
        "all_at_fake_after_s": round(last - started, 2),
    }
    return summarize(stl), info


def run_burst_scenario(name: str, title: str, profile: Profile) -> Result:
    """The burst without and with the consent gate (fake TrustedForm at 50 ms), same run."""
    result = Result(name, title)
    without, info_without = _burst_variant(name + "-nogate", profile, None, 200_000)
    with FakeTrustedForm(api_key=TF_KEY) as tf:
        tf.latency = TF_LATENCY
        with_gate, info_gate = _burst_variant(name + "-gate", profile, tf, 300_000)
        retains = len(tf.retains)
    result.latency["speed_to_lead_no_gate"] = without
    result.latency["speed_to_lead_consent_gate"] = with_gate
    result.info.update(
        {"trustedform_latency_ms": TF_LATENCY * 1000, "retains": retains, "no_gate": info_without, "gate": info_gate}
    )
    if without["p99"] is not None and with_gate["p99"] is not None:
        delta = round(with_gate["p99"] - without["p99"], 2)
        result.info["p99_delta_ms"] = delta
        result.check(
            "speed_to_lead p99: gate − no gate (ms)", delta, f"≤ {BURST_DELTA_P99_MS:.0f}", delta <= BURST_DELTA_P99_MS
        )
    return result

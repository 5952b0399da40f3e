"""Scenario 3: the fake Engage alone — one direct leadLoader/direct call at a time, as a floor."""

from __future__ import annotations

import json
import time

import requests

from bench import cpu
from bench.common import Profile, Result, log_dir
from bench.config_file import HOT_CAMPAIGN
from bench.stack import popen
from bench.stats import summarize
from engage import fake
from harness.processes import FakeEngageProcess

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def engage_token(session: requests.Session, url: str) -> str:
    """RingCentral JWT grant, then the RingCX exchange: the Bearer token the loader accepts."""
    rc = session.post(
        f"{url}/restapi/oauth/token",
        data={"grant_type": JWT_GRANT, "assertion": fake.DEFAULT_JWT},
        auth=(fake.DEFAULT_CLIENT_ID, fake.DEFAULT_CLIENT_SECRET),
        timeout=5,
    )
    rc.raise_for_status()
    rcx = session.post(
        f"{url}/api/auth/login/rc/accesstoken",
        data={"rcAccessToken": rc.json()["access_token"], "rcTokenType": "Bearer"},
        timeout=5,
    )
    rcx.raise_for_status()
    return rcx.json()["accessToken"]


def _payload(n: int) -> bytes:
    """A one-lead LeadListProcessingRequest shaped like the dispatcher's (compact JSON)."""
    lead = {
        "externId": f"baseline-{n}",
        "leadPhone": f"720300{n % 10000:04d}",
        "firstName": "Ada",
        "lastName": "Example",
        "email": "ada.example@example.com",
        "zip": "80202",
    }
    body = {
        "description": "leadrelay bench baseline",
        "dialPriority": "IMMEDIATE",
        "duplicateHandling": "REMOVE_FROM_LIST",
        "listState": "ACTIVE",
        "timeZoneOption": "NPA_NXX",
        "uploadLeads": [lead],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def run(name: str, title: str, profile: Profile) -> Result:
    """Start the fake (unthrottled, like the speed-to-lead runs) and time `stl_leads` loader calls."""
    result = Result(name, title)
    proc = FakeEngageProcess("--no-strict", log_path=log_dir(name) / "fake.log").start()
    session = requests.Session()
    try:
        campaign = next(c["campaignId"] for c in proc.control("GET", "campaigns") if c["campaignName"] == HOT_CAMPAIGN)
        url = f"{proc.url}/voice/api/v1/admin/accounts/{fake.DEFAULT_ACCOUNT_ID}/campaigns/{campaign}/leadLoader/direct"
        headers = {"Authorization": f"Bearer {engage_token(session, proc.url)}", "Content-Type": "application/json"}
        sent_at: dict[str, float] = {}
        rtt: list[float] = []
        statuses: dict[str, int] = {}
        budget_end = time.time() + profile.stl_budget
        meter = cpu.Meter({}, {"fake": popen(proc).pid}, {})
        meter.start()
        for n in range(profile.stl_warmup + profile.stl_leads):
            if time.time() > budget_end:
                break
            body = _payload(n)  # serialized inside the timed loop, as the dispatcher does per call
            sent = time.time()
            response = session.post(url, data=body, headers=headers, timeout=profile.lead_timeout)
            done = time.time()
            statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
            if n >= profile.stl_warmup and response.status_code == 200:
                sent_at[f"baseline-{n}"] = sent
                rtt.append(done - sent)
            time.sleep(profile.stl_pause)
        cpu_use = meter.stop()
        arrivals = {lead["extern_id"]: lead["received_at"] for lead in proc.leads()}
        stats = proc.stats()
    finally:
        session.close()
        proc.stop()
    result.latency["loader_round_trip"] = summarize(rtt)
    result.latency["send_to_fake_handler"] = summarize([arrivals[e] - s for e, s in sent_at.items() if e in arrivals])
    result.info.update(
        {
            "calls": len(rtt),
            "statuses": statuses,
            "fake_strict_rate_limits": False,
            "fake_loader_429": stats.get("loader_429"),
            "pause_s": profile.stl_pause,
            **cpu_use,
        }
    )
    return result

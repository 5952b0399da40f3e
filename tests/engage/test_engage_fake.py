"""The fake Engage itself: rate limits, validation, auth answers, control API, restart, CLI."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.fake_engage import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_JWT,
    HarnessEngage,
    serve,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def token(server):
    """A RingCX access token from the fake, via the documented two steps."""
    rc = requests.post(
        f"{server.url}/restapi/oauth/token",
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": DEFAULT_JWT},
    )
    assert rc.status_code == 200 and rc.json()["token_type"] == "bearer"
    ex = requests.post(
        f"{server.url}/api/auth/login/rc/accesstoken?includeRefresh=true",
        data={"rcAccessToken": rc.json()["access_token"], "rcTokenType": "Bearer"},
    )
    assert ex.status_code == 200
    return ex.json()["accessToken"]


def loader_url(server, campaign_id, account=DEFAULT_ACCOUNT_ID, prefix="/voice/api/v1") -> str:
    """URL of leadLoader/direct."""
    return f"{server.url}{prefix}/admin/accounts/{account}/campaigns/{campaign_id}/leadLoader/direct"


def post_leads(server, token, campaign_id, leads, **body):
    """POST leads straight to the fake."""
    body = {
        "dialPriority": "NORMAL",
        "duplicateHandling": "RETAIN_ALL",
        "listState": "ACTIVE",
        "timeZoneOption": "NPA_NXX",
        "description": "t",
        "uploadLeads": leads,
        **body,
    }
    return requests.post(loader_url(server, campaign_id), json=body, headers={"Authorization": f"Bearer {token}"})


def test_exchange_answer_shape_and_jwt(server, fake):
    rc = requests.post(
        f"{server.url}/restapi/oauth/token",
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": DEFAULT_JWT},
    )
    # Query parameters instead of a form body, and no includeRefresh: no refresh token.
    ex = requests.post(
        f"{server.url}/api/auth/login/rc/accesstoken",
        params={"rcAccessToken": rc.json()["access_token"], "rcTokenType": "Bearer"},
    ).json()
    assert "refreshToken" not in ex and ex["tokenType"] == "Bearer"
    assert ex["agentDetails"][0]["accountId"] == DEFAULT_ACCOUNT_ID == ex["mainAccountId"]
    _header, payload, signature = ex["accessToken"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims["exp"] - claims["iat"] == 300 and signature


def test_oauth_errors(server):
    url = f"{server.url}/restapi/oauth/token"
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": DEFAULT_JWT}
    bad_client = requests.post(url, auth=(DEFAULT_CLIENT_ID, "nope"), data=grant)
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    bad_jwt = requests.post(url, auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET), data={**grant, "assertion": "x"})
    assert bad_jwt.status_code == 400 and bad_jwt.json()["error"] == "invalid_grant"
    refresh = requests.post(url, auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET), data=grant).json()["refresh_token"]
    again = requests.post(
        url,
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": refresh},
    )
    assert again.status_code == 200 and again.json()["access_token"]


def test_refresh_endpoint_rotates(server):
    rc = requests.post(
        f"{server.url}/restapi/oauth/token",
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": DEFAULT_JWT},
    )
    ex = requests.post(
        f"{server.url}/api/auth/login/rc/accesstoken?includeRefresh=true",
        data={"rcAccessToken": rc.json()["access_token"], "rcTokenType": "Bearer"},
    ).json()
    new = requests.post(f"{server.url}/api/auth/token/refresh", data={"refresh_token": ex["refreshToken"]})
    assert new.status_code == 200 and new.json()["refreshToken"] != ex["refreshToken"]
    reused = requests.post(f"{server.url}/api/auth/token/refresh", params={"refresh_token": ex["refreshToken"]})
    assert reused.status_code == 401


def test_expired_and_unknown_tokens(server, fake, token):
    hot = fake.campaign_id("Hot Inbound")
    fake.expire_tokens()
    expired = post_leads(server, token, hot, [])
    assert expired.status_code == 401 and expired.text == "Jwt is expired"
    assert post_leads(server, "garbage", hot, []).status_code == 401
    assert requests.get(f"{server.url}/voice/api/v1/admin/accounts").status_code == 401


def test_unknown_account_and_campaign(server, fake, token):
    url = loader_url(server, fake.campaign_id("Hot Inbound"), account="777")
    assert requests.post(url, json={}, headers={"Authorization": f"Bearer {token}"}).status_code == 404
    fake.set_fault(not_found_status=403)
    assert post_leads(server, token, 1, []).status_code == 403


def test_body_validation(server, fake, token):
    hot = fake.campaign_id("Hot Inbound")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    assert requests.post(loader_url(server, hot), data=b"{not json", headers=headers).status_code == 400
    for field in ("dialPriority", "duplicateHandling", "listState", "timeZoneOption"):
        assert post_leads(server, token, hot, [], **{field: "BOGUS"}).status_code == 400, field
    leads = [
        {"externId": "ok1", "leadPhone": "4155550100|+442071838750"},
        {"leadPhone": "4155550100"},
        {"externId": 5, "leadPhone": "4155550100"},
        {"externId": "p1", "leadPhone": "415555010"},
        {"externId": "p2", "leadPhone": "4155550100|"},
        {"externId": "p3", "leadPhone": "(415) 555-0100"},
        {"externId": "p4", "leadPhone": "4155550100", "leadPhoneE164": "4155550100"},
    ]
    body = post_leads(server, token, hot, leads).json()
    assert (body["leadsSupplied"], body["leadsAccepted"]) == (7, 1)
    assert body["processingResult"] == "OK" and body["processingStatus"] == "DEFAULT_NOT_A_FAILURE"
    assert [r["rowData"][0] for r in body["rejectedRows"]] == ["", "5", "p1", "p2", "p3", "p4"]
    assert all(isinstance(v, str) for r in body["rejectedRows"] for v in r["rowData"])


def test_remove_from_list_dedupes_inserted(server, fake, token):
    hot = fake.campaign_id("Hot Inbound")
    leads = [{"externId": "d1", "leadPhone": "4155550100"}, {"externId": "d2", "leadPhone": "4155550100"}]
    body = post_leads(server, token, hot, leads, duplicateHandling="REMOVE_FROM_LIST").json()
    assert (body["leadsAccepted"], body["leadsInserted"]) == (2, 1)


def test_rate_limit_31st_call_in_10s_is_429(server, fake, token):
    hot = fake.campaign_id("Hot Inbound")
    statuses = [
        post_leads(server, token, hot, [{"externId": f"r{i}", "leadPhone": "4155550100"}]).status_code
        for i in range(31)
    ]
    assert statuses[:30] == [200] * 30 and statuses[30] == 429
    stats = fake.stats()
    assert stats["loader_429"] == 1 and stats["http_429"] == 1 and len(fake.leads()) == 30
    assert "Retry-After" not in post_leads(server, token, hot, []).headers


def test_rate_limit_both_windows_slide(server, fake, token):
    hot = fake.campaign_id("Hot Inbound")
    fake.set_fault(rate_limits=[[3, 0.5], [5, 60]])
    codes = [post_leads(server, token, hot, []).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    time.sleep(0.55)
    codes = [post_leads(server, token, hot, []).status_code for _ in range(3)]
    assert codes == [200, 200, 429]  # the short window reopened, the long one (5/60 s) is full


def test_strict_off_never_429s(server, fake, token):
    fake.set_fault(strict=False)
    hot = fake.campaign_id("Hot Inbound")
    assert {post_leads(server, token, hot, []).status_code for _ in range(40)} == {200}


def test_latency_fault(server, fake, token):
    fake.set_fault(latency=0.2)
    started = time.monotonic()
    post_leads(server, token, fake.campaign_id("Hot Inbound"), [])
    assert time.monotonic() - started >= 0.2


def test_hang_released_by_clear(server, fake, token):
    fake.set_fault(hang=30)
    answer: dict[str, Any] = {}
    t = threading.Thread(
        target=lambda: answer.setdefault("r", post_leads(server, token, fake.campaign_id("Hot Inbound"), []))
    )
    t.start()
    time.sleep(0.2)
    fake.clear_faults()
    t.join(5)
    assert answer["r"].status_code == 200


def test_bad_batch_extern_ids_400(server, fake, token):
    fake.set_fault(bad_batch_extern_ids=["poison"])
    hot = fake.campaign_id("Hot Inbound")
    assert post_leads(server, token, hot, [{"externId": "poison", "leadPhone": "4155550100"}]).status_code == 400
    assert post_leads(server, token, hot, [{"externId": "fine", "leadPhone": "4155550100"}]).status_code == 200


def test_control_api_from_plain_requests(server, fake, token):
    base = f"{server.url}/_fake"
    created = requests.post(f"{base}/campaigns", json={"name": "Webinar", "dial_group": "Events"}).json()
    assert created["campaignName"] == "Webinar" and created["dialGroupName"] == "Events"
    assert any(c["campaignId"] == created["campaignId"] for c in requests.get(f"{base}/campaigns").json())
    faults = requests.post(f"{base}/faults", json={"reject_extern_ids": ["x2"], "retry_after": 3}).json()
    assert faults["reject_extern_ids"] == ["x2"] and faults["retry_after"] == 3
    assert requests.post(f"{base}/faults", json={"no_such_fault": 1}).status_code == 400
    leads = [{"externId": "x1", "leadPhone": "4155550100"}, {"externId": "x2", "leadPhone": "4155550101"}]
    assert post_leads(server, token, created["campaignId"], leads, dialPriority="IMMEDIATE").status_code == 200
    got = requests.get(f"{base}/leads").json()
    assert got["count"] == 1 and got["next"] == 1
    only = got["leads"][0]
    assert (only["extern_id"], only["campaign_id"], only["dial_priority"], only["request_no"]) == (
        "x1",
        created["campaignId"],
        "IMMEDIATE",
        1,
    )
    assert requests.get(f"{base}/leads", params={"since": 1}).json()["leads"] == []
    stats = requests.get(f"{base}/stats").json()
    assert stats["loader_calls"] == 1 and stats["exchanges"] == 1 and stats["rows_rejected"] == 1
    assert requests.delete(f"{base}/faults").json()["reject_extern_ids"] == []
    assert requests.post(f"{base}/reset").json() == {"ok": True}
    assert requests.get(f"{base}/stats").json()["loader_calls"] == 0 and fake.leads() == []
    assert requests.delete(f"{base}/campaigns/{created['campaignId']}").json() == {"removed": True}
    assert requests.get(f"{base}/config").json()["account_id"] == DEFAULT_ACCOUNT_ID
    assert requests.post(f"{base}/expire_tokens").json()["expired"] == 1


@pytest.mark.process
def test_restart_on_same_port(fake):
    srv = serve(fake)
    port = srv.port
    assert requests.get(f"{srv.url}/_fake/stats").ok
    srv.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{srv.url}/_fake/stats", timeout=1)
    srv.start()
    try:
        assert srv.port == port and requests.get(f"{srv.url}/_fake/stats").ok
    finally:
        srv.stop()


@pytest.mark.process
def test_cli_prints_url_and_serves(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.fake_engage",
            "--port",
            "0",
            "--campaign",
            "Inbound Leads",
            "--campaign",
            "Hot Inbound",
            "--token-ttl",
            "60",
            "--no-strict",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None  # both are PIPE above
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("FAKE_ENGAGE_URL=http://127.0.0.1:")
        url = line.split("=", 1)[1]
        names = [c["campaignName"] for c in requests.get(f"{url}/_fake/campaigns", timeout=5).json()]
        assert names == ["Inbound Leads", "Hot Inbound"]
        assert requests.get(f"{url}/_fake/config", timeout=5).json()["strict_rate_limits"] is False
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert proc.stderr.read() == ""
    proc.stdout.close()
    proc.stderr.close()


def test_server_work_is_fast(fake, token, server):
    fake.set_fault(strict=False)
    hot = fake.campaign_id("Hot Inbound")
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"dialPriority": "IMMEDIATE", "uploadLeads": [{"externId": "f", "leadPhone": "4155550100"}]}
    session.post(loader_url(server, hot), json=body, headers=headers)
    started = time.perf_counter()
    for _ in range(50):
        session.post(loader_url(server, hot), json=body, headers=headers)
    per_call = (time.perf_counter() - started) / 50
    assert per_call < 0.02  # client + server round trip on loopback; typically ~1.5 ms


def test_unknown_path_and_method(server, token):
    assert requests.get(f"{server.url}/nope").status_code == 404
    assert requests.get(f"{server.url}/api/auth/token/refresh").status_code == 405


def test_isolated_instances_have_their_own_state():
    a, b = HarnessEngage(campaigns=["A"]), HarnessEngage(campaigns=[])
    assert [c["campaignName"] for c in a.campaigns()] == ["A"] and b.campaigns() == []

"""The fake Engage's control API under /_fake/ (JSON, no auth) for tests and benchmarks in other processes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from engage.fake_http import Req, Resp, error_response, json_response

if TYPE_CHECKING:
    from harness.fake_engage import HarnessEngage

_CAMPAIGN = re.compile(r"^/_fake/campaigns/(\d+)$")


def _body(req: Req) -> dict[str, Any]:
    """The JSON object body, {} when empty."""
    if not req.body:
        return {}
    body = req.json()
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def handle_control(fake: HarnessEngage, req: Req) -> Resp:
    """Route one /_fake/ request to the HarnessEngage Python API."""
    try:
        return _route(fake, req)
    except (ValueError, TypeError) as exc:
        return error_response(400, str(exc), req.path)


def _route(fake: HarnessEngage, req: Req) -> Resp:
    """Dispatch by method and path."""
    m, path = req.method, req.path.rstrip("/")
    if m == "GET" and path == "/_fake/leads":
        since = int(req.query.get("since") or 0)
        leads = fake.leads(since)
        return json_response(200, {"leads": leads, "count": len(leads), "next": since + len(leads)})
    if m == "GET" and path == "/_fake/dnc":
        return json_response(200, {"entries": fake.dnc_entries(), "log": fake.dnc_log()})
    if m == "GET" and path == "/_fake/actions":
        return json_response(200, {"actions": fake.action_log()})
    if m == "GET" and path == "/_fake/dialable":
        return json_response(200, {"leads": fake.dialable()})
    if m == "GET" and path == "/_fake/stats":
        return json_response(200, fake.stats())
    if path == "/_fake/faults":
        if m == "GET":
            return json_response(200, fake.faults())
        if m == "POST":
            return json_response(200, fake.set_fault(**_body(req)))
        if m == "DELETE":
            fake.clear_faults()
            return json_response(200, fake.faults())
    if m == "POST" and path == "/_fake/faults/clear":
        fake.clear_faults()
        return json_response(200, fake.faults())
    if m == "POST" and path == "/_fake/reset":
        fake.reset(revoke_tokens=bool(_body(req).get("revoke_tokens")))
        return json_response(200, {"ok": True})
    if m == "POST" and path == "/_fake/expire_tokens":
        return json_response(200, {"expired": fake.expire_tokens()})
    if path == "/_fake/campaigns":
        if m == "GET":
            return json_response(200, fake.campaigns())
        if m == "POST":
            return _add_campaign(fake, _body(req))
    match = _CAMPAIGN.match(path)
    if m == "DELETE" and match:
        return json_response(200, {"removed": fake.remove_campaign(int(match.group(1)))})
    if m == "GET" and path == "/_fake/config":
        return json_response(
            200,
            {
                "account_id": fake.account_id,
                "client_id": fake.client_id,
                "client_secret": fake.client_secret,
                "jwt": fake.jwt,
                "token_ttl": fake.token_ttl,
                "strict_rate_limits": fake.strict_rate_limits,
                "rate_limits": fake.rate_limits,
            },
        )
    return error_response(404, "unknown control endpoint", req.path)


def _add_campaign(fake: HarnessEngage, body: dict[str, Any]) -> Resp:
    """POST /_fake/campaigns {name, dial_group?, campaign_id?, active?} → ids."""
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("name is required")
    kwargs = {k: body[k] for k in ("dial_group", "campaign_id", "active") if k in body}
    cid = fake.add_campaign(name, **kwargs)
    view = next(c for c in fake.campaigns() if c["campaignId"] == cid)
    return json_response(200, view)

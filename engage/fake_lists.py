"""The fake Engage's internal DNC list and lead actions (dncLists, campaignLeads/actions).

Shapes follow ../shared/reference/compliance-and-lifecycle.md §3 (RingCX docs `dnc-list.md`,
`actions.md`). What the docs leave open is chosen here and marked: the answers of lead actions and
advancedSearch, and the DNC endpoints' rate limit (undocumented: the fake applies the "120 requests
per minute" most admin APIs document, so leadrelay's smaller windows are checked against it).
Lead actions count in the lead loader's per-account windows: whether Engage counts them apart is
undocumented, and counting them together is the stricter check.
"""

from __future__ import annotations

import csv
import io
import time
from bisect import bisect_left
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from engage.fake_http import Req, Resp
from engage.fake_http import error_response as _error
from engage.fake_http import json_response as _json
from engage.fake_http import text_response as _text

if TYPE_CHECKING:
    from engage.fake import FakeEngage

# Undocumented for dncLists; "120 requests per minute" is what Engage documents for most admin APIs.
DNC_RATE_LIMITS = ((120, 60.0),)
# Lead actions the fake carries out (the others are accepted and counted, with no effect on state).
LEAD_ACTIONS = (
    "CANCEL_LEADS",
    "DELETE_LEADS",
    "PAUSE_LEADS",
    "READY_LEADS",
    "SUPPRESS_LEADS",
    "UNSUPPRESS_LEADS",
    "RESET_LEADS",
    "CALLBACK_LEADS",
    "MOVE_TO_CAMPAIGN",
)
# States in which the dialer would still call a lead.
DIALABLE_STATES = ("READY", "ACTIVE", "PENDING", "CALLBACK")


def reset(fake: FakeEngage) -> None:
    """Empty the DNC list, the windows and the counters (caller holds the lock or is the constructor)."""
    fake._dnc = {}
    fake._dnc_stamps = []
    fake._dnc_log = []
    fake._action_log = []
    for name in (
        "dnc_calls",
        "dnc_added",
        "dnc_duplicates",
        "dnc_uploads",
        "dnc_searches",
        "dnc_429",
        "action_calls",
        "action_429",
        "leads_cancelled",
        "leads_deleted",
        "lists_faulted",
    ):
        fake._stats[name] = 0


def digits(phone: Any) -> str:
    """A phone as Engage keys it: national digits (a leading +1 or 1 of a NANP number dropped)."""
    text = "".join(ch for ch in str(phone or "") if ch.isdigit())
    return text[1:] if len(text) == 11 and text.startswith("1") else text


def entries(fake: FakeEngage, tag: str | None = None) -> list[dict[str, Any]]:
    """The DNC entries (optionally of one tag), oldest first."""
    with fake._lock:
        rows = sorted(fake._dnc.values(), key=lambda e: e["internalId"])
        return [dict(e) for e in rows if tag is None or e["tag"] == tag]


def dnc_log(fake: FakeEngage) -> list[dict[str, Any]]:
    """Every DNC add the fake accepted or refused as a duplicate, in order: phone, tag, at, duplicate, how."""
    with fake._lock:
        return [dict(e) for e in fake._dnc_log]


def action_log(fake: FakeEngage) -> list[dict[str, Any]]:
    """Every lead action carried out: action, criteria, matched lead seqs, at."""
    with fake._lock:
        return [dict(e) for e in fake._action_log]


def dialable(fake: FakeEngage) -> list[dict[str, Any]]:
    """Loaded leads the dialer would still call: in a dialable state and no number on the DNC list."""
    with fake._lock:
        listed = {phone for (_tag, phone) in fake._dnc}
        return [
            dict(lead)
            for lead in fake._leads.since(0)
            if not lead.get("deleted")
            and lead.get("state", "READY") in DIALABLE_STATES
            and not ({digits(p) for p in str(lead["lead"].get("leadPhone") or "").split("|")} & listed)
        ]


def route(fake: FakeEngage, req: Req, rest: str) -> Resp | None:
    """Answer dncLists/* and campaignLeads/actions; None when `rest` is not one of them."""
    if rest == "/dncLists" or rest.startswith("/dncLists/"):
        kind = "dnc"
    elif rest == "/campaignLeads/actions":
        kind = "action"
    else:
        return None
    if req.method not in ("POST", "PUT"):
        return _error(405, "Method Not Allowed", req.path)
    faulted = fake._fault_lists(req)
    if faulted is not None:
        return faulted
    if kind == "action":
        if req.method != "PUT":
            return _error(405, "Method Not Allowed", req.path)
        return _hang_around(fake, lambda: _lead_action(fake, req))
    if not _dnc_admitted(fake):
        return _text(429, "Too Many Requests", fake._retry_after_header())
    if rest == "/dncLists" and req.method == "POST":
        return _hang_around(fake, lambda: _dnc_add(fake, req))
    if rest == "/dncLists/advancedSearch" and req.method == "POST":
        return _dnc_search(fake, req)
    if rest == "/dncLists/uploadDncFile" and req.method == "POST":
        return _hang_around(fake, lambda: _dnc_upload(fake, req))
    return _error(404, "Not Found", req.path)


def _hang_around(fake: FakeEngage, call: Any) -> Resp:
    """Run `call` with the hang fault: before it (nothing done) or after it (done, answer lost)."""
    hang, after, event = fake._fault_lists_hang()
    if hang > 0 and event is not None and not after:
        event.wait(hang)
        return _error(503, "Service Unavailable", "")
    resp: Resp = call()
    if hang > 0 and event is not None:
        event.wait(hang)
    return resp


def _dnc_admitted(fake: FakeEngage) -> bool:
    """The DNC endpoints' own window (120 / 60 s); counts the call."""
    now = time.monotonic()
    with fake._lock:
        fake._stats["dnc_calls"] += 1
        stamps = fake._dnc_stamps
        del stamps[: bisect_left(stamps, now - max(w for _, w in DNC_RATE_LIMITS))]
        if any(len(stamps) - bisect_left(stamps, now - w) >= n for n, w in DNC_RATE_LIMITS):
            fake._stats["dnc_429"] += 1
            return False
        stamps.append(now)
        return True


def _add(fake: FakeEngage, phone: str, tag: str, reason: str, country: str, how: str) -> tuple[dict[str, Any], bool]:
    """Add one number (caller holds the lock); returns the entry and whether it was new."""
    key = (tag, digits(phone))
    existing = fake._dnc.get(key)
    fake._dnc_log.append(
        {"phone": key[1], "tag": tag, "at": time.time(), "duplicate": existing is not None, "how": how}
    )
    if existing is not None:
        fake._stats["dnc_duplicates"] += 1
        return existing, False
    entry = {
        "internalId": len(fake._dnc) + 1,
        "phone": key[1],
        "tag": tag,
        "dncTag": {"dncTagId": 0, "dncTagLabel": tag},
        "countryCode": {"id": country},
        "reason": reason,
        "addedDate": time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime()),
        "addedBy": "api",
        "addedAt": time.time(),
    }
    fake._dnc[key] = entry
    fake._stats["dnc_added"] += 1
    return entry, True


def _dnc_add(fake: FakeEngage, req: Req) -> Resp:
    """POST …/dncLists: one number; the answer echoes the entry with addedDate and addedBy."""
    try:
        body = req.json()
    except ValueError:
        return _error(400, "Malformed JSON request body", req.path)
    if not isinstance(body, dict) or not digits(body.get("phone")):
        return _error(400, "phone is required", req.path)
    tag = str(body.get("tag") or (body.get("dncTag") or {}).get("dncTagLabel") or "GLOBAL")
    country = str((body.get("countryCode") or {}).get("id") or "USA")
    with fake._lock:
        entry, new = _add(fake, str(body["phone"]), tag, str(body.get("reason") or ""), country, "post")
    # A number already on the list: undocumented; the fake answers 409 so a resend is visible.
    return _json(200 if new else 409, entry)


def _dnc_search(fake: FakeEngage, req: Req) -> Resp:
    """POST …/dncLists/advancedSearch: entries by phone(s) and tag (body shape undocumented: both read)."""
    try:
        body = req.json()
    except ValueError:
        return _error(400, "Malformed JSON request body", req.path)
    if not isinstance(body, dict):
        return _error(400, "body must be an object", req.path)
    phones = {digits(p) for p in body.get("phoneNumbers") or body.get("phones") or []}
    if body.get("phone"):
        phones.add(digits(body["phone"]))
    tag = body.get("tag") or body.get("dncTagLabel")
    with fake._lock:
        fake._stats["dnc_searches"] += 1
        rows = [
            dict(e) for e in fake._dnc.values() if (not phones or e["phone"] in phones) and (not tag or e["tag"] == tag)
        ]
    return _json(200, rows)


def _dnc_upload(fake: FakeEngage, req: Req) -> Resp:
    """POST …/dncLists/uploadDncFile?tag=…&countryCode=…: a multipart `file`, one number per line."""
    content_type = req.environ.get("CONTENT_TYPE") or ""
    if "multipart/form-data" not in content_type:
        return _error(400, "multipart/form-data with a file is required", req.path)
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + req.body)
    data = b""
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
    if not data:
        return _error(400, "the file part is missing", req.path)
    tag = req.query.get("tag") or "GLOBAL"
    country = req.query.get("countryCode") or "USA"
    rows = [row[0] for row in csv.reader(io.StringIO(data.decode("utf-8", "replace"))) if row and digits(row[0])]
    added = duplicates = 0
    with fake._lock:
        fake._stats["dnc_uploads"] += 1
        for phone in rows:
            _entry, new = _add(fake, phone, tag, "upload", country, "upload")
            added += int(new)
            duplicates += int(not new)
    return _json(200, {"totalRecords": len(rows), "recordsAdded": added, "duplicates": duplicates, "tag": tag})


def _lead_action(fake: FakeEngage, req: Req) -> Resp:
    """PUT …/campaignLeads/actions?leadAction=…: act on the leads matching every given criterion."""
    action = req.query.get("leadAction") or ""
    if action not in LEAD_ACTIONS:
        return _error(400, f"unknown leadAction {action!r}", req.path)
    try:
        body = req.json()
    except ValueError:
        return _error(400, "Malformed JSON request body", req.path)
    criteria = body.get("campaignLeadSearchCriteria") if isinstance(body, dict) else None
    if not isinstance(criteria, dict) or not any(criteria.get(k) for k in ("externIds", "leadIds", "leadPhoneNumbers")):
        # An empty criteria object would act on every lead of the account: refuse it, as a careful API would.
        return _error(400, "campaignLeadSearchCriteria must name externIds, leadIds or leadPhoneNumbers", req.path)
    with fake._lock:
        fake._stats["action_calls"] += 1
        if not fake._loader_admitted():  # the account's loader windows: the stricter reading
            fake._stats["action_429"] += 1
            return _text(429, "Too Many Requests", fake._retry_after_header())
        matched = _matching(fake, criteria, fake._leads.limit)
        for lead in matched:
            if action == "DELETE_LEADS":
                lead["deleted"] = True
                fake._stats["leads_deleted"] += 1
            elif action == "CANCEL_LEADS":
                if lead.get("state", "READY") != "CANCELLED":
                    fake._stats["leads_cancelled"] += 1
                lead["state"] = "CANCELLED"
            elif action == "PAUSE_LEADS":
                lead["state"] = "PAUSED"
            elif action == "READY_LEADS":
                lead["state"] = "READY"
        fake._action_log.append(
            {"action": action, "criteria": criteria, "leads": [lead["seq"] for lead in matched], "at": time.time()}
        )
    # The answer's shape is undocumented: a count, which a client must not depend on.
    return _json(200, {"leadAction": action, "leadsAffected": len(matched)})


def search(fake: FakeEngage, criteria: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """leadSearch: up to `limit` kept leads matching every criterion given (caller holds the lock)."""
    return _matching(fake, criteria, limit)


def _matching(fake: FakeEngage, criteria: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Kept leads matching `criteria`, oldest first, at most `limit` (the log's indexes narrow it first)."""
    campaigns = {int(c) for c in criteria.get("campaignIds") or []}
    externs = {str(e) for e in criteria.get("externIds") or []}
    candidates = fake._leads.search(campaigns, externs, fake._leads.limit)
    return [lead for lead in candidates if matches(lead, criteria)][: max(0, limit)]


def matches(lead: dict[str, Any], criteria: dict[str, Any]) -> bool:
    """A (not deleted) lead matches when it meets every criterion given (each a list: any of it)."""
    if lead.get("deleted"):
        return False
    externs = {str(e) for e in criteria.get("externIds") or []}
    campaigns = {int(c) for c in criteria.get("campaignIds") or []}
    lead_ids = {int(i) for i in criteria.get("leadIds") or []}
    phones = {digits(p) for p in criteria.get("leadPhoneNumbers") or []}
    states = {str(s) for s in criteria.get("leadStates") or []}
    numbers = {digits(p) for p in str(lead["lead"].get("leadPhone") or "").split("|")}
    return (
        (not externs or str(lead["extern_id"]) in externs)
        and (not campaigns or lead["campaign_id"] in campaigns)
        and (not lead_ids or lead["seq"] in lead_ids)
        and (not phones or bool(numbers & phones))
        and (not states or lead.get("state", "READY") in states)
    )

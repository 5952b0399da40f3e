"""Engage's internal DNC list and lead actions: add, upload, search; cancel or delete loaded leads.

Shapes from ../shared/reference/compliance-and-lifecycle.md §3 (RingCX docs `dnc-list.md`,
`actions.md`) and engage-api.md §3. Undocumented parts are read leniently: a lead action's answer
is not relied on (any 2xx is success), advancedSearch's answer may be a bare array or wrap one, and
a number already on the list (409) counts as added.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from typing import Any

import phonenumbers

from engage.client import EngageClient, _Call, _rows
from engage.errors import EngageError, LookupUnsupported
from engage.http import json_or_none

# The ISO 3166 alpha-3 country ids Engage's DNC entries carry ({"countryCode": {"id": "USA"}}), for
# the regions leadrelay dials; another region sends its alpha-2 code (undocumented: Engage may refuse it).
COUNTRY_IDS = {"US": "USA", "CA": "CAN", "PR": "PRI", "GB": "GBR", "AU": "AUS", "MX": "MEX", "IE": "IRL", "NZ": "NZL"}
DEFAULT_TAG = "GLOBAL"


@dataclass(frozen=True)
class DncNumber:
    """A number as Engage's DNC list keys it: national digits and a country id."""

    phone: str
    country: str


def dnc_number(e164: str) -> DncNumber:
    """Split an E.164 number into Engage's national digits and country id (+13035550142 → 3035550142, USA)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not an E.164 number: {exc}") from exc
    region = phonenumbers.region_code_for_number(parsed) or "US"
    national = str(parsed.national_number)
    return DncNumber(national, COUNTRY_IDS.get(region, region))


def search_criteria(
    extern_ids: list[str], campaign_ids: list[int], phones: list[str], lead_states: list[str] | None = None
) -> dict[str, Any]:
    """A campaignLeadSearchCriteria naming externIds, campaigns and numbers (externIds alone can collide)."""
    criteria: dict[str, Any] = {"externIds": [str(e) for e in extern_ids]}
    if campaign_ids:
        criteria["campaignIds"] = [int(c) for c in campaign_ids]
    if phones:
        criteria["leadPhoneNumbers"] = [str(p) for p in phones]
    if lead_states:
        criteria["leadStates"] = list(lead_states)
    return criteria


class EngageLists:
    """DNC list and lead-action calls, through an EngageClient's session, auth and error mapping."""

    def __init__(self, client: EngageClient) -> None:
        """Use `client`'s account, token and session."""
        self.client = client

    def dnc_add(self, e164: str, tag: str = DEFAULT_TAG, reason: str = "") -> dict[str, Any]:
        """POST …/dncLists: one number; returns Engage's entry ({} when the answer has none).

        A 409 (the number is already on the list under this tag) counts as added.
        """
        number = dnc_number(e164)
        body = {
            "dncTag": {"dncTagId": 0, "dncTagLabel": tag},
            "countryCode": {"id": number.country},
            "phone": number.phone,
            "reason": reason[:200],
            "tag": tag,
            "dncTagId": 0,
        }
        call = _Call("POST", "/dncLists", _json(body), None, {"Content-Type": "application/json"})
        try:
            resp = self.client._send(call)
        except EngageError as exc:
            if exc.status == 409:
                return {"phone": number.phone, "tag": tag, "already": True}
            raise
        answer = json_or_none(resp)
        return answer if isinstance(answer, dict) else {}

    def dnc_upload(self, e164s: list[str], tag: str = DEFAULT_TAG) -> dict[str, Any]:
        """POST …/dncLists/uploadDncFile: many numbers in one call, a CSV `file` (bulk imports).

        Grouped by country (the upload names one); returns the answers by country.
        """
        by_country: dict[str, list[str]] = {}
        for e164 in e164s:
            number = dnc_number(e164)
            by_country.setdefault(number.country, []).append(number.phone)
        answers: dict[str, Any] = {}
        for country, phones in sorted(by_country.items()):
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            for phone in phones:
                writer.writerow([phone])
            boundary = uuid.uuid4().hex
            body = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="dnc.csv"\r\n'
                f"Content-Type: text/csv\r\n\r\n{out.getvalue()}\r\n--{boundary}--\r\n"
            ).encode()
            path = f"/dncLists/uploadDncFile?tag={tag}&countryCode={country}"
            call = _Call("POST", path, body, None, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
            answers[country] = json_or_none(self.client._send(call))
        return answers

    def dnc_search(self, e164s: list[str], tag: str = DEFAULT_TAG) -> set[str]:
        """POST …/dncLists/advancedSearch: which of these numbers are on the list under `tag` (as E.164).

        403/404 (search refused for this login) → LookupUnsupported.
        """
        wanted = {dnc_number(e).phone: e for e in e164s}
        body = {"phoneNumbers": sorted(wanted), "tag": tag, "dncTagLabel": tag}
        call = _Call("POST", "/dncLists/advancedSearch", _json(body), None, {"Content-Type": "application/json"})
        try:
            resp = self.client._send(call)
        except EngageError as exc:
            if exc.status in (403, 404):
                raise LookupUnsupported("DNC search not available", status=exc.status, body=exc.body) from exc
            raise
        found = set()
        for row in _rows(json_or_none(resp)):
            if not isinstance(row, dict):
                continue
            phone = "".join(ch for ch in str(row.get("phone") or row.get("phoneNumber") or "") if ch.isdigit())
            label = row.get("tag") or (row.get("dncTag") or {}).get("dncTagLabel") or tag
            if label != tag:
                continue
            for candidate in (phone, phone[1:] if len(phone) == 11 and phone.startswith("1") else phone):
                if candidate in wanted:
                    found.add(wanted[candidate])
        return found

    def lead_action(self, action: str, criteria: dict[str, Any], params: dict[str, Any] | None = None) -> Any:
        """PUT …/campaignLeads/actions?leadAction=ACTION with the criteria; Engage's answer (shape undocumented)."""
        if not any(criteria.get(k) for k in ("externIds", "leadIds", "leadPhoneNumbers")):
            raise ValueError("a lead action must name externIds, leadIds or numbers (never every lead)")
        body = {"campaignLeadSearchCriteria": criteria, "leadActionParams": {"paramMap": params or {}}}
        call = _Call(
            "PUT",
            f"/campaignLeads/actions?leadAction={action}",
            _json(body),
            None,
            {"Content-Type": "application/json"},
        )
        return json_or_none(self.client._send(call))

    def lead_states(self, criteria: dict[str, Any], max_rows: int = 500) -> list[dict[str, Any]]:
        """POST …/campaignLeads/leadSearch by criteria: [{externId, campaignId, leadPhone, leadState}].

        403/404 (lead search refused for this login) → LookupUnsupported.
        """
        path = f"/campaignLeads/leadSearch?count=false&page=0&maxRows={max_rows}"
        call = _Call("POST", path, _json(criteria), None, {"Content-Type": "application/json"})
        try:
            resp = self.client._send(call)
        except EngageError as exc:
            if exc.status in (403, 404):
                raise LookupUnsupported("lead search not available", status=exc.status, body=exc.body) from exc
            raise
        out = []
        for row in _rows(json_or_none(resp)):
            if not isinstance(row, dict):
                continue
            nested = row.get("campaignLead")
            inner: dict[str, Any] = nested if isinstance(nested, dict) else {}
            out.append(
                {
                    "externId": row.get("externId", inner.get("externId")),
                    "campaignId": row.get("campaignId", inner.get("campaignId")),
                    "leadPhone": row.get("leadPhone", inner.get("leadPhone")),
                    "leadState": row.get("leadState", inner.get("leadState")),
                }
            )
        return out


def _json(body: Any) -> bytes:
    """Compact JSON bytes (the same bytes go out again on the 401 retry)."""
    return json.dumps(body, separators=(",", ":")).encode()

"""Engage Voice REST client: lead loader calls and campaign enumeration."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from engage.auth import EngageAuth
from engage.campaigns import CampaignDirectory
from engage.errors import (
    AuthError,
    BatchRejected,
    CampaignError,
    EngageError,
    LookupUnsupported,
    Throttled,
    Unavailable,
    parse_retry_after,
)
from engage.http import json_or_none, make_session, send
from engage.results import LoadResult, parse_load_result

log = logging.getLogger(__name__)

__all__ = ["CampaignDirectory", "EngageClient", "LoadResult"]


@dataclass
class _Call:
    """What one API call is about, so errors can name their scope."""

    method: str
    path: str
    body: bytes | None = None
    campaign_id: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


# The account id of a client made only to list accounts (before ENGAGE_ACCOUNT_ID is known).
DISCOVERY_ACCOUNT = "(not set yet)"


class EngageClient:
    """Calls under {base_url}{api_prefix}/admin/accounts/{account_id}/… with one pooled session."""

    def __init__(
        self,
        base_url: str,
        account_id: str,
        auth: EngageAuth,
        api_prefix: str = "/voice/api/v1",
        session: requests.Session | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
    ) -> None:
        """Configure the host, the sub-account (never `~`), the auth and the timeouts."""
        if not account_id or str(account_id).strip() == "~":
            raise ValueError("account_id must be the explicit Engage sub-account id")
        self.base_url = base_url.rstrip("/")
        self.account_id = str(account_id)
        self.auth = auth
        self.api_prefix = "/" + api_prefix.strip("/")
        self.session = session if session is not None else make_session()
        self.timeout = (connect_timeout, read_timeout)

    def __repr__(self) -> str:
        """Identify the client without secrets."""
        return f"EngageClient({self.base_url}, account={self.account_id})"

    def _url(self, path: str) -> str:
        """Absolute URL of an account-relative path."""
        if self.account_id == DISCOVERY_ACCOUNT:
            raise ValueError("this client only lists accounts: set ENGAGE_ACCOUNT_ID for anything else")
        return f"{self.base_url}{self.api_prefix}/admin/accounts/{self.account_id}{path}"

    # -- lead loader -------------------------------------------------------------------------

    def load_leads(
        self,
        campaign_id: int,
        leads: list[dict[str, Any]],
        *,
        dial_priority: str,
        duplicate_handling: str = "REMOVE_FROM_LIST",
        time_zone_option: str = "NPA_NXX",
        list_state: str = "ACTIVE",
        description: str,
    ) -> LoadResult:
        """POST leadLoader/direct; 2xx → LoadResult, anything else → an EngageError by scope."""
        started = time.monotonic()
        campaign_id = int(campaign_id)
        payload = {
            "description": description,
            "dialPriority": dial_priority,
            "duplicateHandling": duplicate_handling,
            "listState": list_state,
            "timeZoneOption": time_zone_option,
            "uploadLeads": leads,
        }
        # Serialize once, compactly: the same bytes go out again on the 401 retry.
        body = json.dumps(payload, separators=(",", ":")).encode()
        call = _Call(
            "POST",
            f"/campaigns/{campaign_id}/leadLoader/direct",
            body,
            campaign_id,
            {"Content-Type": "application/json"},
        )
        resp = self._send(call)
        body = json_or_none(resp)
        if body is None and resp.content.strip():
            # Engage said 2xx but the answer cannot be read (cut short, a proxy's page): the leads
            # may or may not be loaded, so they are looked up before anything is resent.
            raise Unavailable(
                "unreadable lead loader answer", status=resp.status_code, body=resp.content, fate_unknown=True
            )
        result = parse_load_result(resp.status_code, body, leads)
        result.elapsed = time.monotonic() - started
        if result.unmatched_rejections:
            log.warning(
                "engage campaign %s: %d rejected rows matched no externId",
                campaign_id,
                len(result.unmatched_rejections),
            )
        return result

    def lead_search(self, campaign_id: int, extern_ids: list[str]) -> set[str]:
        """POST campaignLeads/leadSearch by campaign and externIds; return the externIds Engage has.

        403/404 (lead search not allowed for this login) → LookupUnsupported; 429 → Throttled;
        5xx/timeouts → Unavailable. The answer's shape is not documented for sure, so a bare array
        and an object wrapping one are both read, with externId at the top or under campaignLead.
        """
        wanted = [str(e) for e in extern_ids]
        body = json.dumps({"campaignIds": [int(campaign_id)], "externIds": wanted}, separators=(",", ":")).encode()
        path = f"/campaignLeads/leadSearch?count=false&page=0&maxRows={max(10, len(wanted) * 2)}"
        call = _Call("POST", path, body, None, {"Content-Type": "application/json"})
        try:
            resp = self._send(call)
        except AuthError as exc:
            if exc.status in (403, 404):
                raise LookupUnsupported("lead search not available", status=exc.status, body=exc.body) from exc
            raise
        found = set()
        for row in _rows(json_or_none(resp)):
            extern = row.get("externId") if isinstance(row, dict) else None
            if extern is None and isinstance(row, dict) and isinstance(row.get("campaignLead"), dict):
                extern = row["campaignLead"].get("externId")
            if extern is not None and str(extern) in wanted:
                found.add(str(extern))
        return found

    def lead_passes(self, campaign_id: int, extern_ids: list[str]) -> dict[str, int | None]:
        """POST campaignLeads/leadSearch; each found externId → how often RingCX has dialed it (None: not said).

        The pass count's field name is not documented for sure (the search criteria name
        `leadPassesCriteria`): `leadPasses`, `passes` and `totalPasses` are read, at the top or
        under `campaignLead`. Errors as `lead_search`.
        """
        wanted = [str(e) for e in extern_ids]
        body = json.dumps({"campaignIds": [int(campaign_id)], "externIds": wanted}, separators=(",", ":")).encode()
        path = f"/campaignLeads/leadSearch?count=false&page=0&maxRows={max(10, len(wanted) * 2)}"
        call = _Call("POST", path, body, None, {"Content-Type": "application/json"})
        try:
            resp = self._send(call)
        except AuthError as exc:
            if exc.status in (403, 404):
                raise LookupUnsupported("lead search not available", status=exc.status, body=exc.body) from exc
            raise
        found: dict[str, int | None] = {}
        for row in _rows(json_or_none(resp)):
            if not isinstance(row, dict):
                continue
            nested = row.get("campaignLead")
            inner: dict[str, Any] = nested if isinstance(nested, dict) else {}
            extern = row.get("externId", inner.get("externId"))
            if extern is None or str(extern) not in wanted:
                continue
            passes = next(
                (
                    v
                    for key in ("leadPasses", "passes", "totalPasses")
                    for v in (row.get(key), inner.get(key))
                    if v is not None
                ),
                None,
            )
            try:
                found[str(extern)] = None if passes is None else int(passes)
            except (TypeError, ValueError):
                found[str(extern)] = None
        return found

    # -- enumeration -------------------------------------------------------------------------

    def accounts(self) -> list[dict[str, Any]]:
        """GET {prefix}/admin/accounts: the accounts this login can see."""
        resp = self._send_raw(_Call("GET", ""), f"{self.base_url}{self.api_prefix}/admin/accounts")
        return self._json_list(resp)

    def dial_groups(self) -> list[dict[str, Any]]:
        """GET …/dialGroups."""
        return self._json_list(self._send(_Call("GET", "/dialGroups")))

    def campaigns(self, dial_group_id: int) -> list[dict[str, Any]]:
        """GET …/dialGroups/{id}/campaigns."""
        return self._json_list(self._send(_Call("GET", f"/dialGroups/{int(dial_group_id)}/campaigns")))

    def all_campaigns(self) -> list[dict[str, Any]]:
        """Every campaign of the account: dial groups, then each group's campaigns (as the docs do)."""
        out = []
        for group in self.dial_groups():
            gid = group.get("dialGroupId")
            if gid is None:
                continue
            for campaign in self.campaigns(gid):
                campaign = dict(campaign)
                campaign.setdefault("dialGroupId", gid)
                campaign.setdefault("dialGroupName", group.get("dialGroupName"))
                out.append(campaign)
        return out

    # -- transport ---------------------------------------------------------------------------

    def _send(self, call: _Call) -> requests.Response:
        """Send an account-relative call."""
        return self._send_raw(call, self._url(call.path))

    def _send_raw(self, call: _Call, url: str) -> requests.Response:
        """Authenticate, send, retry once after a 401 with a renewed token, map failures."""
        for attempt in (1, 2):
            try:
                auth_headers = self.auth.headers()
            except Unavailable as exc:
                exc.fate_unknown = False  # the token endpoints failed: the call itself was never sent
                raise
            headers = {**call.headers, **auth_headers}
            resp = send(self.session, call.method, url, data=call.body, headers=headers, timeout=self.timeout)
            if resp.status_code != 401:
                break
            if attempt == 1 and getattr(self.auth, "refreshable", False):
                used = auth_headers.get("Authorization", "").removeprefix("Bearer ") or None
                log.info("engage 401 on %s %s; renewing the token once", call.method, call.path or "/accounts")
                self.auth.invalidate(used)
                continue
            raise AuthError("Engage refused the credentials", status=401, body=resp.text)
        if 200 <= resp.status_code < 300:
            return resp
        raise self._error(call, resp)

    def _error(self, call: _Call, resp: requests.Response) -> EngageError:
        """Map a non-2xx answer (other than 401) to the error of its scope."""
        status, text = resp.status_code, resp.text
        if status == 429:
            retry = parse_retry_after(resp.headers.get("Retry-After"))
            return Throttled("Engage rate limit hit", status=status, body=text, retry_after=retry)
        if status >= 500:
            # A gateway timeout (504) may hide a call Engage carried out: its leads are looked up.
            return Unavailable("Engage server error", status=status, body=text, fate_unknown=status == 504)
        if status in (403, 404) and call.campaign_id is not None:
            return CampaignError(
                f"campaign {call.campaign_id} not accessible", status=status, body=text, campaign_id=call.campaign_id
            )
        if status in (403, 404):
            # Enumeration paths are account-wide: a refusal there means the account is wrong.
            return AuthError(f"account {self.account_id} not accessible", status=status, body=text)
        if status in (400, 413, 422) and call.campaign_id is not None:
            # The call as a whole was refused (bad enum, body too big): splitting it can help.
            return BatchRejected("Engage rejected the whole batch", status=status, body=text)
        return EngageError(f"unexpected Engage answer to {call.method} {call.path}", status=status, body=text)

    @staticmethod
    def _json_list(resp: requests.Response) -> list[dict[str, Any]]:
        """Decode a JSON array answer; anything else is an error worth seeing."""
        body = json_or_none(resp)
        if not isinstance(body, list):
            raise EngageError("expected a JSON array", status=resp.status_code, body=resp.text)
        return body


def _rows(body: Any) -> list[Any]:
    """The result rows of a search answer: a bare array, or the first array inside an object."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("leads", "content", "data", "results", "items"):
            value = body.get(key)
            if isinstance(value, list):
                return value
        return next((v for v in body.values() if isinstance(v, list)), [])
    return []

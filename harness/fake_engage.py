"""The fake Engage as tests and benchmarks drive it: engage/fake.py plus fault switches and test controls.

The product's sandbox (engage/fake.py `FakeEngage`) behaves as Engage does. `HarnessEngage` overrides
its `_fault_*` hooks with switches settable from Python (`set_fault`) or over HTTP (`/_fake/`,
harness/fake_control.py), and adds what only a test asks: the accepted leads, counters, reset, token
expiry. `python -m harness.fake_engage` serves one in its own process (harness/processes.py starts it).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from http import HTTPStatus
from typing import Any

from engage import fake_lists as lists
from engage import fake_loader as loader
from engage.fake import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_API_TOKEN,
    DEFAULT_CAMPAIGNS,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_JWT,
    FakeEngage,
    serve,
)
from engage.fake_http import PHRASES, Req, Resp, error_response, json_response, text_response
from harness.fake_control import handle_control

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_API_TOKEN",
    "DEFAULT_CAMPAIGNS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_FAULTS",
    "DEFAULT_JWT",
    "HarnessEngage",
    "main",
    "serve",
]

# Every fault and runtime switch, with its "off" value. Counts: N = next N calls, True = until cleared.
DEFAULT_FAULTS: dict[str, Any] = {
    "latency": 0.0,  # seconds added to every API/auth request
    "force_status": None,  # status answered to loader calls (500/502/503 …)
    "force_status_count": None,  # None = until cleared
    "batch_400": 0,  # whole-batch 400 for the next N loader calls
    "bad_batch_extern_ids": [],  # a loader call holding any of these externIds → 400
    "hang": 0.0,  # loader calls sleep this long (longer than the client's read timeout)
    "hang_count": None,  # None = until cleared
    "hang_after": False,  # True: record the leads first, then hang (the 'did it land?' case)
    "token_ttl": None,  # overrides the access-token lifetime of newly issued tokens
    "force_401": 0,  # next N authenticated API calls → 401 "Jwt is expired"
    "refresh_fail": 0,  # next N refresh calls → 401
    "campaign_status": {},  # {campaignId: 403|404}
    "reject_extern_ids": [],  # these rows come back in rejectedRows
    "reject_phones": [],  # rows with any of these phones come back in rejectedRows
    "general_failure": 0,  # next N loader calls → 200 GENERAL_FAILURE without rows
    "created_empty": 0,  # next N good loader calls → 201 with an empty body (a valid answer: Engage may omit the body)
    "retry_after": None,  # seconds (or a literal string) sent as Retry-After on 429s
    "strict": None,  # overrides strict_rate_limits
    "rate_limits": None,  # overrides rate_limits, e.g. [[30, 10], [120, 60]]
    "exchange_limit": None,  # overrides the exchange limit per minute (0 = unlimited)
    "not_found_status": None,  # 404 (default) or 403 for an unknown account/campaign
    "hang_drop": False,  # True: a hung loader call loads nothing and, once released, answers 503
    "garbled_200": 0,  # next N good loader calls load their leads, then answer 200 with an unreadable body
    "auth_status": None,  # status answered by the token endpoints (OAuth, exchange, refresh), e.g. 503
    "auth_hang": 0.0,  # token endpoints sleep this long before answering (a timeout for the client)
    "search_status": None,  # status answered by campaignLeads/leadSearch (e.g. 403: search not allowed)
    "search_hang": 0.0,  # leadSearch calls sleep this long
    "lists_status": None,  # status answered by dncLists/* and campaignLeads/actions (e.g. 503, 429)
    "lists_status_count": None,  # None = until cleared
    "lists_hang": 0.0,  # those calls sleep this long (past the client's read timeout)
    "lists_hang_count": None,  # None = until cleared
    "lists_hang_after": False,  # True: carry the call out first, then hang (the "did it land?" case)
}
_COUNTS = ("batch_400", "force_401", "refresh_fail", "general_failure", "created_empty", "garbled_200")
_LISTS = ("reject_extern_ids", "reject_phones", "bad_batch_extern_ids")


def _count(value: int | str | bool | None) -> int:
    """Normalize a count fault: True → until cleared (-1), False/None → 0, N → N."""
    if value is True:
        return -1
    if not value:
        return 0
    return int(value)


class HarnessEngage(FakeEngage):
    """The fake Engage with faults switchable at runtime and the controls tests read it through."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As FakeEngage; every fault starts off."""
        self._hang_event = threading.Event()
        self._faults: dict[str, Any] = json.loads(json.dumps(DEFAULT_FAULTS))
        super().__init__(*args, **kwargs)

    # -- controls ----------------------------------------------------------------------------

    def set_fault(self, **kw: Any) -> dict[str, Any]:
        """Switch faults on (see DEFAULT_FAULTS for names); returns the current faults."""
        unknown = set(kw) - set(DEFAULT_FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s): {sorted(unknown)}; known: {sorted(DEFAULT_FAULTS)}")
        with self._lock:
            for name, value in kw.items():
                if name == "campaign_status":
                    value = {int(k): int(v) for k, v in (value or {}).items()}
                elif name in _COUNTS:
                    value = _count(value)
                elif name in _LISTS:
                    value = [str(v) for v in value or ()]
                self._faults[name] = value
            return self.faults()

    def clear_faults(self) -> None:
        """Turn every fault off and release hung requests."""
        with self._lock:
            self._faults = json.loads(json.dumps(DEFAULT_FAULTS))
        self._release_hangs()

    def faults(self) -> dict[str, Any]:
        """The current faults (a copy)."""
        with self._lock:
            copy: dict[str, Any] = json.loads(json.dumps(self._faults))
            return copy

    def dial(self, extern_id: str, passes: int = 1) -> int:
        """The dialer calls a loaded lead `passes` more times (leadSearch's `leadPasses`); how many rows it touched."""
        with self._lock:
            rows = self._leads.search((), [str(extern_id)], limit=len(self._leads))
            for lead in rows:
                lead["passes"] = lead.get("passes", 0) + passes
        return len(rows)

    def leads(self, since: int = 0) -> list[dict[str, Any]]:
        """Kept accepted leads (seq > since), each with campaign, options, received_at and request number."""
        with self._lock:
            return self._leads.since(since)

    def dnc_log(self) -> list[dict[str, Any]]:
        """Every DNC add in order (phone, tag, at, duplicate, how): each number accepted once is the check."""
        return lists.dnc_log(self)

    def action_log(self) -> list[dict[str, Any]]:
        """Every lead action carried out (action, criteria, matched lead seqs, at)."""
        return lists.action_log(self)

    def stats(self) -> dict[str, Any]:
        """Counters: loader calls, 429s, exchanges, refreshes, OAuth calls, statuses, leads."""
        with self._lock:
            out: dict[str, Any] = dict(self._stats)
            out["status_counts"] = {str(k): v for k, v in sorted(self._status_counts.items())}
            out["loader_status_counts"] = {str(k): v for k, v in sorted(self._loader_status_counts.items())}
            out["leads_total"] = self._leads.total
            out["leads_kept"] = len(self._leads)
            return out

    def reset(self, revoke_tokens: bool = False) -> None:
        """Forget leads, counters, rate windows and faults (campaigns stay; tokens stay unless asked)."""
        with self._lock:
            self._reset_counters()
            if revoke_tokens:
                for tokens in (self._access, self._refresh, self._rc_access, self._rc_refresh):
                    tokens.clear()
        self.clear_faults()

    def expire_tokens(self) -> int:
        """Make every issued RingCX access token expired now; returns how many."""
        with self._lock:
            for token in self._access:
                self._access[token] = 0.0
            return len(self._access)

    def on_stop(self) -> None:
        """Its server stopped: wake hung calls so their threads end."""
        self._release_hangs()

    def _reset_counters(self) -> None:
        """The base counters plus the harness's fault counters."""
        super()._reset_counters()
        self._stats.update(hung_calls=0, garbled_answers=0, token_outage_answers=0)

    def _release_hangs(self) -> None:
        """Wake every request sleeping in a hang fault."""
        with self._lock:
            event, self._hang_event = self._hang_event, threading.Event()
        event.set()

    def _take(self, name: str) -> bool:
        """Consume one use of a count fault (caller holds the lock)."""
        left = self._faults[name]
        if not left:
            return False
        if left > 0:
            self._faults[name] = left - 1
        return True

    # -- routing: the control API, latency ---------------------------------------------------

    def _counted(self, req: Req) -> bool:
        """Control calls are not Engage traffic."""
        return not req.path.startswith("/_fake/")

    def _dispatch(self, req: Req) -> Resp:
        """The control API under /_fake/; every other request after the `latency` fault."""
        if req.path.startswith("/_fake/"):
            return handle_control(self, req)
        with self._lock:
            latency = float(self._faults["latency"] or 0)
        if latency > 0:
            time.sleep(latency)
        return super()._dispatch(req)

    # -- the fault hooks ---------------------------------------------------------------------

    def _fault_token_endpoint(self, req: Req) -> Resp | None:
        """Token endpoints down (auth_status) or slow (auth_hang): RingCentral's outage, not bad credentials."""
        with self._lock:
            status, hang, event = self._faults["auth_status"], float(self._faults["auth_hang"] or 0), self._hang_event
            if status or hang:
                self._stats["token_outage_answers"] += 1
        if hang > 0:
            event.wait(hang)
        if status:
            return error_response(int(status), HTTPStatus(int(status)).phrase, req.path)
        return None

    def _fault_loader_status(self, req: Req) -> Resp | None:
        """force_status: the loader call answered before Engage sees it, consuming one use when counted."""
        with self._lock:
            status = self._faults["force_status"]
            if not status:
                return None
            count = self._faults["force_status_count"]
            if count is not None:
                if count <= 0:
                    return None
                self._faults["force_status_count"] = count - 1
            forced = int(status)
        code, body, headers = error_response(
            forced, HTTPStatus(forced).phrase if forced in PHRASES else "Error", req.path
        )
        return code, body, headers + (self._retry_after_header() if forced == 429 else [])

    def _fault_auth(self) -> Resp | None:
        """force_401: a good token refused as expired."""
        return text_response(401, "Jwt is expired") if self._take("force_401") else None

    def _fault_refresh(self) -> bool:
        """refresh_fail: a good refresh token refused."""
        return self._take("refresh_fail")

    def _fault_search(self, req: Req) -> Resp | None:
        """search_status answers leadSearch (no window slot spent); search_hang delays it either way."""
        with self._lock:
            status, hang, event = (
                self._faults["search_status"],
                float(self._faults["search_hang"] or 0),
                self._hang_event,
            )
            if status:
                self._stats["search_calls"] += 1
        if hang > 0:
            event.wait(hang)
        return error_response(int(status), HTTPStatus(int(status)).phrase, req.path) if status else None

    def _fault_batch(self, req: Req, options: dict[str, Any]) -> Resp | None:
        """batch_400, bad_batch_extern_ids (400 for the whole call) and general_failure."""
        leads, bad = options["leads"], set(self._faults["bad_batch_extern_ids"])
        if self._take("batch_400") or (
            bad and any(isinstance(x, dict) and str(x.get("externId")) in bad for x in leads)
        ):
            return error_response(400, "Lead list rejected", req.path)
        if self._take("general_failure"):
            return json_response(200, loader.general_failure_body(options, len(leads)))
        return None

    def _fault_row(self, lead: dict[str, Any]) -> str | None:
        """reject_extern_ids / reject_phones: a valid row the account rejects."""
        if str(lead.get("externId")) in set(self._faults["reject_extern_ids"]):
            return "Lead rejected by account settings"
        phones = set(self._faults["reject_phones"])
        if any(p in phones for p in str(lead.get("leadPhone") or "").split("|")):
            return "Phone number is on the do-not-call list"
        return None

    def _fault_answer(self) -> Resp | None:
        """created_empty (201, no body) and garbled_200 (the leads are loaded, the answer unreadable)."""
        if self._take("created_empty"):
            return 201, b"", []
        if self._take("garbled_200"):
            self._stats["garbled_answers"] += 1
            return 200, b'{"leadsSupplied": 3, "leadsAcc', [("Content-Type", "application/json")]
        return None

    def _fault_lists(self, req: Req) -> Resp | None:
        """lists_status answers a dncLists or lead-action call, consuming one use when counted."""
        with self._lock:
            status = self._faults["lists_status"]
            if not status:
                return None
            count = self._faults["lists_status_count"]
            if count is not None:
                if count <= 0:
                    return None
                self._faults["lists_status_count"] = count - 1
            self._stats["lists_faulted"] += 1
        code, body, headers = error_response(int(status), "Error", req.path)
        return code, body, headers + (self._retry_after_header() if int(status) == 429 else [])

    def _fault_lists_hang(self) -> tuple[float, bool, threading.Event | None]:
        """lists_hang (lists_hang_count uses; lists_hang_after: carried out first, then the hang)."""
        with self._lock:
            hang = float(self._faults["lists_hang"] or 0)
            count = self._faults["lists_hang_count"]
            if hang > 0 and count is not None:
                if count <= 0:
                    return 0.0, False, None
                self._faults["lists_hang_count"] = count - 1
            return hang, bool(self._faults["lists_hang_after"]), self._hang_event

    def _token_lifetime(self) -> float:
        """token_ttl overrides the lifetime of newly issued tokens."""
        ttl = self._faults["token_ttl"]
        return super()._token_lifetime() if ttl is None else float(ttl)

    def _exchange_limit_now(self) -> int:
        """exchange_limit overrides the exchanges allowed per minute."""
        limit = self._faults["exchange_limit"]
        return super()._exchange_limit_now() if limit is None else int(limit)

    def _loader_limits(self) -> list[tuple[int, float]] | None:
        """The `strict` and `rate_limits` faults override the loader's windows."""
        strict = self._faults["strict"]
        if not (self.strict_rate_limits if strict is None else bool(strict)):
            return None
        limits = self._faults["rate_limits"]
        return [(int(n), float(w)) for n, w in limits] if limits else self.rate_limits

    def _not_found_status(self) -> int:
        """not_found_status: 403 instead of 404 for an unknown account or campaign."""
        return int(self._faults["not_found_status"] or super()._not_found_status())

    def _campaign_status(self, cid: int) -> int | None:
        """campaign_status: a campaign answering 403/404 although it exists."""
        forced = self._faults["campaign_status"].get(cid)
        return int(forced) if forced is not None else super()._campaign_status(cid)

    def _retry_after_header(self) -> list[tuple[str, str]]:
        """retry_after: the Retry-After header on 429s."""
        value = self._faults["retry_after"]
        return [] if value is None else [("Retry-After", str(value))]

    # -- hangs around the load ---------------------------------------------------------------

    def _lead_loader(self, req: Req, cid: int, request_no: int) -> Resp:
        """The loader with hang, hang_after and hang_drop around Engage's own work."""
        received_at = time.time()
        refused = self._loader_refusal(req, cid)
        if refused:
            return refused
        with self._lock:
            hang = self._take_hang()
            hang_after, hang_drop, event = (
                bool(self._faults["hang_after"]),
                bool(self._faults["hang_drop"]),
                self._hang_event,
            )
            if hang:
                self._stats["hung_calls"] += 1
        if hang and hang_drop:
            # Accepted, never answered, nothing loaded: the client times out and cannot know.
            event.wait(hang)
            return error_response(503, "Service Unavailable", req.path)
        if hang and not hang_after:
            event.wait(hang)
        resp = self._load(req, cid, request_no, received_at)
        if hang and hang_after:
            event.wait(hang)
        return resp

    def _take_hang(self) -> float:
        """Seconds to hang this loader call, consuming one use when counted (caller holds the lock)."""
        hang = float(self._faults["hang"] or 0)
        if hang <= 0:
            return 0.0
        count = self._faults["hang_count"]
        if count is not None:
            if count <= 0:
                return 0.0
            self._faults["hang_count"] = count - 1
        return hang


def main(argv: list[str] | None = None) -> int:
    """CLI: serve a fake Engage until SIGTERM/SIGINT, printing FAKE_ENGAGE_URL=… first."""
    parser = argparse.ArgumentParser(prog="python -m harness.fake_engage", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--campaign", action="append", help=f"campaign name (repeatable; default {DEFAULT_CAMPAIGNS})")
    parser.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--jwt", default=DEFAULT_JWT)
    parser.add_argument("--api-token", action="append", default=[], help="accept this X-Auth-Token (repeatable)")
    parser.add_argument("--token-ttl", type=float, default=300.0)
    parser.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="enforce 30/10 s and 120/60 s on the lead loader (default on)",
    )
    parser.add_argument("--exchange-limit", type=int, default=5, help="token exchanges per minute (0 = off)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument(
        "--sub-account",
        action="append",
        default=[],
        metavar="ID:NAME",
        help="another sub-account GET /admin/accounts lists (repeatable)",
    )
    args = parser.parse_args(argv)
    fake = HarnessEngage(
        account_id=args.account_id,
        client_id=args.client_id,
        client_secret=args.client_secret,
        jwt=args.jwt,
        api_tokens=args.api_token,
        token_ttl=args.token_ttl,
        strict_rate_limits=args.strict,
        campaigns=args.campaign or DEFAULT_CAMPAIGNS,
        exchange_limit=args.exchange_limit,
    )
    if args.latency:
        fake.set_fault(latency=args.latency)
    for item in args.sub_account:
        account_id, _, name = item.partition(":")
        fake.add_account(account_id, name or f"sub-account {account_id}")
    server = serve(fake, args.host, args.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"FAKE_ENGAGE_URL={server.url}", flush=True)  # noqa: T201 - the harness reads this line
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

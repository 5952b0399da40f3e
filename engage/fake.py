"""A fake RingCentral Engage Voice (RingCX) server, faithful to RingCentral's published Engage Voice API.

It is the sandbox backend, the tests' backend and the benchmarks' backend. It accepts:
  * RingCentral OAuth: Basic DEFAULT_CLIENT_ID:DEFAULT_CLIENT_SECRET, JWT grant with DEFAULT_JWT;
  * the RingCX exchange, refresh and Bearer tokens (JWTs with exp/iat, TTL 300 s by default);
  * legacy X-Auth-Token for tokens given in `api_tokens` (DEFAULT_API_TOKEN is only a suggestion);
  * account DEFAULT_ACCOUNT_ID, under both /voice/api/v1 and /api/v1.
State is in memory behind one lock; faults are switchable at runtime from Python or /_fake/.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import signal
import sys
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from engage import fake_lists as lists
from engage import fake_loader as loader
from engage.fake_control import handle_control
from engage.fake_http import PHRASES as _PHRASES
from engage.fake_http import Req, Resp
from engage.fake_http import error_response as _error
from engage.fake_http import json_response as _json
from engage.fake_http import text_response as _text
from engage.fake_server import FakeServer
from engage.fake_tokens import mint_jwt, numeric_date, opaque_token

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

DEFAULT_ACCOUNT_ID = "12345"
DEFAULT_CLIENT_ID = "leadrelay-fake-client-id"
DEFAULT_CLIENT_SECRET = "leadrelay-fake-client-secret"  # noqa: S105 - the fake's own test credential
DEFAULT_JWT = "leadrelay-fake-ringcentral-jwt"
DEFAULT_API_TOKEN = "fake80:00000000-0000-4000-8000-000000000000"  # noqa: S105 - the fake's own test credential
DEFAULT_CAMPAIGNS = ("Inbound Leads", "Hot Inbound")
DEFAULT_DIAL_GROUP = "Inbound"
DEFAULT_RATE_LIMITS = ((30, 10.0), (120, 60.0))  # leadLoader/direct, per account
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

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
    **lists.FAULTS,  # dncLists and campaignLeads/actions (engage/fake_lists.py)
}

# campaignLeads/leadSearch limits as RingCX documents them: 15 / 10 s and 60 / 30 s.
SEARCH_RATE_LIMITS = ((15, 10.0), (60, 30.0))

_API = re.compile(r"^/(?:voice/)?api/v1/admin/accounts(?:/([^/]+)(/.*)?)?$")
_ROUTES = [
    ("GET", re.compile(r"^/dialGroups$"), "dial_groups"),
    ("GET", re.compile(r"^/dialGroups/withChildren$"), "dial_groups_children"),
    ("GET", re.compile(r"^/dialGroups/(\d+)$"), "dial_group"),
    ("GET", re.compile(r"^/dialGroups/(\d+)/campaigns$"), "dial_group_campaigns"),
    ("GET", re.compile(r"^/dialGroups/(\d+)/campaigns/(\d+)$"), "dial_group_campaign"),
    ("POST", re.compile(r"^/campaigns/(\d+)/leadLoader/direct$"), "lead_loader"),
    ("POST", re.compile(r"^/campaignLeads/leadSearch$"), "lead_search"),
]
_TOKEN_PATHS = ("/restapi/oauth/token", "/api/auth/login/rc/accesstoken", "/api/auth/token/refresh")


def _count(value: int | str | bool | None) -> int:
    """Normalize a count fault: True → until cleared (-1), False/None → 0, N → N."""
    if value is True:
        return -1
    if not value:
        return 0
    return int(value)


class FakeEngage:
    """In-memory Engage: OAuth, exchange, refresh, dial groups, campaigns, lead loader, faults."""

    # The DNC list and lead-action state (engage/fake_lists.py keeps them; reset there).
    _dnc: dict[tuple[str, str], dict[str, Any]]
    _dnc_stamps: list[float]
    _dnc_log: list[dict[str, Any]]
    _action_log: list[dict[str, Any]]

    def __init__(
        self,
        account_id: str = DEFAULT_ACCOUNT_ID,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        jwt: str = DEFAULT_JWT,
        api_tokens: Iterable[str] = (),
        token_ttl: float = 300.0,
        strict_rate_limits: bool = True,
        rate_limits: Iterable[tuple[int, float]] = DEFAULT_RATE_LIMITS,
        campaigns: Iterable[str] = DEFAULT_CAMPAIGNS,
        exchange_limit: int = 5,
        exchange_window: float = 60.0,
        rc_token_ttl: float = 3600.0,
    ) -> None:
        """Configure the credentials it accepts, token lifetimes, limits and initial campaigns."""
        self.account_id = str(account_id)
        self.client_id, self.client_secret, self.jwt = client_id, client_secret, jwt
        self.api_tokens = set(api_tokens or ())
        self.token_ttl = token_ttl
        self.strict_rate_limits = strict_rate_limits
        self.rate_limits = [(int(n), float(w)) for n, w in rate_limits]
        self.exchange_limit, self.exchange_window = exchange_limit, exchange_window
        self.rc_token_ttl = rc_token_ttl
        self._lock = threading.RLock()
        self._key = secrets.token_bytes(32)
        self._hang_event = threading.Event()
        self._next_dial_group, self._next_campaign = 115701, 136701
        self._dial_groups: dict[int, dict] = {}
        self._campaigns: dict[int, dict] = {}
        self._rc_access: dict[str, float] = {}
        self._rc_refresh: set[str] = set()
        self._access: dict[str, float] = {}
        self._refresh: set[str] = set()
        self._reset_counters()
        self.clear_faults()
        for name in campaigns or ():
            self.add_campaign(name)
        self._other_accounts: list[dict] = []  # more sub-accounts the login sees (add_account)

    # -- Python API --------------------------------------------------------------------------

    def add_account(self, account_id: str, name: str) -> None:
        """Another sub-account this login can see: listed by GET /admin/accounts, nothing else under it."""
        with self._lock:
            self._other_accounts.append(
                {
                    "accountId": str(account_id),
                    "accountName": name,
                    "mainAccountId": self.account_id,
                    "enabled": True,
                    "timezoneName": "US/Pacific",
                }
            )

    def add_campaign(
        self, name: str, dial_group: str = DEFAULT_DIAL_GROUP, campaign_id: int | None = None, active: bool = True
    ) -> int:
        """Add (or find) a campaign by name inside a dial group (created by name); return its id."""
        with self._lock:
            gid = next((g for g, d in self._dial_groups.items() if d["name"] == dial_group), None)
            if gid is None:
                gid, self._next_dial_group = self._next_dial_group, self._next_dial_group + 1
                self._dial_groups[gid] = {"name": dial_group, "campaigns": []}
            for cid in self._dial_groups[gid]["campaigns"]:
                if self._campaigns[cid]["name"] == name:
                    return cid
            if campaign_id is None:
                while self._next_campaign in self._campaigns:
                    self._next_campaign += 1
                campaign_id = self._next_campaign
            campaign_id = int(campaign_id)
            self._campaigns[campaign_id] = {"name": name, "dial_group_id": gid, "active": active}
            self._dial_groups[gid]["campaigns"].append(campaign_id)
            return campaign_id

    def remove_campaign(self, campaign_id: int) -> bool:
        """Delete a campaign (its loader path then answers 404)."""
        with self._lock:
            campaign = self._campaigns.pop(int(campaign_id), None)
            if campaign:
                self._dial_groups[campaign["dial_group_id"]]["campaigns"].remove(int(campaign_id))
            return campaign is not None

    def campaign_id(self, name: str) -> int:
        """The id of a campaign by exact name (for tests)."""
        with self._lock:
            return next(cid for cid, c in self._campaigns.items() if c["name"] == name)

    def campaigns(self) -> list[dict]:
        """Every campaign: id, name, dial group id and name, active."""
        with self._lock:
            return [
                {
                    "campaignId": cid,
                    "campaignName": c["name"],
                    "dialGroupId": c["dial_group_id"],
                    "dialGroupName": self._dial_groups[c["dial_group_id"]]["name"],
                    "isActive": c["active"],
                }
                for cid, c in self._campaigns.items()
            ]

    def set_fault(self, **kw: Any) -> dict[str, Any]:
        """Switch faults on (see DEFAULT_FAULTS for names); returns the current faults."""
        unknown = set(kw) - set(DEFAULT_FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s): {sorted(unknown)}; known: {sorted(DEFAULT_FAULTS)}")
        with self._lock:
            for name, value in kw.items():
                if name == "campaign_status":
                    value = {int(k): int(v) for k, v in (value or {}).items()}
                elif name in (
                    "batch_400",
                    "force_401",
                    "refresh_fail",
                    "general_failure",
                    "created_empty",
                    "garbled_200",
                ):
                    value = _count(value)
                elif name in ("reject_extern_ids", "reject_phones", "bad_batch_extern_ids"):
                    value = [str(v) for v in value or ()]
                self._faults[name] = value
            return self.faults()

    def clear_faults(self) -> None:
        """Turn every fault off and release hung requests."""
        with self._lock:
            self._faults = json.loads(json.dumps(DEFAULT_FAULTS))
        self._release_hangs()

    def faults(self) -> dict:
        """The current faults (a copy)."""
        with self._lock:
            return json.loads(json.dumps(self._faults))

    def leads(self, since: int = 0) -> list[dict]:
        """Accepted leads (seq > since), each with campaign, options, received_at and request number."""
        with self._lock:
            return list(self._leads[since:]) if since else list(self._leads)

    def dnc_entries(self, tag: str | None = None) -> list[dict]:
        """The internal DNC list (optionally one tag), oldest first."""
        return lists.entries(self, tag)

    def dnc_log(self) -> list[dict]:
        """Every DNC add in order (phone, tag, at, duplicate, how): each number accepted once is the check."""
        return lists.dnc_log(self)

    def action_log(self) -> list[dict]:
        """Every lead action carried out (action, criteria, matched lead seqs, at)."""
        return lists.action_log(self)

    def dialable(self) -> list[dict]:
        """Loaded leads the dialer would still call (not cancelled or deleted, no number on the DNC list)."""
        return lists.dialable(self)

    def stats(self) -> dict:
        """Counters: loader calls, 429s, exchanges, refreshes, OAuth calls, statuses, leads."""
        with self._lock:
            out: dict[str, Any] = dict(self._stats)
            out["status_counts"] = {str(k): v for k, v in sorted(self._status_counts.items())}
            out["loader_status_counts"] = {str(k): v for k, v in sorted(self._loader_status_counts.items())}
            out["leads_total"] = len(self._leads)
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

    def _reset_counters(self) -> None:
        """Zero the counters and windows (caller holds the lock or is the constructor)."""
        self._leads: list[dict] = []
        self._stats = Counter(
            requests=0,
            loader_calls=0,
            loader_ok=0,
            loader_429=0,
            exchange_429=0,
            http_429=0,
            exchanges=0,
            refreshes=0,
            oauth_calls=0,
            api_calls=0,
            leads_accepted=0,
            rows_rejected=0,
            max_batch=0,
            search_calls=0,
            search_429=0,
            hung_calls=0,
            garbled_answers=0,
            token_outage_answers=0,
        )
        self._search_stamps: list[float] = []
        self._status_counts: Counter = Counter()
        self._loader_status_counts: Counter = Counter()
        self._loader_stamps: dict[str, list[float]] = {}
        self._exchange_stamps: list[float] = []
        lists.reset(self)  # the DNC list, lead-action log and their counters

    def _release_hangs(self) -> None:
        """Wake every request sleeping in a hang fault."""
        with self._lock:
            event, self._hang_event = self._hang_event, threading.Event()
        event.set()

    # -- WSGI --------------------------------------------------------------------------------

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI entry point."""
        try:
            req = Req(environ)
            status, body, headers = self._dispatch(req)
        except Exception as exc:  # a bug in the fake must show up as a 500, not a dropped socket
            status, body, headers = _text(500, f"fake engage error: {exc!r}")
            req = None
        if req is not None and not req.path.startswith("/_fake/"):
            with self._lock:
                self._status_counts[status] += 1
                if status == 429:
                    self._stats["http_429"] += 1
        headers.append(("Content-Length", str(len(body))))
        start_response(_PHRASES.get(status, f"{status} Status"), headers)
        return [body]

    __call__ = wsgi_app

    def _dispatch(self, req: Req) -> Resp:
        """Route one request."""
        if req.path.startswith("/_fake/"):
            return handle_control(self, req)
        with self._lock:
            self._stats["requests"] += 1
            latency = float(self._faults["latency"] or 0)
        if latency > 0:
            time.sleep(latency)
        if req.path in _TOKEN_PATHS:
            outage = self._token_outage(req)
            if outage:
                return outage
        if req.path == "/restapi/oauth/token":
            return self._only_post(req) or self._oauth(req)
        if req.path == "/api/auth/login/rc/accesstoken":
            return self._only_post(req) or self._exchange(req)
        if req.path == "/api/auth/token/refresh":
            return self._only_post(req) or self._token_refresh(req)
        match = _API.match(req.path)
        if match:
            return self._api(req, match.group(1), match.group(2) or "")
        return _error(404, "Not Found", req.path)

    def _token_outage(self, req: Req) -> Resp | None:
        """Token endpoints down (auth_status) or slow (auth_hang): RingCentral's outage, not bad credentials."""
        with self._lock:
            status, hang, event = self._faults["auth_status"], float(self._faults["auth_hang"] or 0), self._hang_event
            if status or hang:
                self._stats["token_outage_answers"] += 1
        if hang > 0:
            event.wait(hang)
        if status:
            return _error(int(status), HTTPStatus(int(status)).phrase, req.path)
        return None

    @staticmethod
    def _only_post(req: Req) -> Resp | None:
        """405 for anything but POST."""
        return None if req.method == "POST" else _error(405, "Method Not Allowed", req.path)

    # -- RingCentral OAuth -------------------------------------------------------------------

    def _oauth(self, req: Req) -> Resp:
        """POST /restapi/oauth/token: JWT and refresh_token grants with Basic client auth."""
        with self._lock:
            self._stats["oauth_calls"] += 1
        if not self._client_ok(req.header("Authorization")):
            return _json(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "Invalid client",
                    "errors": [{"errorCode": "OAU-123", "message": "Invalid client"}],
                },
            )
        params = req.params()
        grant = params.get("grant_type")
        with self._lock:
            if grant == JWT_GRANT:
                if not secrets.compare_digest(params.get("assertion", ""), self.jwt):
                    return _json(
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "Invalid assertion signature",
                            "errors": [{"errorCode": "OAU-213", "message": "Invalid assertion"}],
                        },
                    )
            elif grant == "refresh_token":
                token = params.get("refresh_token", "")
                if token not in self._rc_refresh:
                    return _json(
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "Token not found",
                            "errors": [{"errorCode": "OAU-211", "message": "Token not found"}],
                        },
                    )
                self._rc_refresh.discard(token)
            else:
                return _json(
                    400, {"error": "unsupported_grant_type", "error_description": f"Unsupported grant type: {grant}"}
                )
            access, refresh = opaque_token("U0pDMTJQMDFQQVMwMHxBQUF"), opaque_token("U0pDMTJQMDFQQVMwMHxBQUJ")
            self._rc_access[access] = time.time() + self.rc_token_ttl
            self._rc_refresh.add(refresh)
        return _json(
            200,
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": int(self.rc_token_ttl),
                "refresh_token": refresh,
                "refresh_token_expires_in": 604800,
                "scope": "ReadAccounts",
                "owner_id": "222222",
                "endpoint_id": "fakeEndpoint",
            },
        )

    def _client_ok(self, header: str | None) -> bool:
        """Check Basic base64(client_id:client_secret)."""
        if not header or not header.startswith("Basic "):
            return False
        try:
            cid, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return secrets.compare_digest(cid, self.client_id) and secrets.compare_digest(secret, self.client_secret)

    # -- RingCX exchange and refresh ---------------------------------------------------------

    def _exchange(self, req: Req) -> Resp:
        """POST /api/auth/login/rc/accesstoken: RingCentral token → RingCX token (5/min)."""
        params = req.params()
        with self._lock:
            self._stats["exchanges"] += 1
            if not self._exchange_admitted():
                self._stats["exchange_429"] += 1
                status, body, headers = _error(429, "Too Many Requests: token exchange limit reached", req.path)
                return status, body, headers + self._retry_after_header()
            if (params.get("rcTokenType") or "").lower() != "bearer":
                return _error(400, "rcTokenType must be Bearer", req.path)
            expires = self._rc_access.get(params.get("rcAccessToken") or "")
            if expires is None or expires <= time.time():
                return _error(401, "Invalid RingCentral access token", req.path)
            include_refresh = params.get("includeRefresh", "").lower() == "true"
            return _json(200, self._issue(include_refresh))

    def _exchange_admitted(self) -> bool:
        """Sliding window over exchanges (caller holds the lock)."""
        limit = self._faults["exchange_limit"]
        limit = self.exchange_limit if limit is None else int(limit)
        if not limit:
            return True
        now = time.monotonic()
        stamps = self._exchange_stamps
        del stamps[: bisect_left(stamps, now - self.exchange_window)]
        if len(stamps) >= limit:
            return False
        stamps.append(now)
        return True

    def _token_refresh(self, req: Req) -> Resp:
        """POST /api/auth/token/refresh: rotates both tokens."""
        token = req.params().get("refresh_token") or ""
        with self._lock:
            self._stats["refreshes"] += 1
            if self._take("refresh_fail") or token not in self._refresh:
                return _error(401, "Invalid refresh token", req.path)
            self._refresh.discard(token)
            return _json(200, self._issue(True))

    def _issue(self, include_refresh: bool) -> dict:
        """Mint an access token (and a refresh token); AccessTokenUserDetails (caller holds the lock)."""
        ttl = self._faults["token_ttl"]
        ttl = float(self.token_ttl if ttl is None else ttl)
        now = time.time()
        claims = {
            "iss": "fake-ringcx",
            "sub": "111111",
            "accountId": self.account_id,
            "iat": numeric_date(now),
            "exp": numeric_date(now + ttl),
            "jti": secrets.token_hex(8),
        }
        access = mint_jwt(self._key, claims)
        if len(self._access) > 1000:  # bound memory in long benchmarks
            self._access = {t: e for t, e in self._access.items() if e > now}
        self._access[access] = now + ttl
        body = {
            "accessToken": access,
            "tokenType": "Bearer",
            "mainAccountId": self.account_id,
            "agentDetails": [
                {
                    "agentId": 111111,
                    "firstName": "Fake",
                    "lastName": "Admin",
                    "email": "admin@example.com",
                    "username": "admin@example.com",
                    "agentType": "AGENT",
                    "rcUserId": 222222,
                    "accountId": self.account_id,
                    "accountName": "Fake Engage",
                    "agentGroupId": None,
                    "allowLoginControl": True,
                    "allowLoginUpdates": True,
                }
            ],
            "adminId": 1111,
            "adminUrl": "/voice/admin/",
            "agentUrl": "/voice/agent/",
            "ssoLogin": True,
        }
        if include_refresh:
            refresh = opaque_token("rcx-refresh-")
            self._refresh.add(refresh)
            body["refreshToken"] = refresh
        return body

    # -- API ---------------------------------------------------------------------------------

    def _api(self, req: Req, account: str | None, rest: str) -> Resp:
        """Authenticated API calls under {prefix}/admin/accounts."""
        is_loader = rest.endswith("/leadLoader/direct")
        with self._lock:
            self._stats["api_calls"] += 1
            if is_loader:
                self._stats["loader_calls"] += 1
                request_no = self._stats["loader_calls"]
        resp = self._api_inner(req, account, rest, request_no if is_loader else 0)
        if is_loader:
            with self._lock:
                self._loader_status_counts[resp[0]] += 1
        return resp

    def _api_inner(self, req: Req, account: str | None, rest: str, request_no: int) -> Resp:
        """Auth, account, routing; loader faults come first because a load balancer answers them."""
        if request_no:
            forced = self._take_forced_status()
            if forced:
                status, body, headers = _error(
                    forced, HTTPStatus(forced).phrase if forced in _PHRASES else "Error", req.path
                )
                return status, body, headers + (self._retry_after_header() if forced == 429 else [])
        denied = self._authenticate(req)
        if denied:
            return denied
        if account is None:
            if req.method != "GET":
                return _error(405, "Method Not Allowed", req.path)
            with self._lock:
                return _json(200, [self._account_view(), *self._other_accounts])
        if account != self.account_id:
            return _error(self._not_found_status(), f"Account {account} not found", req.path)
        listed = lists.route(self, req, rest)  # dncLists/*, campaignLeads/actions
        if listed is not None:
            return listed
        for method, pattern, name in _ROUTES:
            m = pattern.match(rest)
            if m:
                if req.method != method:
                    return _error(405, "Method Not Allowed", req.path)
                args = [int(g) for g in m.groups()]
                if name == "lead_loader":
                    return self._lead_loader(req, args[0], request_no)
                if name == "lead_search":
                    return self._lead_search(req)
                return getattr(self, f"_get_{name}")(req, *args)
        return _error(404, "Not Found", req.path)

    def _authenticate(self, req: Req) -> Resp | None:
        """None when the Bearer or X-Auth-Token is good; else the 401 to answer."""
        auth = req.header("Authorization") or ""
        with self._lock:
            if self._take("force_401"):
                return _text(401, "Jwt is expired")
            if auth.startswith("Bearer "):
                exp = self._access.get(auth[7:].strip())
                if exp is None:
                    return _text(401, "Invalid token")
                if exp <= time.time():
                    return _text(401, "Jwt is expired")
                return None
            api_token = req.header("X-Auth-Token")
            if api_token is not None:
                return None if api_token in self.api_tokens else _text(401, "Invalid API token")
        return _text(401, "Full authentication is required to access this resource")

    def _take(self, name: str) -> bool:
        """Consume one use of a count fault (caller holds the lock)."""
        left = self._faults[name]
        if not left:
            return False
        if left > 0:
            self._faults[name] = left - 1
        return True

    def _take_forced_status(self) -> int | None:
        """The forced loader status, consuming one use when counted."""
        with self._lock:
            status = self._faults["force_status"]
            if not status:
                return None
            count = self._faults["force_status_count"]
            if count is not None:
                if count <= 0:
                    return None
                self._faults["force_status_count"] = count - 1
            return int(status)

    def _not_found_status(self) -> int:
        """404 unless configured to answer 403 for unknown accounts/campaigns."""
        return int(self._faults["not_found_status"] or 404)

    def _retry_after_header(self) -> list:
        """The Retry-After header for 429s, when switched on."""
        value = self._faults["retry_after"]
        return [] if value is None else [("Retry-After", str(value))]

    # -- admin GETs --------------------------------------------------------------------------

    def _account_view(self) -> dict:
        """One Account as GET /admin/accounts lists it."""
        return {
            "accountId": self.account_id,
            "accountName": "Fake Engage",
            "mainAccountId": self.account_id,
            "enabled": True,
            "timezoneName": "US/Eastern",
        }

    def _dial_group_view(self, gid: int, children: bool = False) -> dict:
        """A DialGroup with the documented fields (isActive is a boolean)."""
        group = self._dial_groups[gid]
        view = {
            "dialGroupId": gid,
            "dialGroupName": group["name"],
            "dialGroupDesc": group["name"],
            "dialMode": "PREDICTIVE",
            "isActive": True,
            "agentDialGroupMembers": [],
            "permissions": [],
            "allowLeadSearch": "NO",
            "maxLeadsReturned": 0,
            "enableAgentFilter": False,
            "progressiveEnabled": False,
            "hciEnabled": "DISABLED",
            "agentsReady": 0,
            "maxPorts": 0,
            "minPredictiveAgents": 0,
            "billingKey": None,
            "outdialServerGroupId": None,
            "groupId": None,
            "realTimeAgentData": False,
            "requireFetchedLeadsCalled": False,
            "allowPreviewLeadFilters": False,
            "enableAbsolutePriority": False,
            "enableListPriority": False,
            "enableCallbacksAfterMaxpass": False,
            "enableCallbacksAfterMaxDailyPass": False,
            "progressiveCallDelay": 0,
        }
        if children:
            view["campaigns"] = [
                {
                    "campaignId": cid,
                    "campaignName": self._campaigns[cid]["name"],
                    "isActive": int(self._campaigns[cid]["active"]),
                }
                for cid in group["campaigns"]
            ]
        return view

    def _campaign_view(self, cid: int) -> dict:
        """A Campaign with the useful documented fields (isActive is an int)."""
        c = self._campaigns[cid]
        view = {
            "campaignId": cid,
            "campaignName": c["name"],
            "campaignDesc": c["name"],
            "isActive": int(c["active"]),
            "callerId": "4155550123",
            "startDate": "2026-01-01T08:00:00.000+0000",
            "endDate": "2036-01-01T08:00:00.000+0000",
            "dialGroup": {"id": c["dial_group_id"], "description": self._dial_groups[c["dial_group_id"]]["name"]},
            "maxPasses": 3,
            "permissions": [],
            "callingConfiguration": "SIMPLE",
        }
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
            view[f"{day}Sched"] = "08001700"
        for i in range(1, 6):
            view[f"aux{i}Label"] = f"Aux {i}"
        return view

    def _get_dial_groups(self, req: Req) -> Resp:
        """GET …/dialGroups."""
        with self._lock:
            return _json(200, [self._dial_group_view(g) for g in self._dial_groups])

    def _get_dial_groups_children(self, req: Req) -> Resp:
        """GET …/dialGroups/withChildren."""
        with self._lock:
            return _json(200, [self._dial_group_view(g, children=True) for g in self._dial_groups])

    def _get_dial_group(self, req: Req, gid: int) -> Resp:
        """GET …/dialGroups/{id}."""
        with self._lock:
            if gid not in self._dial_groups:
                return _error(self._not_found_status(), f"Dial group {gid} not found", req.path)
            return _json(200, self._dial_group_view(gid))

    def _get_dial_group_campaigns(self, req: Req, gid: int) -> Resp:
        """GET …/dialGroups/{id}/campaigns."""
        with self._lock:
            if gid not in self._dial_groups:
                return _error(self._not_found_status(), f"Dial group {gid} not found", req.path)
            return _json(200, [self._campaign_view(c) for c in self._dial_groups[gid]["campaigns"]])

    def _get_dial_group_campaign(self, req: Req, gid: int, cid: int) -> Resp:
        """GET …/dialGroups/{id}/campaigns/{campaignId}."""
        with self._lock:
            if gid not in self._dial_groups or cid not in self._dial_groups[gid]["campaigns"]:
                return _error(self._not_found_status(), f"Campaign {cid} not found", req.path)
            return _json(200, self._campaign_view(cid))

    # -- lead loader -------------------------------------------------------------------------

    def _lead_loader(self, req: Req, cid: int, request_no: int) -> Resp:
        """POST …/campaigns/{cid}/leadLoader/direct."""
        received_at = time.time()
        with self._lock:
            status = self._faults["campaign_status"].get(cid)
            if status is None and cid not in self._campaigns:
                status = self._not_found_status()
            if status:
                return _error(int(status), f"Campaign {cid} not found", req.path)
            if not self._loader_admitted():
                self._stats["loader_429"] += 1
                return _text(429, "Too Many Requests", self._retry_after_header())
            hang = self._take_hang()
            hang_after = bool(self._faults["hang_after"])
            hang_drop = bool(self._faults["hang_drop"])
            event = self._hang_event
            if hang:
                self._stats["hung_calls"] += 1
        if hang and hang_drop:
            # Accepted, never answered, nothing loaded: the client times out and cannot know.
            event.wait(hang)
            return _error(503, "Service Unavailable", req.path)
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

    def _loader_admitted(self) -> bool:
        """Sliding windows per account (caller holds the lock); admitted calls are counted."""
        strict = self._faults["strict"]
        strict = self.strict_rate_limits if strict is None else bool(strict)
        if not strict:
            return True
        limits = self._faults["rate_limits"] or self.rate_limits
        now = time.monotonic()
        stamps = self._loader_stamps.setdefault(self.account_id, [])
        longest = max(float(w) for _, w in limits)
        del stamps[: bisect_left(stamps, now - longest)]
        for limit, window in limits:
            if len(stamps) - bisect_left(stamps, now - float(window)) >= int(limit):
                return False
        stamps.append(now)
        return True

    def _load(self, req: Req, cid: int, request_no: int, received_at: float) -> Resp:
        """Validate the body and rows, record accepted leads, answer LeadListProcessingResult."""
        try:
            options = loader.check_request(req.json())
        except ValueError:
            return _error(400, "Malformed JSON request body", req.path)
        except loader.BadRequest as exc:
            return _error(400, str(exc), req.path)
        leads = options["leads"]
        with self._lock:
            bad = set(self._faults["bad_batch_extern_ids"])
            if self._take("batch_400") or (
                bad and any(isinstance(x, dict) and str(x.get("externId")) in bad for x in leads)
            ):
                return _error(400, "Lead list rejected", req.path)
            if self._take("general_failure"):
                return _json(200, loader.general_failure_body(options, len(leads)))
            reject_ids, reject_phones = set(self._faults["reject_extern_ids"]), set(self._faults["reject_phones"])
            accepted, rejected_rows = [], []
            for lead in leads:
                problem = loader.row_problem(lead, reject_ids, reject_phones)
                if problem:
                    rejected_rows.append({"message": problem, "rowData": loader.row_data(lead)})
                else:
                    accepted.append(lead)
            self._record(cid, options, accepted, request_no, received_at)
            self._stats["rows_rejected"] += len(rejected_rows)
            self._stats["loader_ok"] += 1
            self._stats["max_batch"] = max(self._stats["max_batch"], len(leads))
            if self._take("created_empty"):
                return 201, b"", []
            if self._take("garbled_200"):
                self._stats["garbled_answers"] += 1
                return 200, b'{"leadsSupplied": 3, "leadsAcc', [("Content-Type", "application/json")]
        return _json(200, loader.result_body(options, len(leads), accepted, rejected_rows))

    def _lead_search(self, req: Req) -> Resp:
        """POST …/campaignLeads/leadSearch: loaded leads by campaignIds/externIds (15/10 s, 60/30 s)."""
        with self._lock:
            self._stats["search_calls"] += 1
            status, hang, event = (
                self._faults["search_status"],
                float(self._faults["search_hang"] or 0),
                self._hang_event,
            )
            admitted = status or self._search_admitted()
            if not admitted:
                self._stats["search_429"] += 1
        if hang > 0:
            event.wait(hang)
        if status:
            return _error(int(status), HTTPStatus(int(status)).phrase, req.path)
        if not admitted:
            return _text(429, "Too Many Requests", self._retry_after_header())
        try:
            criteria = req.json()
        except ValueError:
            return _error(400, "Malformed JSON request body", req.path)
        if not isinstance(criteria, dict):
            return _error(400, "body must be a CampaignLeadSearchCriteria object", req.path)
        max_rows = int(req.query.get("maxRows") or 50)
        with self._lock:
            # campaignIds, externIds, leadPhoneNumbers, leadStates, leadIds: each given one must match.
            rows = [self._search_view(lead) for lead in self._leads if lists.matches(lead, criteria)]
        return _json(200, rows[:max_rows])

    def _search_admitted(self) -> bool:
        """Sliding windows for leadSearch (caller holds the lock)."""
        now = time.monotonic()
        stamps = self._search_stamps
        del stamps[: bisect_left(stamps, now - max(w for _, w in SEARCH_RATE_LIMITS))]
        if any(len(stamps) - bisect_left(stamps, now - w) >= n for n, w in SEARCH_RATE_LIMITS):
            return False
        stamps.append(now)
        return True

    def _search_view(self, lead: dict) -> dict:
        """A CampaignLeadSearchResultsView of a loaded lead (caller holds the lock)."""
        cid = lead["campaign_id"]
        campaign = self._campaigns.get(cid, {})
        return {
            "leadId": lead["seq"],
            "listId": 1000 + lead["request_no"],
            "listDesc": lead["description"],
            "campaignId": cid,
            "campaignName": campaign.get("name"),
            "dialGroupId": campaign.get("dial_group_id"),
            "externId": lead["extern_id"],
            "leadPhone": lead["lead"].get("leadPhone"),
            "leadState": lead.get("state", "READY"),
            "firstName": lead["lead"].get("firstName"),
            "lastName": lead["lead"].get("lastName"),
        }

    def _record(self, cid: int, options: dict, accepted: list[dict], request_no: int, received_at: float) -> None:
        """Append accepted leads to the log (caller holds the lock)."""
        for lead in accepted:
            self._leads.append(
                {
                    "seq": len(self._leads) + 1,
                    "request_no": request_no,
                    "account_id": self.account_id,
                    "campaign_id": cid,
                    "dial_priority": options["dial_priority"],
                    "duplicate_handling": options["duplicate_handling"],
                    "description": options["description"],
                    "list_state": options["list_state"],
                    "time_zone_option": options["time_zone_option"],
                    "extern_id": lead["externId"],
                    "lead": lead,
                    "received_at": received_at,
                }
            )
        self._stats["leads_accepted"] += len(accepted)


def serve(fake: FakeEngage, host: str = "127.0.0.1", port: int = 0) -> FakeServer:
    """Run `fake` on a real socket in a daemon thread; `.url`, `.port`, `.stop()`, `.start()`."""
    return FakeServer(fake.wsgi_app, host, port, on_stop=fake._release_hangs).start()


def main(argv: list[str] | None = None) -> int:
    """CLI: serve a fake Engage until SIGTERM/SIGINT, printing FAKE_ENGAGE_URL=… first."""
    parser = argparse.ArgumentParser(prog="python -m engage.fake", description=__doc__.splitlines()[0])
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
    fake = FakeEngage(
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

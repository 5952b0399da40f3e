"""A fake RingCentral Engage Voice (RingCX) server, faithful to RingCentral's published Engage Voice API.

It is the sandbox backend, the tests' backend and the benchmarks' backend. It accepts:
  * RingCentral OAuth: Basic DEFAULT_CLIENT_ID:DEFAULT_CLIENT_SECRET, JWT grant with DEFAULT_JWT;
  * the RingCX exchange, refresh and Bearer tokens (JWTs with exp/iat, TTL 300 s by default);
  * legacy X-Auth-Token for tokens given in `api_tokens` (DEFAULT_API_TOKEN is only a suggestion);
  * account DEFAULT_ACCOUNT_ID, under both /voice/api/v1 and /api/v1.
State is in memory behind one lock and bounded: the newest `max_leads` accepted leads (engage/fake_leads.py),
expired tokens purged. This is the product's sandbox (`make run` without credentials): it behaves as Engage
does and has no fault switches or test controls. Tests and benchmarks use harness/fake_engage.py, a subclass
that overrides the `_fault_*` hooks below (faults, /_fake/ control API, the `python -m` process).
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from engage import fake_lists as lists
from engage import fake_loader as loader
from engage.fake_http import PHRASES as _PHRASES
from engage.fake_http import Req, Resp
from engage.fake_http import error_response as _error
from engage.fake_http import json_response as _json
from engage.fake_http import text_response as _text
from engage.fake_leads import DEFAULT_MAX_LEADS, LeadLog
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
REFRESH_TOKEN_TTL = 604800.0  # RingCentral's refresh tokens: 7 days
MAX_TOKENS = 1000  # of each kind; a client only ever uses its newest
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

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


class FakeEngage:
    """In-memory Engage: OAuth, exchange, refresh, dial groups, campaigns, lead loader, lead search.

    Extending it (a new endpoint): a route in _ROUTES names a `_get_<name>` method or one
    dispatched in _api_inner; what the harness may break goes through a `_fault_*` hook.
    """

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
        max_leads: int = DEFAULT_MAX_LEADS,
    ) -> None:
        """Configure the credentials it accepts, token lifetimes, limits, initial campaigns and leads kept."""
        self.account_id = str(account_id)
        self.client_id, self.client_secret, self.jwt = client_id, client_secret, jwt
        self.api_tokens = set(api_tokens or ())
        self.token_ttl = token_ttl
        self.strict_rate_limits = strict_rate_limits
        self.rate_limits = [(int(n), float(w)) for n, w in rate_limits]
        self.exchange_limit, self.exchange_window = exchange_limit, exchange_window
        self.rc_token_ttl = rc_token_ttl
        self.max_leads = max_leads
        self._lock = threading.RLock()
        self._key = secrets.token_bytes(32)
        self._next_dial_group, self._next_campaign = 115701, 136701
        self._dial_groups: dict[int, dict] = {}
        self._campaigns: dict[int, dict] = {}
        # Token → expiry (time.time()); each bounded by _keep_token, so a long-lived sandbox stays small.
        self._rc_access: dict[str, float] = {}
        self._rc_refresh: dict[str, float] = {}
        self._access: dict[str, float] = {}
        self._refresh: dict[str, float] = {}
        self._reset_counters()
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

    def dnc_entries(self, tag: str | None = None) -> list[dict]:
        """The internal DNC list (optionally one tag), oldest first: the sandbox shows what an opt-out did."""
        return lists.entries(self, tag)

    def dialable(self) -> list[dict]:
        """Kept leads the dialer would still call (not cancelled or deleted, no number on the DNC list)."""
        return lists.dialable(self)

    def lead_count(self) -> int:
        """How many accepted leads are kept (at most max_leads)."""
        with self._lock:
            return len(self._leads)

    def _reset_counters(self) -> None:
        """Zero the counters and windows (caller holds the lock or is the constructor)."""
        self._leads = LeadLog(self.max_leads)
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
        )
        self._search_stamps: list[float] = []
        self._status_counts: Counter = Counter()
        self._loader_status_counts: Counter = Counter()
        self._loader_stamps: dict[str, list[float]] = {}
        self._exchange_stamps: list[float] = []
        lists.reset(self)  # the DNC list, lead-action log and their counters (engage/fake_lists.py)

    def on_stop(self) -> None:
        """Its server stopped (nothing to do here; the harness releases hung calls)."""

    # -- WSGI --------------------------------------------------------------------------------

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI entry point."""
        try:
            req = Req(environ)
            status, body, headers = self._dispatch(req)
        except Exception as exc:  # a bug in the fake must show up as a 500, not a dropped socket
            status, body, headers = _text(500, f"fake engage error: {exc!r}")
            req = None
        if req is not None and self._counted(req):
            with self._lock:
                self._status_counts[status] += 1
                if status == 429:
                    self._stats["http_429"] += 1
        headers.append(("Content-Length", str(len(body))))
        start_response(_PHRASES.get(status, f"{status} Status"), headers)
        return [body]

    __call__ = wsgi_app

    def _counted(self, req: Req) -> bool:
        """Whether this request counts in the status counters (the harness leaves out its control calls)."""
        return True

    def _dispatch(self, req: Req) -> Resp:
        """Route one request."""
        with self._lock:
            self._stats["requests"] += 1
        if req.path in _TOKEN_PATHS:
            outage = self._fault_token_endpoint(req)
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

    # -- fault hooks: Engage's own behaviour here; harness/fake_engage.py overrides them -------

    def _fault_token_endpoint(self, req: Req) -> Resp | None:
        """An outage answer from the token endpoints, or None (they work)."""
        return None

    def _fault_loader_status(self, req: Req) -> Resp | None:
        """A load balancer's answer to a loader call before Engage sees it, or None."""
        return None

    def _fault_auth(self) -> Resp | None:
        """A 401 for a call whose token is good, or None (caller holds the lock)."""
        return None

    def _fault_refresh(self) -> bool:
        """True to refuse a good refresh token (caller holds the lock)."""
        return False

    def _fault_search(self, req: Req) -> Resp | None:
        """An answer to leadSearch before Engage looks, or None."""
        return None

    def _fault_batch(self, req: Req, options: dict[str, Any]) -> Resp | None:
        """An answer refusing a well-formed loader call as a whole, or None (caller holds the lock)."""
        return None

    def _fault_row(self, lead: dict[str, Any]) -> str | None:
        """Why the account would reject this valid row, or None (caller holds the lock)."""
        return None

    def _fault_answer(self) -> Resp | None:
        """An answer replacing a loader call's result after its leads were recorded, or None (lock held)."""
        return None

    def _fault_lists(self, req: Req) -> Resp | None:
        """An answer to a dncLists or lead-action call before Engage looks, or None."""
        return None

    def _fault_lists_hang(self) -> tuple[float, bool, threading.Event | None]:
        """(seconds to hang a dncLists / lead-action call, after carrying it out?, the event that ends it)."""
        return 0.0, False, None

    def _token_lifetime(self) -> float:
        """Seconds an access token issued now lives."""
        return float(self.token_ttl)

    def _exchange_limit_now(self) -> int:
        """Token exchanges allowed per window (0 = unlimited)."""
        return int(self.exchange_limit)

    def _loader_limits(self) -> list[tuple[int, float]] | None:
        """The loader's sliding windows, None when not enforced."""
        return self.rate_limits if self.strict_rate_limits else None

    def _not_found_status(self) -> int:
        """What an unknown account or campaign answers."""
        return 404

    def _campaign_status(self, cid: int) -> int | None:
        """The status a loader call to this campaign gets before anything else, None when it exists."""
        return None if cid in self._campaigns else self._not_found_status()

    def _retry_after_header(self) -> list[tuple[str, str]]:
        """The Retry-After header on 429s (Engage sends none)."""
        return []

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
                self._rc_refresh.pop(token, None)
            else:
                return _json(
                    400, {"error": "unsupported_grant_type", "error_description": f"Unsupported grant type: {grant}"}
                )
            access, refresh = opaque_token("U0pDMTJQMDFQQVMwMHxBQUF"), opaque_token("U0pDMTJQMDFQQVMwMHxBQUJ")
            now = time.time()
            _keep_token(self._rc_access, access, now + self.rc_token_ttl, now)
            _keep_token(self._rc_refresh, refresh, now + REFRESH_TOKEN_TTL, now)
        return _json(
            200,
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": int(self.rc_token_ttl),
                "refresh_token": refresh,
                "refresh_token_expires_in": int(REFRESH_TOKEN_TTL),
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
        limit = self._exchange_limit_now()
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
            if self._fault_refresh() or token not in self._refresh:
                return _error(401, "Invalid refresh token", req.path)
            self._refresh.pop(token, None)
            return _json(200, self._issue(True))

    def _issue(self, include_refresh: bool) -> dict:
        """Mint an access token (and a refresh token); AccessTokenUserDetails (caller holds the lock)."""
        ttl = self._token_lifetime()
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
        _keep_token(self._access, access, now + ttl, now)
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
            _keep_token(self._refresh, refresh, now + REFRESH_TOKEN_TTL, now)
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
            forced = self._fault_loader_status(req)
            if forced:
                return forced
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
            forced = self._fault_auth()
            if forced:
                return forced
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
        refused = self._loader_refusal(req, cid)
        return refused or self._load(req, cid, request_no, received_at)

    def _loader_refusal(self, req: Req, cid: int) -> Resp | None:
        """The campaign's 404 (or a forced status) or the rate limit's 429, else None (the call goes on)."""
        with self._lock:
            status = self._campaign_status(cid)
            if status:
                return _error(int(status), f"Campaign {cid} not found", req.path)
            if not self._loader_admitted():
                self._stats["loader_429"] += 1
                return _text(429, "Too Many Requests", self._retry_after_header())
        return None

    def _loader_admitted(self) -> bool:
        """Sliding windows per account (caller holds the lock); admitted calls are counted."""
        limits = self._loader_limits()
        if limits is None:
            return True
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
            refused = self._fault_batch(req, options)
            if refused:
                return refused
            accepted, rejected_rows = [], []
            for lead in leads:
                problem = loader.row_problem(lead) or self._fault_row(lead)
                if problem:
                    rejected_rows.append({"message": problem, "rowData": loader.row_data(lead)})
                else:
                    accepted.append(lead)
            self._record(cid, options, accepted, request_no, received_at)
            self._stats["rows_rejected"] += len(rejected_rows)
            self._stats["loader_ok"] += 1
            self._stats["max_batch"] = max(self._stats["max_batch"], len(leads))
            replaced = self._fault_answer()
            if replaced:
                return replaced
        return _json(200, loader.result_body(options, len(leads), accepted, rejected_rows))

    def _lead_search(self, req: Req) -> Resp:
        """POST …/campaignLeads/leadSearch: loaded leads by campaignIds/externIds (15/10 s, 60/30 s)."""
        refused = self._fault_search(req) or self._search_refusal(req)
        if refused:
            return refused
        try:
            criteria = req.json()
        except ValueError:
            return _error(400, "Malformed JSON request body", req.path)
        if not isinstance(criteria, dict):
            return _error(400, "body must be a CampaignLeadSearchCriteria object", req.path)
        max_rows = int(req.query.get("maxRows") or 50)
        with self._lock:
            # campaignIds, externIds, leadPhoneNumbers, leadStates, leadIds: each one given must match.
            rows = [self._search_view(lead) for lead in lists.search(self, criteria, max_rows)]
        return _json(200, rows)

    def _search_refusal(self, req: Req) -> Resp | None:
        """The 429 when leadSearch's windows are full, else None; every call is counted."""
        with self._lock:
            self._stats["search_calls"] += 1
            if self._search_admitted():
                return None
            self._stats["search_429"] += 1
        return _text(429, "Too Many Requests", self._retry_after_header())

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
            "leadState": lead.get("state") or ("READY" if not lead.get("passes") else "ACTIVE"),
            "firstName": lead["lead"].get("firstName"),
            "lastName": lead["lead"].get("lastName"),
            # The dialer's passes over the lead (field name unconfirmed: engage/client.py lead_passes).
            "leadPasses": lead.get("passes", 0),
        }

    def _record(self, cid: int, options: dict, accepted: list[dict], request_no: int, received_at: float) -> None:
        """Append accepted leads to the log (caller holds the lock)."""
        for lead in accepted:
            self._leads.append(
                {
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


def _keep_token(tokens: dict[str, float], token: str, expires: float, now: float) -> None:
    """Remember a token; past MAX_TOKENS, forget the expired ones, then the oldest (a client holds the newest)."""
    tokens[token] = expires
    if len(tokens) > MAX_TOKENS:
        for old in [t for t, e in tokens.items() if e <= now]:
            del tokens[old]
        while len(tokens) > MAX_TOKENS:
            del tokens[next(iter(tokens))]


def serve(fake: FakeEngage, host: str = "127.0.0.1", port: int = 0) -> FakeServer:
    """Run `fake` on a real socket in a daemon thread; `.url`, `.port`, `.stop()`, `.start()`."""
    return FakeServer(fake.wsgi_app, host, port, on_stop=fake.on_stop).start()

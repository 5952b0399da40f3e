"""Engage authentication: RingCentral JWT grant → RingCX token exchange, refresh, legacy API tokens."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import requests

from engage.errors import AuthError, ExchangeThrottled, Unavailable, parse_retry_after
from engage.http import Timeout, json_or_none, make_session, send
from windows import SlidingWindow

log = logging.getLogger(__name__)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_LIFETIME = 300.0  # RingCX documents 5-minute access tokens
EXCHANGE_LIMIT = 5  # RingCX allows 5 exchanges per minute
EXCHANGE_WINDOW = 60.0


def mask(token: str | None) -> str:
    """Show only the end of a secret, enough to tell two tokens apart in a log."""
    if not token:
        return "<none>"
    return f"…{token[-4:]}" if len(token) > 8 else "…"


@dataclass(frozen=True)
class TokenState:
    """An Engage access token with its refresh token; times are local epoch seconds."""

    access_token: str
    refresh_token: str | None
    expires_at: float
    obtained_at: float

    def to_dict(self) -> dict[str, Any]:
        """Serialize for a database-backed store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenState:
        """Rebuild from `to_dict()` output."""
        return cls(data["access_token"], data.get("refresh_token"), data["expires_at"], data["obtained_at"])

    def fresh(self, now: float, margin: float) -> bool:
        """True while the token is usable without a refresh, `margin` seconds ahead of expiry."""
        # A margin larger than half the lifetime would refresh on every call with short-lived tokens.
        margin = min(margin, (self.expires_at - self.obtained_at) / 2)
        return now < self.expires_at - margin


class TokenStore(Protocol):
    """Where the current token lives; the dispatcher plugs in a database-backed one."""

    def load(self) -> TokenState | None:
        """Return the current token, or None."""

    def save(self, state: TokenState | None) -> None:
        """Replace the current token (None forgets it)."""


class EngageAuth(Protocol):
    """What the client needs from an authentication: headers to send, and a way to drop a refused token."""

    def headers(self) -> dict[str, str]:
        """Headers that authenticate one call."""

    def invalidate(self, access_token: str | None = None) -> None:
        """Forget `access_token` after a 401 (a no-op for a static API token)."""


class MemoryTokenStore:
    """A TokenStore kept in this process."""

    def __init__(self, state: TokenState | None = None) -> None:
        """Start with an optional token."""
        self._state = state
        self._lock = threading.Lock()

    def load(self) -> TokenState | None:
        """Return the current token, or None."""
        with self._lock:
            return self._state

    def save(self, state: TokenState | None) -> None:
        """Replace the current token."""
        with self._lock:
            self._state = state


class ExchangeBudget:
    """Rolling-window count of token exchanges, so we refuse locally before RingCX answers 429."""

    def __init__(
        self, limit: int = EXCHANGE_LIMIT, window: float = EXCHANGE_WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Allow `limit` exchanges per `window` seconds."""
        self.limit, self.window, self._clock = limit, window, clock
        self._window = SlidingWindow(limit, window)
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Spend one exchange or raise ExchangeThrottled with the wait until a slot frees."""
        with self._lock:
            now = self._clock()
            if self._window.count(now) >= self.limit:
                raise ExchangeThrottled(
                    f"token exchange budget spent ({self.limit}/{self.window:g}s)", retry_after=self._window.wait(now)
                )
            self._window.add(now)

    def seed(self, ages: list[float]) -> None:
        """Count exchanges made `ages` seconds ago (by a predecessor) as spent."""
        with self._lock:
            now = self._clock()
            self._window.seed(now - age for age in ages)

    def used(self) -> int:
        """Exchanges spent in the current window."""
        with self._lock:
            return self._window.count(self._clock())


def jwt_lifetime(token: str, now: float | None = None) -> float | None:
    """Read a JWT's lifetime in seconds (exp − iat, else exp − now); None when not a readable JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        exp = float(payload["exp"])
        start = float(payload["iat"]) if "iat" in payload else (time.time() if now is None else now)
    except (ValueError, KeyError, TypeError):
        return None
    return exp - start


def state_from_answer(body: dict[str, Any], received_at: float, previous: TokenState | None = None) -> TokenState:
    """Turn an AccessTokenUserDetails answer into a TokenState timed from local receipt."""
    access = body.get("accessToken")
    if not isinstance(access, str) or not access:
        raise AuthError("token answer has no accessToken", body=json.dumps(body)[:200])
    lifetime = jwt_lifetime(access)
    if lifetime is None or lifetime <= 0:
        lifetime = DEFAULT_LIFETIME
    refresh = body.get("refreshToken") or (previous.refresh_token if previous else None)
    return TokenState(access, refresh, received_at + lifetime, received_at)


class ApiTokenAuth:
    """Legacy/permanent API token sent as X-Auth-Token; nothing to refresh."""

    refreshable = False

    def __init__(self, token: str) -> None:
        """Keep the token."""
        self._token = token

    def headers(self) -> dict[str, str]:
        """Headers that authenticate one API call."""
        return {"X-Auth-Token": self._token}

    def invalidate(self, access_token: str | None = None) -> None:
        """Nothing to do: a permanent token cannot be renewed."""

    def __repr__(self) -> str:
        """Never print the token itself."""
        return f"ApiTokenAuth({mask(self._token)})"


class RingCentralJWTAuth:
    """RingCentral JWT grant → RingCX exchange; proactive refresh, single-flight, exchange budget."""

    refreshable = True

    def __init__(
        self,
        server_url: str,
        engage_base_url: str,
        client_id: str,
        client_secret: str,
        jwt: str,
        store: TokenStore | None = None,
        session: requests.Session | None = None,
        timeout: Timeout = (2.0, 5.0),
        refresh_margin: float = 60.0,
        exchange_budget: ExchangeBudget | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Configure hosts, credentials, where the token is kept and how early to refresh."""
        self.server_url = server_url.rstrip("/")
        self.engage_base_url = engage_base_url.rstrip("/")
        self._client = (client_id, client_secret)
        self._jwt = jwt
        self.store = store if store is not None else MemoryTokenStore()
        self.session = session if session is not None else make_session()
        self.timeout = timeout
        self.refresh_margin = refresh_margin
        self.exchange_budget = exchange_budget if exchange_budget is not None else ExchangeBudget()
        self._clock = clock
        self._lock = threading.Lock()  # single-flight: one renewal at a time, the others reuse it
        self._rc_token: tuple[str, float] | None = None  # RingCentral token, reused across exchanges

    def __repr__(self) -> str:
        """Never print secrets."""
        return f"RingCentralJWTAuth({self.engage_base_url}, client={mask(self._client[0])})"

    def headers(self) -> dict[str, str]:
        """Authorization header with a token that is fresh for at least the refresh margin."""
        return {"Authorization": f"Bearer {self.token().access_token}"}

    def token(self) -> TokenState:
        """The current TokenState, renewed first when needed."""
        state = self.store.load()
        if state is None or not state.fresh(self._clock(), self.refresh_margin):
            state = self._renew_single_flight()
        return state

    def invalidate(self, access_token: str | None = None) -> None:
        """Mark the token expired after a 401, unless another thread already replaced it."""
        with self._lock:
            state = self.store.load()
            if state is None or (access_token is not None and state.access_token != access_token):
                return
            # Keep the refresh token: the next headers() refreshes instead of spending an exchange.
            self.store.save(replace(state, expires_at=0.0, obtained_at=0.0))

    def _renew_single_flight(self) -> TokenState:
        """Renew under the lock; a thread that waited finds the token another one just saved."""
        with self._lock:
            state = self.store.load()  # re-read: the store is the only truth (it may be shared)
            if state is not None and state.fresh(self._clock(), self.refresh_margin):
                return state
            new = self._renew(state)
            self.store.save(new)
            return new

    def _renew(self, state: TokenState | None) -> TokenState:
        """Refresh with the RingCX refresh token; fall back to a full grant when it is refused."""
        if state is not None and state.refresh_token:
            try:
                return self._refresh(state)
            except Unavailable:
                raise  # Engage is down: a full grant would fail too and burn exchange budget
            except AuthError as exc:
                log.info("engage refresh refused (%s); doing a full JWT grant", exc.message)
        return self._grant_and_exchange()

    def _refresh(self, state: TokenState) -> TokenState:
        """POST /api/auth/token/refresh; rotates both tokens."""
        url = f"{self.engage_base_url}/api/auth/token/refresh"
        data = {"refresh_token": state.refresh_token, "rcTokenType": "Bearer"}
        resp = send(self.session, "POST", url, data=data, timeout=self.timeout)
        received = self._clock()
        body = self._check(resp, "token refresh")
        return state_from_answer(body, received, previous=state)

    def _grant_and_exchange(self) -> TokenState:
        """Get a RingCentral token (cached) and exchange it for a RingCX token."""
        rc_token = self._rc_access_token()
        # Spend a slot only now that an exchange will really be sent; refuse before RingCX answers 429.
        self.exchange_budget.acquire()
        url = f"{self.engage_base_url}/api/auth/login/rc/accesstoken"
        data = {"rcAccessToken": rc_token, "rcTokenType": "Bearer"}
        resp = send(self.session, "POST", url, params={"includeRefresh": "true"}, data=data, timeout=self.timeout)
        received = self._clock()
        if resp.status_code == 429:
            raise ExchangeThrottled(
                "token exchange throttled by RingCX",
                status=429,
                body=resp.text,
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            )
        if resp.status_code in (400, 401, 403):
            self._rc_token = None  # the RingCentral token may be revoked; the next try gets a new one
        body = self._check(resp, "token exchange")
        log.info("engage token exchanged (exchanges in window: %d)", self.exchange_budget.used())
        return state_from_answer(body, received)

    def _rc_access_token(self) -> str:
        """Return a RingCentral access token, running the JWT grant when none is cached."""
        now = self._clock()
        if self._rc_token and self._rc_token[1] - 60 > now:
            return self._rc_token[0]
        url = f"{self.server_url}/restapi/oauth/token"
        data = {"grant_type": JWT_GRANT, "assertion": self._jwt}
        resp = send(self.session, "POST", url, data=data, auth=self._client, timeout=self.timeout)
        if resp.status_code == 429:
            raise ExchangeThrottled(
                "RingCentral OAuth throttled",
                status=429,
                body=resp.text,
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            )
        body = self._check(resp, "RingCentral JWT grant")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError("RingCentral answer has no access_token", status=resp.status_code)
        expires_in = float(body.get("expires_in") or 3600)
        self._rc_token = (token, now + expires_in)
        return token

    @staticmethod
    def _check(resp: requests.Response, what: str) -> dict[str, Any]:
        """Return the JSON body of a 2xx; map failures to Unavailable (5xx) or AuthError."""
        if resp.status_code >= 500:
            raise Unavailable(f"{what} failed", status=resp.status_code, body=resp.text)
        if resp.status_code == 429:
            raise ExchangeThrottled(
                f"{what} throttled",
                status=429,
                body=resp.text,
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            )
        if not 200 <= resp.status_code < 300:
            raise AuthError(f"{what} refused", status=resp.status_code, body=resp.text)
        body = json_or_none(resp)
        if not isinstance(body, dict):
            # A 2xx nobody can read is the endpoint misbehaving (an outage), not refused credentials.
            raise Unavailable(f"{what} answered without JSON", status=resp.status_code, body=resp.text)
        return body

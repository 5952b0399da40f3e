"""What every source type shares: the inbound request, the parsed record, the failures, the registry."""

from __future__ import annotations

import hmac
import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from marshmallow import Schema
from werkzeug.datastructures import Headers


@dataclass(frozen=True)
class Inbound:
    """One HTTP request as the sender made it: raw bytes and the URL it signed."""

    method: str
    url: str  # scheme://host/path?query exactly as the sender called it (PUBLIC_URL applied)
    path: str
    query: Mapping[str, list[str]]  # decoded query parameters, every value a list
    headers: Mapping[str, str] | Headers  # case-insensitive (werkzeug Headers or CaseInsensitiveDict)
    body: bytes
    content_type: str = ""
    remote_addr: str = ""

    def header(self, name: str) -> str | None:
        """Return one header value or None (case-insensitive)."""
        return self.headers.get(name)

    def query_value(self, name: str) -> str | None:
        """Return the first value of a query parameter or None."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Record:
    """One lead-to-be as the sender described it, before mapping."""

    # Idempotency key from the sender's own ids (never retry counters). None means the
    # sender gave no id: intake then uses a hash of `fields` and applies `dedupe_window`.
    key: str | None
    # Sender-native fields: the sender's own names (HubSpot property, Typeform ref, form
    # key...). Nested dicts are allowed; `fields:` and `when:` reach them by dotted path.
    fields: dict[str, Any]
    # The sender's event name (e.g. "contact.creation", "form_response"), for `events:`.
    event: str | None = None
    # Id-only senders (HubSpot Webhooks API, Meta Lead Ads, Pipedrive deals): what to fetch,
    # e.g. {"object": "contact", "id": "123"}. Intake stores the lead as `fetching`; the fetch
    # pool calls the type's `fetch()` off the request path, then maps and routes the result.
    fetch: dict[str, Any] | None = None

    def get(self, path: str, default: Any = None) -> Any:
        """Read a field by its exact name first, then as a dotted path into nested dicts/lists."""
        return resolve_path(self.fields, path, default)


_MISSING = object()


def resolve_path(data: Any, path: str, default: Any = None) -> Any:
    """Look `path` up in `data`: an exact key wins, else walk dots (list items by index)."""
    if isinstance(data, Mapping) and path in data:
        return data[path]
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.isascii() and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return default
        if current is _MISSING:
            return default
    return current


@dataclass
class SourceSettings:
    """A configured source as the handlers and mappings see it (built by config.py)."""

    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)  # type-specific keys, validated
    fields: dict[str, Any] = field(
        default_factory=dict
    )  # the source's `fields:` overrides only; mappings merge them over the type's defaults
    tokens: list[str] = field(default_factory=list)  # `token:` values (rotation: several)
    token_field: str | None = None
    default_region: str = "US"
    public_url: str | None = None
    phones: str = "all"  # "all" or "primary"
    e164: bool = False
    # With a signature configured the token alone is not enough, unless the operator opts out.
    allow_token_alone: bool = False
    # Plain field names the source's own lifecycle rules test (`opt_out_when:` …): a fetch that reads
    # only the fields it names (HubSpot's properties) asks for these too, so a rule can match.
    rule_fields: tuple[str, ...] = ()


class AuthFailure(Exception):
    """Authentication failed; `reason` is the machine-readable code put in the 401 body."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


class Malformed(Exception):
    """The body could not be parsed into records (answered 400 for developer-facing types)."""


class RateLimited(Exception):
    """Too many requests from one client (html_form's per-IP limit): 429, nothing stored."""


class FetchError(Exception):
    """Fetching an id-only record from the sender's API failed; `retryable` says whether to try again."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class Reply:
    """A sender-specific answer (Salesforce's SOAP Ack, html_form's redirect or page)."""

    status: int
    body: str | bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def secrets_equal(expected: str | bytes, given: str | bytes | None) -> bool:
    """Constant-time comparison that tolerates a missing value."""
    if given is None:
        return False
    if isinstance(expected, str):
        expected = expected.encode()
    if isinstance(given, str):
        given = given.encode()
    return hmac.compare_digest(expected, given)


class SourceType:
    """Base class of a sender type: declare data, implement verify and parse."""

    name: ClassVar[str] = ""
    # True when the sender retries or disables the hook on 4xx: such types answer 2xx with
    # per-record `invalid` statuses once the payload is stored.
    retries: ClassVar[bool] = True
    # The most records the sender ever puts in one request (its docs), or None: config's default.
    max_records: ClassVar[int | None] = None
    # Type-specific config keys (auth secrets, options); validated at start-up.
    options_schema: ClassVar[type[Schema] | None] = None
    # True when a source of this type may run with no authentication at all (a browser form
    # cannot keep a secret): config then warns instead of refusing it.
    allows_no_auth: ClassVar[bool] = False
    # Default lifecycle rules, by config key (`opt_out_when`, `cancel_when`, `erase_when`): each a
    # list of `when` mappings, any of which matches. Verified against the sender's docs and
    # recorded as fixtures in tests/data/<type>/ (tests/lifecycle/test_lifecycle_defaults.py).
    lifecycle_defaults: ClassVar[dict[str, list[dict[str, Any]]]] = {}
    # True when the sender's records only ever carry lifecycle changes (an SMS STOP channel: anyone
    # can text the number): a record no lifecycle rule matches is stored `dropped`, never a lead.
    lifecycle_only: ClassVar[bool] = False
    # True when the type's own scheme is a signature over the request (HMAC, HubSpot v3): then, when
    # configured, it is required and the shared token alone does not pass (`allow_token_alone: true`
    # opts out). Schemes that are themselves shared values (Basic auth, a key header, a public org id,
    # an Origin allow-list) leave either one enough.
    own_auth_signs: ClassVar[bool] = False

    # True when the type's own scheme (e.g. a signature) is configured in `options`.
    def has_own_auth(self, source: SourceSettings) -> bool:
        """Whether this source configures the sender's own authentication scheme."""
        return False

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Authenticate the raw request with the sender's own scheme; raise AuthFailure."""
        raise NotImplementedError

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """Turn the raw body into records; raise Malformed when it cannot be read."""
        raise NotImplementedError

    # ---- optional capabilities: declared here with what a type without them does ----------
    # True when the sender posts ids only: the dispatcher's fetch pool then calls `fetch` to
    # complete each record (tests/handlers/test_capabilities.py: `fetches` iff `fetch` is defined).
    fetches: ClassVar[bool] = False
    # The sender's own API limit for those fetches, (requests, seconds), or None for no limit.
    fetch_rate: ClassVar[tuple[int, float] | None] = None
    # False for senders whose records report on leads instead of being leads (the dialer's
    # events, `ringcx`): intake stores them as attempts matched to their leads, never queues them.
    makes_leads: ClassVar[bool] = True

    def fetch(self, source: SourceSettings, record: Record, session: Any) -> Record:
        """Complete an id-only record from the sender's API (raise FetchError); fetching types only."""
        raise NotImplementedError(f"source type {self.name!r} does not fetch records")

    def handshake(self, source: SourceSettings, request: Inbound) -> tuple[int, str] | None:
        """Answer a GET subscription handshake as (status, text); None: the source takes POST only."""
        return None

    def reply(self, source: SourceSettings, request: Inbound, status: int, body: dict[str, Any]) -> Reply | None:
        """Replace intake's JSON answer (`body`) with the sender's own; None keeps intake's."""
        return None

    def client_address(self, source: SourceSettings, request: Inbound) -> str:
        """The client's address as this type trusts it (stored on the event row)."""
        return request.remote_addr

    def shared_limits(
        self, source: SourceSettings, request: Inbound, records: list[Record]
    ) -> list[tuple[str, str, int, float]]:
        """Database-backed limits to check as (kind, key, count, seconds); none by default."""
        return []


_REGISTRY: dict[str, SourceType] = {}


def register(cls: type[SourceType]) -> type[SourceType]:
    """Class decorator: make a source type available under its `name`."""
    _REGISTRY[cls.name] = cls()
    return cls


def load_all() -> dict[str, SourceType]:
    """Import every module in handlers/ once, so that each registers its type."""
    if not _LOADED:
        import handlers

        for module in pkgutil.iter_modules(handlers.__path__):
            if not module.name.startswith("_") and module.name not in ("base",):
                importlib.import_module(f"handlers.{module.name}")
        _LOADED.append(True)
    return dict(_REGISTRY)


_LOADED: list[bool] = []


def get(type_name: str) -> SourceType | None:
    """Return the registered source type, or None when unknown."""
    return load_all().get(type_name)


def type_of(type_name: str) -> SourceType:
    """The registered source type of a configured source (config has refused unknown types)."""
    stype = get(type_name)
    if stype is None:
        raise LookupError(f"unknown source type {type_name!r}: config validation lets none through")
    return stype

"""Plain HTML form POSTs from a browser: honeypot, per-IP/per-phone rate limits, origin check, HTML answers.

Record.fields: the posted `name → value` (a repeated name → list of values; file parts are
skipped), plus two markers set by leadrelay (a posted field of the same name is replaced):
`_id` = "web-" + a hash of the posted fields (the server-generated externId: a browser sends
no id, and a double-submit must hash alike) and `_honeypot` = True when the honeypot field was
filled. Key: None, so intake hashes the record and `dedupe_window` absorbs double-submits.
A filled honeypot is stored but the mapping refuses it (reason `honeypot`), so it never dials,
while the browser gets the normal success answer.
"""

from __future__ import annotations

import hashlib
import html
import ipaddress
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, validate

from handlers._forms import is_form, read_form
from handlers.base import (
    AuthFailure,
    Inbound,
    Malformed,
    RateLimited,
    Record,
    Reply,
    SourceSettings,
    SourceType,
    register,
    resolve_path,
)
from lead.fieldmap import merge_fields
from lead.phones import normalize_phones
from windows import SlidingWindow

ID_FIELD = "_id"
# Set on a record whose honeypot was filled (a posted field of that name is discarded);
# mappings/html_form.py turns a marked record into an `invalid` lead that is never dialed.
HONEYPOT_MARK = "_honeypot"
# The form's default phone inputs, primary first: the mapping's default `leadPhone` and the
# per-phone rate limit read the same list.
PHONE_FIELDS = ("phone", "tel", "mobile")
DEFAULT_HONEYPOT = "website"
DEFAULT_RATE_LIMIT = {"per_ip": "10/10m", "per_phone": "3/1h"}
RETRY_AFTER = "60"
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|m|h|d)?\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


# ---------------------------------------------------------------------------- options


def parse_rate(spec: str) -> tuple[int, float]:
    """Turn "10/10m" (count / duration; "5/m" = per minute) into (count, seconds)."""
    match = _RATE.match(spec) if isinstance(spec, str) else None
    if not match:
        raise ValueError(f"{spec!r} is not a rate like 10/10m or 3/1h")
    count, amount, unit = int(match.group(1)), match.group(2), match.group(3)
    if amount is None and unit is None:
        raise ValueError(f"{spec!r} has no duration: write 10/10m or 3/1h")
    seconds = float(amount or 1) * _UNIT[unit]
    if count < 1 or seconds <= 0:
        raise ValueError(f"{spec!r}: count and duration must be positive")
    return count, seconds


class Rate(fields.Field[tuple[int, float] | None]):
    """Config field: a rate like "10/10m", or false/null to turn that limit off."""

    def __init__(self, **kwargs: Any) -> None:
        """Allow null (off)."""
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> tuple[int, float] | None:
        """`N/duration` → (N, seconds); false → None."""
        if value is False:
            return None
        try:
            return parse_rate(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class RateLimitOptions(Schema):
    """`rate_limit:` — per client address and per phone number, each a rate or false."""

    per_ip = Rate(load_default=parse_rate(DEFAULT_RATE_LIMIT["per_ip"]))
    per_phone = Rate(load_default=parse_rate(DEFAULT_RATE_LIMIT["per_phone"]))


class RateLimitField(fields.Nested):
    """`rate_limit: false` turns both limits off; a mapping sets each."""

    def __init__(self, **kwargs: Any) -> None:
        """Nested RateLimitOptions, defaults on."""
        super().__init__(RateLimitOptions, **kwargs)

    def _deserialize(
        self,
        value: Any,
        attr: str | None,
        data: Mapping[str, Any] | None,
        partial: bool | Sequence[str] | AbstractSet[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """False → both off; otherwise the nested schema."""
        if value is False:
            return {"per_ip": None, "per_phone": None}
        return super()._deserialize(value, attr, data, partial=partial, **kwargs)


class Honeypot(fields.Field[str | bool]):
    """Config field: the honeypot's field name, or false to turn it off."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str | bool:
        """A non-empty field name, or False."""
        if value is False:
            return False
        if isinstance(value, str) and value.strip():
            return value.strip()
        raise ValidationError("a field name (e.g. website) or false")


class HtmlFormOptions(Schema):
    """html_form's own config keys."""

    redirect_url = fields.Url(schemes={"http", "https"}, require_tld=False)
    thank_you_message = fields.String(validate=validate.Length(min=1, max=500))
    honeypot = Honeypot(load_default=DEFAULT_HONEYPOT)
    rate_limit = RateLimitField(load_default=lambda: RateLimitOptions().load({}))
    allowed_origins = fields.List(fields.String(validate=lambda v: _check_entry(v)), validate=validate.Length(min=1))
    trust_forwarded_for = fields.Boolean(load_default=False)


def _option(source: SourceSettings, key: str) -> Any:
    """A loaded option, or its default when the settings were built without the schema (tests, tools)."""
    if key in source.options:
        return source.options[key]
    if key == "honeypot":
        return DEFAULT_HONEYPOT
    if key == "rate_limit":
        return RateLimitOptions().load({})
    return None


# ---------------------------------------------------------------------------- rate limits


class KeyedWindows:
    """One sliding window (windows.py) per key: at most `limit` hits per `window` seconds, in this process; thread-safe."""

    MAX_KEYS = 50_000  # bounds memory when addresses are sprayed; the oldest keys go first

    def __init__(self, limit: int, window: float) -> None:
        """No keys yet."""
        self.limit, self.window = limit, window
        self.hits: OrderedDict[str, SlidingWindow] = OrderedDict()
        self.lock = threading.Lock()

    def hit(self, key: str, now: float) -> bool:
        """Count one hit for `key` and return True, or return False (not counted) when over the limit."""
        with self.lock:
            window = self.hits.get(key)
            if window is None:
                self._evict(now)
                window = self.hits[key] = SlidingWindow(self.limit, self.window)
            if window.wait(now) > 0:
                return False
            window.add(now)
            self.hits.move_to_end(key)
            return True

    def _evict(self, now: float) -> None:
        """Before adding a key at MAX_KEYS: drop stale keys, then the least recently hit (lock held)."""
        if len(self.hits) < self.MAX_KEYS:
            return
        for key in [k for k, w in self.hits.items() if not w.count(now)]:
            del self.hits[key]
        # Free a tenth at once so a spray does not pay a full sweep on every new address.
        while len(self.hits) > self.MAX_KEYS * 9 // 10:
            self.hits.popitem(last=False)


# Monotonic: a wall-clock step must not open or shut every window. Tests replace it.
clock: Callable[[], float] = time.monotonic
_WINDOWS: dict[tuple[str, str, int, float], KeyedWindows] = {}
_WINDOWS_LOCK = threading.Lock()


def window_for(source: str, kind: str, rate: tuple[int, float]) -> KeyedWindows:
    """The process-wide window of one source and kind (a changed rate gets a fresh one)."""
    key = (source, kind, rate[0], rate[1])
    with _WINDOWS_LOCK:
        if key not in _WINDOWS:
            _WINDOWS[key] = KeyedWindows(*rate)
        return _WINDOWS[key]


def reset_limits() -> None:
    """Forget every window (tests; a config reload)."""
    with _WINDOWS_LOCK:
        _WINDOWS.clear()


def client_ip(source: SourceSettings, request: Inbound) -> str:
    """The client's address: the socket peer, or the router's last X-Forwarded-For hop when trusted."""
    address = request.remote_addr or ""
    if _option(source, "trust_forwarded_for"):
        # The platform router (Heroku) appends the address it saw as the LAST hop; earlier
        # hops are whatever the client wrote and can be forged.
        hops = [h.strip() for h in (request.header("X-Forwarded-For") or "").split(",") if h.strip()]
        if hops:
            address = hops[-1]
    return address or "unknown"


def ip_bucket(address: str) -> str:
    """The rate-limit key of an address: IPv4 as is, IPv6 by its /64 (one subscriber's prefix)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def primary_phone(source: SourceSettings, fields_: dict[str, Any]) -> str | None:
    """The number the mapping would dial first (for the per-phone limit), or None."""
    spec = merge_fields({"leadPhone": list(PHONE_FIELDS)}, source.fields).get("leadPhone", [])
    paths = [spec] if isinstance(spec, str) else list(spec)
    found = normalize_phones([resolve_path(fields_, p) for p in paths], source.default_region)
    return found.numbers[0] if found.numbers else None


# ---------------------------------------------------------------------------- origin check


def _host_of(value: str | None) -> tuple[str, str] | None:
    """(scheme, hostname) of an Origin or Referer value; None when absent or opaque ("null")."""
    if not value or value.strip().lower() == "null":
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower()


def _allowed_entry(entry: str) -> tuple[str | None, str] | None:
    """(scheme or None, host pattern) of an `allowed_origins` entry: host, origin URL or *.domain."""
    text = entry.strip().lower()
    parts = urlsplit(text if "://" in text else "//" + text)
    try:
        host = parts.hostname
    except ValueError:
        return None
    return (parts.scheme or None, host) if host else None


def _check_entry(entry: str) -> None:
    """Config validation of one `allowed_origins` entry."""
    if _allowed_entry(entry) is None:
        raise ValidationError(f"{entry!r} is not a host, an origin (https://www.example.com) or *.example.com")


def origin_allowed(allowed: list[str], request: Inbound) -> bool:
    """Whether the Origin (else Referer) host is listed; entries are hosts, origins or *.domain."""
    seen = _host_of(request.header("Origin")) or _host_of(request.header("Referer"))
    if seen is None:
        return False
    scheme, host = seen
    for entry in allowed:
        want = _allowed_entry(entry)
        if want is None or (want[0] and want[0] != scheme):
            continue
        if host == want[1] or (want[1].startswith("*.") and host.endswith(want[1][1:])):
            return True
    return False


# ---------------------------------------------------------------------------- answers

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}}</style>
</head><body><main><h1>{title}</h1>{body}</main></body></html>
"""
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
}
_FIELD_HELP = {
    "leadPhone": "Please enter a phone number we can call, with its area code.",
    "email": "Please check the email address.",
}


def page(
    status: int, title: str, paragraphs: list[str], back: str | None = None, headers: dict[str, str] | None = None
) -> Reply:
    """A small self-contained UTF-8 HTML page; every text is escaped here."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    if back:
        body += f'<p><a href="{html.escape(back, quote=True)}">Back to the form</a></p>'
    return Reply(
        status,
        _PAGE.format(title=html.escape(title), body=body),
        "text/html; charset=utf-8",
        {**_HEADERS, **(headers or {})},
    )


def back_link(request: Inbound) -> str | None:
    """The form's page (Referer) when it is an http(s) URL, for a "go back" link."""
    referer = request.header("Referer")
    return referer if _host_of(referer) else None


def success(source: SourceSettings) -> Reply:
    """303 to `redirect_url`, else a thank-you page."""
    target = source.options.get("redirect_url")
    if target:
        return Reply(303, "", "text/plain; charset=utf-8", {"Location": target, "Cache-Control": "no-store"})
    message = (
        source.options.get("thank_you_message") or "Thank you! We received your details and will be in touch shortly."
    )
    return page(200, "Thank you", [message])


def problems(body: dict[str, Any]) -> tuple[bool, list[str]]:
    """(honeypot hit, friendly problem sentences) from intake's 422 body."""
    spam, sentences = False, []
    for record in body.get("records") or []:
        for field_name in record.get("reasons") or {}:
            if field_name == "honeypot":
                spam = True
            sentence = _FIELD_HELP.get(field_name, "Some of the details could not be accepted.")
            if sentence not in sentences:
                sentences.append(sentence)
    return spam, sentences


# ---------------------------------------------------------------------------- the type


def submission_id(fields_: dict[str, Any]) -> str:
    """The server-generated externId: stable for identical submissions (double-submits hash alike)."""
    canonical = json.dumps(fields_, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "web-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _filled(value: Any) -> bool:
    """Whether a posted value holds anything but whitespace."""
    if isinstance(value, list):
        return any(_filled(v) for v in value)
    return isinstance(value, str) and bool(value.strip())


@register
class HtmlForm(SourceType):
    """A plain `<form method="post">` in a browser; no sender id, usually no auth."""

    name = "html_form"
    retries = False  # a browser does not retry: it shows our answer to the person
    options_schema = HtmlFormOptions
    allows_no_auth = True  # a page's form cannot hold a secret; honeypot and rate limits still apply

    def has_own_auth(self, source: SourceSettings) -> bool:
        """The Origin allow-list is this type's own (weak, browser-enforced) check."""
        return bool(source.options.get("allowed_origins"))

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Refuse a request whose Origin (or Referer) host is not in `allowed_origins`."""
        allowed = source.options.get("allowed_origins") or []
        if not origin_allowed(allowed, request):
            raise AuthFailure("origin_not_allowed", "Origin/Referer host is not in allowed_origins")

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """Rate-limit, read the form, mark a filled honeypot; raise RateLimited or Malformed."""
        limits = _option(source, "rate_limit") or {}
        now = clock()
        if limits.get("per_ip"):
            address = ip_bucket(client_ip(source, request))
            if not window_for(source.name, "ip", limits["per_ip"]).hit(address, now):
                raise RateLimited("too many submissions from this address")
        if not is_form(request):
            raise Malformed("send the form as application/x-www-form-urlencoded or multipart/form-data")
        fields_: dict[str, Any] = read_form(request)
        fields_.pop(ID_FIELD, None)
        fields_.pop(HONEYPOT_MARK, None)
        honeypot = _option(source, "honeypot")
        spam = bool(honeypot) and _filled(fields_.get(honeypot))
        if not spam and limits.get("per_phone"):
            phone = primary_phone(source, fields_)
            if phone and not window_for(source.name, "phone", limits["per_phone"]).hit(phone, now):
                raise RateLimited("too many submissions for this phone number")
        fields_[ID_FIELD] = submission_id(fields_)
        if spam:
            fields_[HONEYPOT_MARK] = True
        return [Record(key=None, fields=fields_)]

    def client_address(self, source: SourceSettings, request: Inbound) -> str:
        """The client as the per-IP limit counts it (stored as the event's remote_addr): its /64 for IPv6."""
        return ip_bucket(client_ip(source, request))

    def shared_limits(
        self, source: SourceSettings, request: Inbound, records: list[Record]
    ) -> list[tuple[str, str, int, float]]:
        """(kind, key, count, seconds) limits intake checks in the database, so they hold across processes.

        The in-process windows in parse() answer cheaply first; these count what other processes stored.
        """
        limits = _option(source, "rate_limit") or {}
        out: list[tuple[str, str, int, float]] = []
        if limits.get("per_ip"):
            out.append(("ip", self.client_address(source, request), *limits["per_ip"]))
        if limits.get("per_phone"):
            for record in records:
                phone = None if record.fields.get(HONEYPOT_MARK) else primary_phone(source, record.fields)
                if phone:
                    out.append(("phone", phone, *limits["per_phone"]))
        return out

    def reply(self, source: SourceSettings, request: Inbound, status: int, body: dict[str, Any]) -> Reply | None:
        """Answer the browser: 303/thank-you on success (and for spam), a small HTML page otherwise."""
        if 200 <= status < 300:
            return success(source)
        back = back_link(request)
        if status == 422:
            spam, sentences = problems(body)
            if spam:
                return success(source)  # a bot must not learn that the honeypot caught it
            return page(422, "Please check the form", sentences or ["Some of the details could not be accepted."], back)
        if status == 400:
            return page(400, "The form could not be read", ["Please go back and send the form again."], back)
        if status == 429:
            return page(
                429,
                "Please wait a moment",
                ["We received several submissions in a short time. Please try again in a few minutes."],
                back,
                {"Retry-After": RETRY_AFTER},
            )
        if status == 401:
            return page(401, "This form cannot be sent from here", ["Please use the form on our website."])
        return None

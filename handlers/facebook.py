"""Meta (Facebook/Instagram) Lead Ads: the GET handshake, X-Hub-Signature-256, leadgen ids, Graph fetch.

A webhook carries ids only. Record.fields at intake: the change's `value` (`leadgen_id`,
`page_id`, `form_id`, `adgroup_id`, `ad_id`, `created_time`) plus `entry_time`; `fetch` is
`{"object": "lead", "id": <leadgen_id>}`. The fetch pool then calls `fetch()`, which reads
`GET /{graph_version}/{leadgen_id}` with the Page token and lays every `field_data` answer
(`name` → its value; a list when the question has several) over those ids, plus `is_organic`,
`platform`, `created_time`. Key: `leadgen_id`; event: `leadgen`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import requests
from marshmallow import Schema, ValidationError, fields, validate

from handlers.auth import Secrets, SignedHeader
from handlers.base import FetchError, Inbound, Malformed, Record, SourceSettings, SourceType, register, secrets_equal

SIGNATURE_HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="
SIGNATURE = SignedHeader(option="app_secret", header=SIGNATURE_HEADER, encoding="hex", prefix=PREFIX)
EVENT = "leadgen"
DEFAULT_API = "https://graph.facebook.com"
DEFAULT_VERSION = "v21.0"
LEAD_FIELDS = "created_time,id,ad_id,form_id,field_data,is_organic,platform"
# Ids only the webhook gives; they win over a custom question of the same name.
WEBHOOK_IDS = ("leadgen_id", "page_id", "adgroup_id", "entry_time")
# Lead metadata the Graph answer gives; it wins over answers and over the webhook's copy.
LEAD_META = ("form_id", "ad_id", "created_time", "is_organic", "platform")
# Connect / read timeouts: a slow Graph call holds a fetch worker, never the request path.
TIMEOUT = (3.05, 10.0)
MAX_CHALLENGE = 256

# Graph error codes (developers.facebook.com/docs/graph-api/guides/error-handling).
TOKEN_CODES = {102, 190}  # session / access token invalid or expired
PERMISSION_CODES = {10} | set(range(200, 300))  # the token lacks a permission (leads_retrieval)
RATE_CODES = {4, 17, 32, 613} | set(range(80000, 80015))  # app, user, page and business-use-case limits
TRANSIENT_CODES = {1, 2}  # "unknown error" / "service temporarily unavailable"


class PageTokens(fields.Field[str | dict[str, str]]):
    """Config field: one Page access token, or `page_id → token` for several Pages."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str | dict[str, str]:
        """Accept a non-empty string or a non-empty mapping of page ids to non-empty strings."""
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and value and all(isinstance(v, str) and v for v in value.values()):
            # YAML reads a bare page id as an int; page ids are compared as strings.
            return {str(k): v for k, v in value.items()}
        raise ValidationError("must be a Page access token or a mapping of page id → token")


class FacebookOptions(Schema):
    """Meta's own config keys."""

    app_secret = Secrets()
    verify_token = Secrets()
    page_access_token = PageTokens(required=True)
    api_base_url = fields.Url(load_default=DEFAULT_API, require_tld=False, schemes={"http", "https"})
    graph_version = fields.String(load_default=DEFAULT_VERSION, validate=validate.Regexp(r"^v\d+\.\d+$"))
    # Opt-in: send appsecret_proof (needed when the app has "Require App Secret" on); uses the first app_secret.
    appsecret_proof = fields.Boolean(load_default=False)


def _decode(body: bytes) -> dict[str, Any]:
    """Parse the JSON object or raise Malformed."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        raise Malformed("expected a JSON object with an `entry` list")
    return data


def _as_text(value: Any) -> str | None:
    """An id as text (Meta sends ids as strings, but a number must not become `1.0`)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    return str(value)


def change_record(entry: dict[str, Any], value: Any) -> Record:
    """One leadgen change → a Record to fetch; a change without an id still becomes a record (it maps invalid)."""
    if not isinstance(value, dict):
        return Record(key=None, fields={"value": value, "entry_id": entry.get("id")}, event=EVENT)
    fields_ = dict(value)
    fields_.setdefault("page_id", entry.get("id"))
    fields_["entry_time"] = entry.get("time")
    lead_id = _as_text(value.get("leadgen_id"))
    if lead_id is None:
        return Record(key=None, fields=fields_, event=EVENT)
    fields_["leadgen_id"] = lead_id
    return Record(key=lead_id, fields=fields_, event=EVENT, fetch={"object": "lead", "id": lead_id})


def lead_fields(lead: dict[str, Any]) -> dict[str, Any]:
    """A Graph lead as record fields: each answer by name (one value, or all of them), then the ids."""
    out: dict[str, Any] = {}
    for item in lead.get("field_data") or []:
        if not isinstance(item, dict) or not item.get("name"):
            continue
        values = item.get("values")
        values = values if isinstance(values, list) else [values]
        out[str(item["name"])] = values[0] if len(values) == 1 else (values or None)
    for key in LEAD_META:
        if key in lead:
            out[key] = lead[key]
    return out


def page_token(source: SourceSettings, page_id: Any) -> str:
    """The Page access token for this lead's Page; FetchError when none is configured."""
    configured = source.options.get("page_access_token")
    if isinstance(configured, str):
        return configured
    token = (configured or {}).get(str(page_id)) if page_id is not None else None
    if not token:
        raise FetchError(f"no page_access_token configured for page {page_id}", retryable=False)
    return str(token)


def graph_error(response: requests.Response) -> FetchError:
    """Classify a failed Graph answer: token and permission problems are permanent, limits and 5xx retry."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    code = error.get("code") if isinstance(error, dict) else None
    detail = f"Graph API {response.status_code}" + (f" code {code}" if code is not None else "")
    message = error.get("message") if isinstance(error, dict) else None
    if message:
        detail += f": {str(message)[:200]}"
    if code in RATE_CODES:
        return FetchError(f"rate limited by Meta ({detail})", retryable=True)
    if code in TOKEN_CODES or response.status_code == 401:
        return FetchError(f"page access token is invalid or expired — generate a new one ({detail})", retryable=False)
    if code in PERMISSION_CODES or response.status_code == 403:
        return FetchError(
            f"page access token is invalid for this lead (needs leads_retrieval on the Page) ({detail})",
            retryable=False,
        )
    if response.status_code >= 500 or code in TRANSIENT_CODES or response.status_code == 429:
        return FetchError(f"Meta is unavailable ({detail})", retryable=True)
    return FetchError(f"lead could not be read ({detail})", retryable=False)


@register
class Facebook(SourceType):
    """Meta Lead Ads webhooks (Page object, `leadgen` field)."""

    name = "facebook"
    retries = True  # Meta wants 200 and retries for 36 h otherwise
    options_schema = FacebookOptions
    own_auth_signs = True  # a configured signature is required (tokens alone: allow_token_alone)
    # Meta allows 200 × 24 × (leads created on the Page in 90 days) lead reads per 24 h, so one read
    # per new lead can never exhaust it; this guard (bursts of 300, then 1/s) only stops replay loops
    # from hammering the Graph. A limit error is still retried with backoff.
    fetches = True
    fetch_rate = (300, 300.0)

    def has_own_auth(self, source: SourceSettings) -> bool:
        """Whether an App Secret is configured."""
        return SIGNATURE.configured(source)

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Check `X-Hub-Signature-256: sha256=<hex hmac>` against any configured App Secret."""
        SIGNATURE.verify(source, request)

    def handshake(self, source: SourceSettings, request: Inbound) -> tuple[int, str]:
        """Meta's subscription check: echo hub.challenge when hub.verify_token matches."""
        tokens = source.options.get("verify_token") or []
        mode = request.query_value("hub.mode")
        given = request.query_value("hub.verify_token")
        challenge = request.query_value("hub.challenge") or ""
        matched = False
        for token in tokens:  # every token compared, so timing does not tell which one matched
            matched |= secrets_equal(token, given)
        if mode != "subscribe" or not matched:
            return 403, "verification failed"
        if not challenge or len(challenge) > MAX_CHALLENGE or not challenge.isprintable():
            return 400, "missing or unusable hub.challenge"
        return 200, challenge

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """One record per `leadgen` change across all entries; other fields are ignored."""
        body = _decode(request.body)
        records = []
        for entry in body["entry"]:
            if not isinstance(entry, dict):
                continue
            for change in entry.get("changes") or []:
                if isinstance(change, dict) and change.get("field") == EVENT:
                    records.append(change_record(entry, change.get("value")))
        if not records:
            raise Malformed("no leadgen changes in the body")
        return records

    def fetch(self, source: SourceSettings, record: Record, session: requests.Session) -> Record:
        """Read the lead from the Graph API and return the complete record (raise FetchError)."""
        lead_id = _as_text((record.fetch or {}).get("id")) or _as_text(record.fields.get("leadgen_id"))
        if lead_id is None or not (lead_id.isascii() and lead_id.isdigit()):
            raise FetchError(f"not a leadgen id: {lead_id!r}", retryable=False)
        token = page_token(source, record.fields.get("page_id"))
        base = source.options.get("api_base_url", DEFAULT_API).rstrip("/")
        version = source.options.get("graph_version", DEFAULT_VERSION)
        params = {"fields": LEAD_FIELDS}
        secrets = source.options.get("app_secret") or []
        if source.options.get("appsecret_proof") and secrets:
            params["appsecret_proof"] = hmac.new(secrets[0].encode(), token.encode(), hashlib.sha256).hexdigest()
        try:
            # The token goes in a header, never the URL, so it stays out of proxy and access logs.
            response = session.get(
                f"{base}/{version}/{lead_id}",
                params=params,
                timeout=TIMEOUT,
                headers={"Authorization": f"Bearer {token}"},
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise FetchError(f"Graph API unreachable: {type(exc).__name__}", retryable=True) from exc
        if response.status_code != 200:
            raise graph_error(response)
        try:
            lead = response.json()
        except ValueError as exc:
            raise FetchError("Graph API answered 200 without JSON", retryable=True) from exc
        if not isinstance(lead, dict):
            raise FetchError("Graph API answered 200 with an unexpected body", retryable=True)
        fields_ = {**record.fields, **lead_fields(lead)}
        for key in WEBHOOK_IDS:
            if record.fields.get(key) not in (None, ""):
                fields_[key] = record.fields[key]
        fields_["leadgen_id"] = lead_id
        return Record(key=lead_id, fields=fields_, event=record.event or EVENT)

"""HubSpot: workflow "Send a webhook" bodies and Webhooks-API event batches; v1/v2/v3 signatures.

Workflow bodies (a JSON object) — Record.fields: the body's top-level keys (`vid`, `portal-id`,
`id`, `objectId`, …, the raw `properties` too) with every property flattened on top as
`name → value` — the legacy contact profile's `properties.<name>.value`, or the CRM-v3
object's plain values — so routes say `hubspotscore: {gte: 80}`. A flat custom body is taken
as it is. Key: `"<vid|id|objectId|hs_object_id>:<lastmodifieddate>"`, None when either part is
missing.

Webhooks-API batches (a JSON array of events, ids only) — one Record per event: fields = the
event as sent, key `"<portalId>:<subscriptionId>:<eventId>"` (eventId alone is documented as
not unique), event = `subscriptionType` (or `eventType`), and for contact events
`fetch={"object": "contact", "id": objectId}`; the fetch pool then calls `fetch()`, which GETs
the contact from the CRM API and returns its properties flat, plus `id` and the event's own
fields as `event.<name>` (e.g. `event.subscriptionType`).
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar
from urllib.parse import quote

import requests
from marshmallow import Schema, validate
from marshmallow import fields as mfields

from handlers._fetch import get_json
from handlers.auth import Secrets, check_timestamp, epoch_number, hmac_digest, sha256_hex
from handlers.base import (
    AuthFailure,
    FetchError,
    Inbound,
    Malformed,
    Record,
    SourceSettings,
    SourceType,
    register,
    secrets_equal,
)

V3_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
SIGNATURE_HEADER = "X-HubSpot-Signature"
VERSION_HEADER = "X-HubSpot-Signature-Version"

# The only escapes HubSpot's v3 scheme decodes before signing (its documented table);
# every other escape (%20, %26, %3D, …) stays as it arrived.
V3_DECODED = {
    code: chr(int(code, 16)) for code in ("3A", "2F", "3F", "40", "21", "24", "27", "28", "29", "2A", "2C", "3B")
}

ID_KEYS = ("vid", "id", "objectId", "hs_object_id")


DEFAULT_API_BASE = "https://api.hubapi.com"
# Contact properties fetched for every event: what the default field map, the usual routes
# (score, lifecycle stage, lead status) and the workflow key need.
FETCH_PROPERTIES = (
    "firstname",
    "lastname",
    "email",
    "phone",
    "mobilephone",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "hubspotscore",
    "lifecyclestage",
    "hs_lead_status",
    "lastmodifieddate",
    "hs_object_id",
)
# Events about a contact that no longer exists (or must be forgotten) are never fetched.
GONE_SUFFIXES = (".deletion", ".privacyDeletion")
CONTACT_TYPE_ID = "0-1"  # objectTypeId of contacts in generic `object.*` subscriptions


class HubSpotOptions(Schema):
    """HubSpot's own config keys."""

    client_secret = Secrets()
    access_token = Secrets()  # private-app token for fetching Webhooks-API contacts
    api_base_url = mfields.Url(require_tld=False, schemes={"http", "https"}, load_default=DEFAULT_API_BASE)
    properties = mfields.List(mfields.String(validate=validate.Length(min=1)), load_default=list)
    # v1/v2 signatures carry no timestamp (a captured request replays forever): accepted only on request.
    legacy_signatures = mfields.Boolean(load_default=False)


def v3_uri(url: str) -> str:
    """Decode only the escapes in HubSpot's v3 table (hex case-insensitive)."""
    out, i = [], 0
    while i < len(url):
        code = url[i + 1 : i + 3].upper()
        if url[i] == "%" and code in V3_DECODED:
            out.append(V3_DECODED[code])
            i += 3
        else:
            out.append(url[i])
            i += 1
    return "".join(out)


def v1_signature(secret: str, body: bytes) -> str:
    """hex(sha256(secret + body))."""
    return sha256_hex(secret.encode() + body)


def v2_signature(secret: str, method: str, uri: str, body: bytes) -> str:
    """hex(sha256(secret + method + uri + body)), the URI exactly as called."""
    return sha256_hex(secret.encode() + method.encode() + uri.encode() + body)


def v3_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64(hmac_sha256(secret, method + decoded uri + body + timestamp))."""
    message = method.encode() + v3_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac_digest(secret, message, "sha256")).decode("ascii")


def _verify_v3(secrets: list[str], request: Inbound, now: float) -> None:
    """Check the v3 HMAC and its 5-minute window; raise AuthFailure."""
    given = request.header(V3_HEADER)
    if given is None:  # the caller dispatches on this header; kept for a direct call
        raise AuthFailure("missing_signature", f"{V3_HEADER} is missing")
    timestamp = (request.header(TIMESTAMP_HEADER) or "").strip()
    if not timestamp:
        raise AuthFailure("missing_signature", f"{TIMESTAMP_HEADER} is missing")
    millis = epoch_number(timestamp, TIMESTAMP_HEADER, "milliseconds")
    # The timestamp is checked before the signature so a replayed, validly signed request
    # is told it is stale rather than wrong.
    check_timestamp(millis / 1000.0, now)
    method = request.method.upper()
    if not any(
        secrets_equal(v3_signature(s, method, request.url, request.body, timestamp), given.strip()) for s in secrets
    ):
        raise AuthFailure("invalid_signature", "v3 signature does not match")


def _verify_v1_v2(secrets: list[str], request: Inbound) -> None:
    """Check X-HubSpot-Signature as v1 or v2 (either when the version header is absent)."""
    given = request.header(SIGNATURE_HEADER)
    if not given:
        raise AuthFailure("missing_signature", f"{SIGNATURE_HEADER} is missing")
    version = (request.header(VERSION_HEADER) or "").strip().lower()
    method = request.method.upper()
    candidates = []
    for secret in secrets:
        # Integrations have been seen sending odd version labels (even "v3" without the
        # v3 headers); anything but v1/v2 is tried as both, which needs the secret either way.
        if version != "v2":
            candidates.append(v1_signature(secret, request.body))
        if version != "v1":
            candidates.append(v2_signature(secret, method, request.url, request.body))
    given = given.strip().lower()
    if not any(secrets_equal(expected, given) for expected in candidates):
        raise AuthFailure("invalid_signature", "signature does not match")


def _decode(body: bytes) -> Any:
    """Parse the JSON body or raise Malformed."""
    if not body.strip():
        raise Malformed("empty body")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"invalid JSON: {exc}") from exc


def flatten(body: dict[str, Any]) -> dict[str, Any]:
    """Lay the properties over the top-level keys: `name → value` for both object shapes."""
    fields = dict(body)
    properties = body.get("properties")
    if not isinstance(properties, dict):
        return fields  # a flat custom body: the workflow author chose the keys
    for name, prop in properties.items():
        # Legacy contact profile: {"value": …, "versions": […]}; CRM v3: the plain value.
        fields[name] = prop.get("value") if isinstance(prop, dict) else prop
    return fields


def record_key(fields: dict[str, Any]) -> str | None:
    """`<id>:<lastmodifieddate>` — a workflow body has no event id, so the edit time stands in."""
    record_id = next((fields[k] for k in ID_KEYS if fields.get(k) not in (None, "")), None)
    modified = fields.get("lastmodifieddate") or fields.get("updatedAt")
    if record_id is None or not modified:
        return None
    return f"{record_id}:{modified}"


@register
class HubSpot(SourceType):
    """HubSpot workflow webhooks and Webhooks-API event batches (fetched from the CRM API)."""

    name = "hubspot"
    # Webhooks API subscription types (developers.hubspot.com, "Webhooks API"; the generic
    # `object.*` forms carry objectTypeId "0-1" for contacts). A privacy deletion also sends the
    # plain deletion when both are subscribed (HubSpot changelog, "privacy-compliant contact
    # deletions"): both cancel, only the privacy one erases.
    lifecycle_defaults: ClassVar[dict[str, list[dict[str, Any]]]] = {
        "cancel_when": [
            {"subscriptionType": {"in": ["contact.deletion", "contact.privacyDeletion"]}},
            {"subscriptionType": {"in": ["object.deletion", "object.privacyDeletion"]}, "objectTypeId": "0-1"},
        ],
        "erase_when": [
            {"subscriptionType": "contact.privacyDeletion"},
            {"subscriptionType": "object.privacyDeletion", "objectTypeId": "0-1"},
        ],
    }
    retries = True
    options_schema = HubSpotOptions
    own_auth_signs = True  # a configured signature is required (tokens alone: allow_token_alone)
    # Private apps: 100 requests per 10 s (the fetch pool paces itself by this).
    fetches = True
    fetch_rate = (100, 10.0)

    def has_own_auth(self, source: SourceSettings) -> bool:
        """Whether a client secret is configured."""
        return bool(source.options.get("client_secret"))

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """v3 (timestamped) is required; v1/v2 only with `legacy_signatures: true` and no v3 header."""
        secrets = source.options.get("client_secret") or []
        if not secrets:
            # Fail closed: verify() without a secret is a wiring mistake, not a pass.
            raise AuthFailure("invalid_signature", "no client_secret configured")
        if (request.header(V3_HEADER) or "").strip():
            _verify_v3(secrets, request, now)
        elif source.options.get("legacy_signatures"):
            _verify_v1_v2(secrets, request)
        else:
            # Stripping or emptying the v3 header must not fall back on v1/v2, whose signatures
            # carry no timestamp: a captured request could be replayed after the 5-minute window.
            raise AuthFailure("missing_signature", f"{V3_HEADER} is missing (legacy_signatures is off)")

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """A workflow body → one record; a Webhooks-API array → one per event; else Malformed."""
        body = _decode(request.body)
        if isinstance(body, list):
            return [event_record(item) for item in body]
        if not isinstance(body, dict):
            raise Malformed("expected a JSON object or an array of events")
        fields = flatten(body)
        return [Record(key=record_key(fields), fields=fields, event=None)]

    def fetch(self, source: SourceSettings, record: Record, session: requests.Session) -> Record:
        """GET the event's contact from the CRM v3 API; its properties flat, the event under `event.`."""
        target = record.fetch or {}
        if target.get("object") != "contact" or target.get("id") in (None, ""):
            raise FetchError(f"nothing to fetch for {target!r}", retryable=False)
        tokens = source.options.get("access_token") or []
        if not tokens:
            raise FetchError("no access_token configured for this hubspot source", retryable=False)
        base = str(source.options.get("api_base_url") or DEFAULT_API_BASE).rstrip("/")
        url = f"{base}/crm/v3/objects/contacts/{quote(str(target['id']), safe='')}"
        contact = get_json(
            session,
            url,
            f"hubspot contact {target['id']}",
            {"Authorization": f"Bearer {tokens[0]}"},
            {"properties": ",".join(fetch_properties(source))},
        )
        if not isinstance(contact, dict):
            raise FetchError("hubspot API answered an unexpected shape", retryable=True)
        # The fetch pool may hand over only the stored fields: the event name is read back from them.
        event = record.event or record.fields.get("subscriptionType") or record.fields.get("eventType")
        return Record(key=record.key, fields=contact_fields(contact, record.fields), event=event)


def event_record(event: Any) -> Record:
    """One Webhooks-API event as a Record; contact events get a `fetch`, others stay as sent."""
    if not isinstance(event, dict):
        # Kept as a record so it is stored (invalid) without costing its siblings.
        return Record(key=None, fields={"event": event})
    kind = event.get("subscriptionType") or event.get("eventType")
    parts = [event.get("portalId"), event.get("subscriptionId"), event.get("eventId")]
    key = ":".join(str(p) for p in parts) if all(p not in (None, "") for p in parts) else None
    fetch = None
    object_id = event.get("objectId")
    if object_id not in (None, "") and _is_contact_event(event, kind):
        fetch = {"object": "contact", "id": str(object_id), "portalId": event.get("portalId")}
    fields = dict(event)
    if isinstance(kind, str):
        # Some payloads label the type `eventType`: lifecycle rules read one name.
        fields.setdefault("subscriptionType", kind)
    name = event.get("propertyName")
    if isinstance(name, str) and name and "propertyValue" in event:
        # The new value under its property name, so routes can read it before the fetch
        # (`hs_lead_status: OPEN`); event keys are camelCase, property names lower-case.
        fields.setdefault(name, event["propertyValue"])
    return Record(key=key, fields=fields, event=kind, fetch=fetch)


def _is_contact_event(event: dict[str, Any], kind: Any) -> bool:
    """Whether the event names a contact that still exists (so a fetch can build a lead)."""
    if not isinstance(kind, str) or kind.endswith(GONE_SUFFIXES):
        return False
    if kind.startswith("contact."):
        return True
    return kind.startswith("object.") and str(event.get("objectTypeId")) == CONTACT_TYPE_ID


def fetch_properties(source: SourceSettings) -> list[str]:
    """The properties a fetch reads: the defaults, `properties`, plain names in `fields:` and in the source's own rules.

    Its own lifecycle rules: an `opt_out_when:` on a custom property must see that property.
    """
    names = list(FETCH_PROPERTIES) + list(source.options.get("properties") or []) + list(source.rule_fields)
    specs: list[Any] = []
    for spec in source.fields.values():
        # extendedLeadData maps Engage keys to sender fields: its values count too.
        specs.extend(spec.values() if isinstance(spec, dict) else [spec])
    for spec in specs:
        for item in [spec] if isinstance(spec, str) else spec if isinstance(spec, list) else []:
            # A HubSpot property name has no dots; dotted paths point into the event instead.
            if isinstance(item, str) and item and "." not in item:
                names.append(item)
    return list(dict.fromkeys(names))


def contact_fields(contact: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The CRM object's properties flat, its `id`, and the triggering event as `event.<name>`."""
    properties = contact.get("properties")
    fields: dict[str, Any] = dict(properties) if isinstance(properties, dict) else {}
    if contact.get("id") not in (None, ""):
        fields["id"] = str(contact["id"])
    # Dotted flat keys cannot collide with property names (HubSpot names have no dots).
    fields.update({f"event.{name}": value for name, value in event.items()})
    return fields

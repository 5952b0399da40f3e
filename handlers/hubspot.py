"""HubSpot workflow "Send a webhook" bodies: v1/v2/v3 signatures and the three body shapes.

Record.fields: the body's top-level keys (`vid`, `portal-id`, `id`, `objectId`, …, the raw
`properties` too) with every property flattened on top as `name → value` — the legacy
contact profile's `properties.<name>.value`, or the CRM-v3 object's plain values — so routes
say `hubspotscore: {gte: 80}`. A flat custom body is taken as it is. Key:
`"<vid|id|objectId|hs_object_id>:<lastmodifieddate>"`, None when either part is missing.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from marshmallow import Schema

from handlers.auth import Secrets, as_list, check_timestamp, hmac_digest, sha256_hex
from handlers.base import AuthFailure, Inbound, Malformed, Record, SourceSettings, SourceType, register, secrets_equal

V3_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
SIGNATURE_HEADER = "X-HubSpot-Signature"
VERSION_HEADER = "X-HubSpot-Signature-Version"

# The only escapes HubSpot's v3 scheme decodes before signing (its documented table);
# every other escape (%20, %26, %3D, …) stays as it arrived.
V3_DECODED = {code: chr(int(code, 16)) for code in ("3A", "2F", "3F", "40", "21", "24", "27", "28", "29", "2A", "2C", "3B")}

ID_KEYS = ("vid", "id", "objectId", "hs_object_id")


class HubSpotOptions(Schema):
    """HubSpot's own config keys."""

    client_secret = Secrets()


def v3_uri(url: str) -> str:
    """Decode only the escapes in HubSpot's v3 table (hex case-insensitive)."""
    out, i = [], 0
    while i < len(url):
        code = url[i + 1:i + 3].upper()
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
    timestamp = (request.header(TIMESTAMP_HEADER) or "").strip()
    if not timestamp:
        raise AuthFailure("missing_signature", f"{TIMESTAMP_HEADER} is missing")
    if not timestamp.isdigit():
        raise AuthFailure("invalid_signature", f"{TIMESTAMP_HEADER} is not epoch milliseconds")
    # The timestamp is checked before the signature so a replayed, validly signed request
    # is told it is stale rather than wrong.
    check_timestamp(int(timestamp) / 1000.0, now)
    method = request.method.upper()
    if not any(secrets_equal(v3_signature(s, method, request.url, request.body, timestamp), given.strip()) for s in secrets):
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
    """HubSpot workflow webhooks (the Webhooks-API event batches are not supported yet)."""

    name = "hubspot"
    retries = True
    options_schema = HubSpotOptions

    def has_own_auth(self, source: SourceSettings) -> bool:
        """Whether a client secret is configured."""
        return bool(as_list(source.options.get("client_secret")))

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Prefer v3 when its header is present, else v1/v2; raise AuthFailure."""
        secrets = as_list(source.options.get("client_secret"))
        if not secrets:
            # Fail closed: verify() without a secret is a wiring mistake, not a pass.
            raise AuthFailure("invalid_signature", "no client_secret configured")
        if request.header(V3_HEADER):
            _verify_v3(secrets, request, now)
        else:
            _verify_v1_v2(secrets, request)

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """One record per workflow body; raise Malformed for anything else."""
        body = _decode(request.body)
        if isinstance(body, list):
            # Webhooks-API batches carry ids only and need a fetch from HubSpot's API;
            # refusing them here keeps the raw body stored for replay once that exists.
            raise Malformed("hubspot webhooks API batches are not supported yet")
        if not isinstance(body, dict):
            raise Malformed("expected a JSON object")
        fields = flatten(body)
        return [Record(key=record_key(fields), fields=fields, event=None)]

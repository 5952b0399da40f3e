"""Token minting for the fake Engage: RingCentral-style opaque tokens and RingCX-style JWTs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(key: bytes, claims: dict) -> str:
    """A real-looking HS256 JWT (header.payload.signature) so clients can read `exp` and `iat`."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = b64url(hmac.new(key, signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def opaque_token(prefix: str) -> str:
    """An opaque random token, shaped like RingCentral's (prefix + urlsafe random)."""
    return f"{prefix}{secrets.token_urlsafe(24)}"


def numeric_date(value: float) -> float | int:
    """JWT NumericDate: whole seconds when exact, fractional for the short TTLs tests use."""
    return int(value) if float(value).is_integer() else round(value, 3)

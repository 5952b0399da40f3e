"""Authentication pieces every source type shares: the `token:` check, HMAC and timestamp helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError, fields

from handlers._forms import is_form, read_form
from handlers.base import AuthFailure, Inbound, Malformed, SourceSettings, secrets_equal

# Where the shared token is looked for: names, not secrets.
TOKEN_HEADER = "X-Leadrelay-Token"  # noqa: S105
TOKEN_QUERY = "token"  # noqa: S105
# Timestamped schemes accept |now − timestamp| ≤ 5 minutes, in both directions.
TOLERANCE_SECONDS = 300
ALGORITHMS = ("sha1", "sha256", "sha512")


class Secrets(fields.Field[list[str]]):
    """The one config type for secrets: one or a list of them (rotation), loaded as a non-empty list.

    `token:` and every source type's own secrets use it, so use sites read a list and never
    normalize again.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> list[str]:
        """Accept a non-empty string or a non-empty list of non-empty strings."""
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise ValidationError('must be a string or a non-empty list of strings (quote a number: "12345")')
        if not all(isinstance(item, str) and item for item in items):
            raise ValidationError('every secret must be a non-empty string (quote a number: "12345")')
        return items


def check_token(source: SourceSettings, request: Inbound) -> bool | None:
    """Check the shared `token:`; None when the source configures none."""
    if not source.tokens:
        return None
    offered = [request.header(TOKEN_HEADER), request.query_value(TOKEN_QUERY)]
    if source.token_field:
        offered.append(_form_token(request, source.token_field))
    # Compare every offered value against every token so the work done does not depend
    # on which (if any) matched.
    matched = False
    for given in offered:
        if given is None:
            continue
        for token in source.tokens:
            matched |= secrets_equal(token, given)
    return matched


def _form_token(request: Inbound, name: str) -> str | None:
    """Read the token from a form field of the body; None when absent or unreadable."""
    if not is_form(request):
        return None
    try:
        value = read_form(request).get(name)
    except Malformed:
        return None
    # A repeated field is ambiguous; refuse it rather than pick one.
    return value if isinstance(value, str) else None


def hmac_digest(secret: str | bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    """Return the raw HMAC of `message` keyed by `secret`."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported HMAC algorithm {algorithm!r}")
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def encode_digest(digest: bytes, encoding: str) -> str:
    """Render a digest as lower-case hex or standard base64."""
    if encoding == "hex":
        return digest.hex()
    if encoding == "base64":
        return base64.b64encode(digest).decode("ascii")
    raise ValueError(f"unsupported digest encoding {encoding!r}")


def verify_hmac(
    secret: str | bytes,
    message: bytes,
    given: str | None,
    algorithm: str = "sha256",
    encoding: str = "hex",
    prefix: str = "",
) -> bool:
    """Whether `given` is `prefix` + the encoded HMAC of `message` (constant-time compare)."""
    if given is None:
        return False
    given = given.strip()
    if not given.startswith(prefix):
        return False
    value = given[len(prefix) :]
    expected = encode_digest(hmac_digest(secret, message, algorithm), encoding)
    if encoding == "hex":
        # Hex is case-insensitive on the wire; base64 is not.
        value = value.lower()
    return secrets_equal(expected, value)


def sha256_hex(message: bytes) -> str:
    """Hex SHA-256 of `message` (HubSpot v1/v2 are plain hashes, not HMACs)."""
    return hashlib.sha256(message).hexdigest()


_EPOCH = re.compile(r"[0-9]{1,16}")


def epoch_number(text: str | None, header: str, unit: str = "seconds") -> int:
    """A timestamp header as an integer: ASCII digits only, at most 16 of them (else 401 invalid_signature).

    `str.isdigit()` accepts "²" and `int()` accepts 400 digits (whose division overflows a float): both
    once turned a forged header into a 500 before authentication.
    """
    value = (text or "").strip()
    if not _EPOCH.fullmatch(value):
        raise AuthFailure("invalid_signature", f"{header} is not epoch {unit}")
    return int(value)


def check_timestamp(timestamp: float, now: float, tolerance: float = TOLERANCE_SECONDS) -> None:
    """Raise stale_timestamp when `timestamp` (seconds) is more than `tolerance` from `now`."""
    if abs(now - timestamp) > tolerance:
        raise AuthFailure("stale_timestamp", f"timestamp {timestamp:.0f} is outside ±{tolerance:.0f}s")


@dataclass(frozen=True)
class SignedHeader:
    """A sender's HMAC-in-a-header scheme, declared as data (Typeform, Meta, Google Forms, Webflow…).

    `option` names the config key holding the secret(s); the message is the raw body unless the
    type passes its own (Webflow signs `timestamp:body`).
    """

    option: str
    header: str
    encoding: str  # hex | base64
    prefix: str = ""
    algorithm: str = "sha256"

    def configured(self, source: SourceSettings) -> bool:
        """Whether the source has at least one secret for this scheme."""
        return bool(source.options.get(self.option))

    def verify(self, source: SourceSettings, request: Inbound, message: bytes | None = None) -> None:
        """Raise AuthFailure unless the header carries a valid signature under any configured secret."""
        secrets = source.options.get(self.option) or []
        if not secrets:
            # Fail closed: verify() without a secret is a wiring mistake, not a pass.
            raise AuthFailure("invalid_signature", f"no {self.option} configured")
        given = request.header(self.header)
        if not given or not given.strip():
            raise AuthFailure("missing_signature", f"{self.header} is missing")
        body = request.body if message is None else message
        # Every secret is tried (no early exit), so timing does not tell which one is current.
        results = [verify_hmac(s, body, given, self.algorithm, self.encoding, self.prefix) for s in secrets]
        if not any(results):
            raise AuthFailure("invalid_signature", "signature does not match")

"""redact.py: which configured values are secrets, and how stored headers, paths and shown bodies lose them."""

from __future__ import annotations

from handlers.base import SourceSettings
from redact import audit_headers, audit_path, mask_body, source_secrets


def settings(options: dict, tokens: list[str] | None = None) -> SourceSettings:
    """A source with these options and tokens."""
    return SourceSettings(name="s", type="generic", options=options, tokens=tokens or [])


def test_secrets_are_collected_at_any_depth_and_names_are_not():
    """Tokens, signing secrets, a Basic password and a Dynamics key value are secrets; names and org ids are not."""
    found = source_secrets(
        settings(
            {
                "basic_auth": {"username": "hook-user", "password": "pd-pass-1234"},
                "header": {"name": "x-dyn-key", "value": ["dyn-value-1", "dyn-value-2"]},
                "hmac": {"header": "X-Sig", "secret": "hmac-secret-1"},
                "organization_id": "00D5e000000AbCdEAK",
            },
            tokens=["tok-12345"],
        )
    )
    assert set(found) == {"pd-pass-1234", "dyn-value-1", "dyn-value-2", "hmac-secret-1", "tok-12345"}


def test_headers_lose_credentials_and_any_value_carrying_a_secret():
    """Credential headers always; any other header whose value holds a secret too."""
    stored = audit_headers(
        {
            "Authorization": "Basic abc",
            "X-Dyn-Key": "dyn-value-1",
            "X-Custom": "Bearer tok-12345",
            "User-Agent": "Zapier",
        },
        ["dyn-value-1", "tok-12345"],
    )
    assert stored == {"Authorization": "***", "X-Dyn-Key": "***", "X-Custom": "***", "User-Agent": "Zapier"}


def test_path_keeps_its_raw_form_and_loses_secret_parameters():
    """Any parameter carrying a secret, whatever its name, and the usual credential names, are masked."""
    path = audit_path("https://h/webhooks/d/x%00y?apikey2=q-secret-9&code=abc&keep=1&token=zz", ["q-secret-9"])
    assert path.startswith("/webhooks/d/x%00y?")
    assert "q-secret-9" not in path and "abc" not in path and "zz" not in path and "keep=1" in path


def test_shown_body_masks_raw_and_url_encoded_secrets():
    """A form body carries the token URL-encoded: both spellings are masked when shown."""
    shown = mask_body(b"token=a%2Bb%2Fc&name=Ada&raw=a+b/c", ["a+b/c"])
    assert shown is not None
    assert "a%2Bb%2Fc" not in shown and "a+b/c" not in shown and "name=Ada" in shown

"""Consent evidence: what a lead carries (TrustedForm certificate, Jornaya token, consent field) and the gate's verdict.

Pure: the retain call itself is made elsewhere (off the request path, concurrently); here a
lead's record and the latest retain result (or none yet) become one decision.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from compliance.trustedform import DEFAULT_API_BASE, RetainResult, Verdict, cert_id
from handlers.base import resolve_path

REQUIRE_NONE, REQUIRE_ALL = "none", "all"
TRUTHY = frozenset({"true", "yes", "y", "1", "on", "checked", "agree", "agreed", "accepted", "i agree"})


@dataclass(frozen=True)
class ConsentSettings:
    """The `consent:` block (top level, or a source's override)."""

    require: str | tuple[str, ...] = REQUIRE_NONE  # none | all | campaigns that need evidence
    on_missing: str = "block"  # block | manual
    manual_campaign: str | None = None
    on_unavailable: str = "block"  # block | manual: after max_wait of TrustedForm being unavailable
    max_wait: float = 600.0
    trustedform_api_key: str | None = None
    trustedform_api_base: str = DEFAULT_API_BASE
    trustedform_field: str = "xxTrustedFormCertUrl"
    trustedform_match: str = "phone"
    jornaya_field: str = "leadid_token"
    field: str | None = None  # the form's own consent checkbox
    text_field: str | None = None
    timestamp_field: str | None = None

    def required_for(self, campaign: str | None) -> bool:
        """Whether a lead routed to this campaign needs consent evidence."""
        if self.require == REQUIRE_NONE:
            return False
        if self.require == REQUIRE_ALL:
            return True
        return campaign is not None and str(campaign) in self.require


@dataclass(frozen=True)
class Evidence:
    """What one lead carries; never the raw body, only these fields."""

    cert_url: str | None  # as sent (kept to show what was refused)
    cert_id: str | None  # set only when the URL passed the strict check
    jornaya_token: str | None
    consent_value: str | None
    consent_text: str | None
    consent_timestamp: str | None

    @property
    def consent_given(self) -> bool:
        """Whether the form's own consent field holds a truthy value."""
        return self.consent_value is not None and self.consent_value.strip().lower() in TRUTHY

    def record(self) -> dict[str, Any]:
        """JSON-ready data for the evidence table."""
        return {
            "trustedform_cert_url": self.cert_url,
            "trustedform_cert_id": self.cert_id,
            "jornaya_token": self.jornaya_token,
            "consent_value": self.consent_value,
            "consent_text": self.consent_text,
            "consent_timestamp": self.consent_timestamp,
        }


def _text(record: Mapping[str, Any], name: str | None) -> str | None:
    """A field of the sender's record as trimmed text, or None when absent or blank."""
    if not name:
        return None
    value = resolve_path(record, name)
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text[:2000] or None  # a consent text can be long; an unbounded field is not evidence


def evidence_of(record: Mapping[str, Any], settings: ConsentSettings) -> Evidence:
    """Read the evidence fields from a lead's sender-native record."""
    url = _text(record, settings.trustedform_field)
    return Evidence(
        cert_url=url,
        cert_id=cert_id(url) if url else None,
        jornaya_token=_text(record, settings.jornaya_field),
        consent_value=_text(record, settings.field),
        consent_text=_text(record, settings.text_field),
        consent_timestamp=_text(record, settings.timestamp_field),
    )


class Outcome(enum.StrEnum):
    """The consent gate's answer for one lead at one moment."""

    ALLOW = "allow"  # not required, or evidence verified
    WAIT = "wait"  # a retain is pending or TrustedForm is unavailable: defer (consent_check)
    MANUAL = "manual"  # load into consent.manual_campaign instead
    BLOCK = "block"  # no usable evidence: blocked (consent)


@dataclass(frozen=True)
class ConsentDecision:
    """The gate's outcome, why, and whether TrustedForm must be asked (again)."""

    outcome: Outcome
    why: str
    needs_retain: bool = False
    alert: bool = False  # TrustedForm is refusing us or down: someone must look

    def record(self) -> dict[str, Any]:
        """JSON-ready data for the evidence table."""
        return {"outcome": self.outcome.value, "why": self.why, "alert": self.alert}


def decide(
    evidence: Evidence,
    settings: ConsentSettings,
    campaign: str | None,
    last: RetainResult | None,
    waited: float,
) -> ConsentDecision:
    """Decide from the evidence and the latest retain result; `waited` counts from the first attempt."""
    if not settings.required_for(campaign):
        return ConsentDecision(Outcome.ALLOW, "consent not required for this campaign")
    missing = Outcome.MANUAL if settings.on_missing == "manual" else Outcome.BLOCK
    if evidence.cert_id is not None and settings.trustedform_api_key:
        if last is None:
            return ConsentDecision(Outcome.WAIT, "TrustedForm retain pending", needs_retain=True)
        if last.verdict is Verdict.VERIFIED:
            return ConsentDecision(Outcome.ALLOW, f"TrustedForm verified ({settings.trustedform_match} matched)")
        if last.verdict is Verdict.UNAVAILABLE:
            why = f"TrustedForm unavailable ({last.status or last.reason}) for {waited:.0f} s"
            if waited < settings.max_wait:
                return ConsentDecision(Outcome.WAIT, why, needs_retain=True, alert=True)
            after = Outcome.MANUAL if settings.on_unavailable == "manual" else Outcome.BLOCK
            return ConsentDecision(after, why + f", past consent.max_wait ({settings.max_wait:.0f} s)", alert=True)
        return ConsentDecision(missing, f"TrustedForm {last.verdict.value}: {last.reason or last.status}")
    if evidence.cert_url and evidence.cert_id is None:
        # A certificate that fails the strict check is a red flag, whatever else the lead carries.
        return ConsentDecision(
            missing, "TrustedForm certificate URL refused (not https://cert.trustedform.com/<40 hex>)"
        )
    if evidence.cert_id is not None:
        return ConsentDecision(missing, "TrustedForm certificate present but consent.trustedform.api_key is not set")
    if evidence.consent_given:
        return ConsentDecision(Outcome.ALLOW, f"consent field {settings.field} = {evidence.consent_value}")
    if evidence.jornaya_token:
        # Kept and exported as evidence; verifying it needs the user's own Verisk contract.
        return ConsentDecision(Outcome.ALLOW, "Jornaya LeadiD token captured (stored, not verified)")
    return ConsentDecision(missing, "no consent evidence")

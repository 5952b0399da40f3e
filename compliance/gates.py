"""All gates for one lead at one moment: do-not-call, frequency cap, calling window, consent.

Pure: the database facts (on the do-not-call list? loads of these phones in the last 24 h? the
latest retain result?) are inputs, so the order and the outcomes are tested without a server.
Order: a block beats a wait (a number on the do-not-call list is blocked even at 3 am), and the
window is checked before consent so a retain is not spent on a lead that must wait anyway…
except that the retain itself starts at intake, because certificates expire 72 h after creation.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from compliance.consent import ConsentDecision, ConsentSettings, Evidence, Outcome
from compliance.consent import decide as decide_consent
from compliance.places import Place
from compliance.trustedform import RetainResult
from compliance.windows import WindowDecision, WindowSettings
from compliance.windows import decide as decide_window
from lead.lifecycle import LeadReason

CAP_WINDOW = 24 * 3600.0
CONSENT_RECHECK = 2.0  # a pending retain is looked at again this soon, doubling to a minute


@dataclass(frozen=True)
class GateSettings:
    """Every gate's configuration for one source (config/compliance.py builds it)."""

    windows: WindowSettings = field(default_factory=WindowSettings)
    consent: ConsentSettings = field(default_factory=ConsentSettings)
    caps: Mapping[str, int] = field(default_factory=dict)  # state → loads per phone per rolling 24 h
    evidence_days: int = 5 * 365
    calling_hours_off: bool = False
    windows_default_off: str | None = None  # "sandbox" or "CALLING_WINDOWS=off": windows off unless configured

    def __post_init__(self) -> None:
        """Refuse settings that say calling hours are off while the window gate is on.

        `evaluate` reads only `windows.enabled`; `calling_hours_off` names why they are off (the banner
        and the start-up warning). Settings that said both once made a test pass by day and defer its
        lead every evening; config/compliance.py builds both from the one `calling_hours: off`.
        """
        if self.calling_hours_off and self.windows.enabled:
            raise ValueError(
                "calling_hours_off=True needs windows=WindowSettings(enabled=False): the gate reads windows"
            )

    def describe(self) -> str:
        """The banner's line: which gates are on for this source."""
        windows = (
            "off (calling_hours: off)"
            if self.calling_hours_off
            else "on"
            if self.windows.enabled
            else f"off ({self.windows_default_off})"
        )
        require = self.consent.require if isinstance(self.consent.require, str) else ", ".join(self.consent.require)
        caps = ", ".join(f"{s} {n}/24h" for s, n in sorted(self.caps.items())) or "none"
        return f"windows {windows}; consent {require}; caps {caps}; do-not-call on"


class Action(enum.StrEnum):
    """What the claim does with the lead."""

    LOAD = "load"
    DEFER = "defer"
    BLOCK = "block"
    MANUAL = "manual"  # load, into consent.manual_campaign


# Which gate decided: the lifecycle's reasons name them (CONSENT_CHECK waits; CONSENT blocks or goes
# to the manual campaign). Evidence details are keyed by the same names.
Gate = LeadReason
DNC, CAP, WINDOW, CONSENT = (r.value for r in (Gate.DO_NOT_CALL, Gate.FREQUENCY_CAP, Gate.CALLING_WINDOW, Gate.CONSENT))


@dataclass(frozen=True)
class Facts:
    """What the database says about the lead now."""

    on_dnc: bool
    loads_24h: int  # loads of any of the lead's numbers in the last 24 h, all sources and campaigns
    last_retain: RetainResult | None
    waited: float  # seconds since the first consent attempt (for consent.max_wait)
    retain_attempts: int = 0


@dataclass(frozen=True)
class GateResult:
    """The verdict and every gate's inputs, for the evidence table."""

    action: Action
    gate: Gate | None
    next_attempt_at: float | None
    campaign: str | None  # the manual campaign when action is MANUAL
    needs_retain: bool
    alert: bool
    details: dict[str, Any]


def cap_for(place: Place, caps: Mapping[str, int]) -> tuple[int, str] | None:
    """The strictest cap among the lead's candidate states, with the state, or None."""
    found = [(caps[state], state) for state in sorted(place.states) if state in caps]
    return min(found) if found else None


def evaluate(
    place: Place,
    evidence: Evidence,
    campaign: str | None,
    facts: Facts,
    settings: GateSettings,
    now: float,
) -> GateResult:
    """Run every gate in order; the first block or wait decides, every checked gate is recorded."""
    details: dict[str, Any] = {"at": now, "phones": list(place.phones_e164), "basis": list(place.basis)}
    details[DNC] = {"on_list": facts.on_dnc}
    if facts.on_dnc:
        return GateResult(Action.BLOCK, Gate.DO_NOT_CALL, None, None, False, False, details)
    cap = cap_for(place, settings.caps)
    details[CAP] = {
        "loads_24h": facts.loads_24h,
        "cap": cap[0] if cap else None,
        "state": cap[1] if cap else None,
    }
    if cap is not None and facts.loads_24h >= cap[0]:
        return GateResult(Action.BLOCK, Gate.FREQUENCY_CAP, None, None, False, False, details)
    window: WindowDecision = decide_window(place, now, settings.windows)
    details[WINDOW] = window.record()
    consent: ConsentDecision = decide_consent(evidence, settings.consent, campaign, facts.last_retain, facts.waited)
    details[CONSENT] = {**consent.record(), "evidence": evidence.record()}
    if facts.last_retain is not None:
        details[CONSENT]["retain"] = facts.last_retain.record()
    if consent.outcome is Outcome.BLOCK:
        return GateResult(Action.BLOCK, Gate.CONSENT, None, None, False, consent.alert, details)
    if not window.loadable:
        # Retains keep running while the lead waits for its window (certificates expire).
        return GateResult(
            Action.DEFER,
            Gate.CALLING_WINDOW,
            window.next_opening or now + 3600,
            None,
            consent.needs_retain,
            consent.alert,
            details,
        )
    if consent.outcome is Outcome.WAIT:
        recheck = min(60.0, CONSENT_RECHECK * 2 ** min(facts.retain_attempts, 5))
        return GateResult(Action.DEFER, Gate.CONSENT_CHECK, now + recheck, None, True, consent.alert, details)
    if consent.outcome is Outcome.MANUAL:
        return GateResult(
            Action.MANUAL, Gate.CONSENT, None, settings.consent.manual_campaign, False, consent.alert, details
        )
    return GateResult(Action.LOAD, None, None, None, False, False, details)

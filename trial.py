"""A dry run of one sample request: verify (optional), parse, map, route — nothing stored, nothing loaded.

`./leadrelay try SOURCE FILE` calls `dry_run` (the console's "Try a payload" will too). It runs the
same functions a webhook runs (intake's authenticate step, the type's parser, prepare's map and
route), so what it prints is what the source would do. Steps that decide whether a lead may be
dialed (compliance gates) join here as one more step over each RecordTrial.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import routing
from compliance.consent import evidence_of
from compliance.gates import Action, Facts, GateSettings, evaluate
from compliance.places import place_of
from config import Source
from dispatch.gating import explain
from handlers import base as handler_base
from handlers.base import AuthFailure, Inbound, Record, resolve_path
from intake import Intake, auth_hint
from lead.lifecycle import LeadStatus
from prepare import prepare

_MISSING = object()
# How far back the source's stored records count as "this field does arrive" (issue 19).
RECENT_SECONDS = 7 * 86400


@dataclass
class RecordTrial:
    """What one record of the sample would become."""

    fields: dict[str, Any]
    status: str  # as intake would store it: queued, dropped, invalid, fetching
    priority: str
    campaign: Any
    lead: dict[str, Any] | None
    errors: dict[str, Any] | None
    warnings: dict[str, list[str]] | None
    routes: list[routing.RouteCheck]
    gates: str | None = None  # the compliance gates' verdict now, when the lead would be loaded


@dataclass
class Trial:
    """The dry run of one sample request."""

    source: str
    verified: str | None = None  # None: not asked; "ok"; or why the request would get a 401
    parse_error: str | None = None
    records: list[RecordTrial] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # about the configuration, not one record


def dry_run(
    source: Source,
    inbound: Inbound,
    *,
    now: float,
    verify: bool = False,
    recent: Callable[[str, float], list[dict[str, Any]]] | None = None,
    campaign_exists: Callable[[Any], bool | None] | None = None,
    gates: GateSettings | None = None,
    loads_24h: Callable[[list[str]], int] | None = None,
    on_dnc: Callable[[list[str]], bool] | None = None,
) -> Trial:
    """Run the sample through the source without storing or loading anything.

    `recent(source, since)`: the source's stored records since `since` (a route field absent from
    the sample and from all of them is probably misspelt). `campaign_exists(campaign)`: True, False,
    or None when it cannot be checked (sandbox, no credentials). `gates`: the source's compliance
    gates, run as the dispatcher would now (`loads_24h(phones)`: the loads the caps count) — without
    a TrustedForm retain (retains are billed) and without writing any evidence. `on_dnc(phones)`:
    whether any of these E.164 numbers is on the do-not-call list.
    """
    trial = Trial(source.name)
    if verify:
        trial.verified = _verify(source, inbound, now)
    stype = handler_base.type_of(source.type)
    try:
        records = stype.parse(source.settings, inbound)
    except Exception as exc:
        trial.parse_error = str(exc) or type(exc).__name__
        return trial
    if not records:
        trial.parse_error = "the body holds no records"
        return trial
    for record in records:
        one = _one(source, record, now)
        if gates is not None and one.lead is not None and one.status == LeadStatus.QUEUED:
            one.gates = _gates(one, gates, now, loads_24h, on_dnc)
        trial.records.append(one)
    trial.warnings.extend(_absent_route_fields(source, records, recent, now))
    trial.warnings.extend(_missing_campaigns(trial.records, campaign_exists))
    return trial


def _verify(source: Source, inbound: Inbound, now: float) -> str:
    """`ok`, or the 401 the request would get and where the credentials go."""
    intake = Intake(None, sandbox=True, wake=lambda: None, clock=lambda: now)  # type: ignore[arg-type]
    try:
        intake.check_credentials(source, inbound)
    except AuthFailure as failure:
        return f"401 {failure.reason}: {auth_hint(source, failure)}"
    return "ok"


def _one(source: Source, record: Record, now: float) -> RecordTrial:
    """Map and route one record exactly as intake would (prepare), and say why each route did or did not match."""
    item = prepare(source, record, now)
    checks = routing.explain(source.routes, record, item.lead) if item.fetch is None else []
    return RecordTrial(
        fields=record.fields,
        status=str(item.status),
        priority=item.priority,
        campaign=item.campaign,
        lead=item.lead,
        errors=item.errors,
        warnings=item.warnings,
        routes=checks,
    )


def _gates(
    one: RecordTrial,
    gates: GateSettings,
    now: float,
    loads_24h: Callable[[list[str]], int] | None,
    on_dnc: Callable[[list[str]], bool] | None = None,
) -> str:
    """The gates' verdict as the dispatcher would reach it now, read-only: load, wait or block, and why."""
    assert one.lead is not None  # only mapped leads reach the gates
    place = place_of(one.lead)
    facts = Facts(
        on_dnc=on_dnc(list(place.phones_e164)) if on_dnc is not None else False,
        loads_24h=loads_24h(list(place.phones_e164)) if loads_24h is not None else 0,
        last_retain=None,  # no TrustedForm retain in a dry run: it is billed
        waited=0.0,
    )
    result = evaluate(place, evidence_of(one.fields, gates.consent), one.campaign, facts, gates, now)
    if result.action is Action.LOAD:
        return "load now"
    if result.action is Action.MANUAL:
        return f"load into the manual campaign {result.campaign!r} ({explain(result)})"
    if result.needs_retain:
        return f"wait: {explain(result)} (intake would ask TrustedForm; a dry run does not: retains are billed)"
    # The lead's status words, as the console and `leads list` show them.
    verb = "wait" if result.action is Action.DEFER else LeadStatus.BLOCKED.value
    return f"{verb}: {explain(result)}"


def _absent_route_fields(
    source: Source,
    records: list[Record],
    recent: Callable[[str, float], list[dict[str, Any]]] | None,
    now: float,
) -> list[str]:
    """A route field in neither this sample nor the source's records of the last 7 days: likely misspelt."""
    names = [n for n in routing.fields_of(source.routes) if not n.startswith("lead.")]
    absent = [n for n in names if all(resolve_path(r.fields, n, _MISSING) is _MISSING for r in records)]
    if not absent:
        return []
    stored = recent(source.name, now - RECENT_SECONDS) if recent is not None else []
    warnings = []
    for name in absent:
        if any(resolve_path(fields, name, _MISSING) is not _MISSING for fields in stored):
            continue
        seen = f"nor in the {len(stored)} record(s) this source stored in the last 7 days" if stored else ""
        where = f"not in this payload {seen}".strip() if seen else "not in this payload (no record stored in 7 days)"
        warnings.append(
            f"route field {name!r} is {where}: a route on it never matches; is it spelt as the sender does?"
        )
    return warnings


def _missing_campaigns(records: list[RecordTrial], campaign_exists: Callable[[Any], bool | None] | None) -> list[str]:
    """A campaign the sample routes to that live Engage does not have (checked when it can be)."""
    if campaign_exists is None:
        return []
    warnings = []
    for campaign in dict.fromkeys(
        r.campaign for r in records if r.status == LeadStatus.QUEUED and r.campaign is not None
    ):
        if campaign_exists(campaign) is False:
            warnings.append(f"campaign {campaign!r} does not exist in live Engage: leads routed to it would be held")
    return warnings


def describe(trial: Trial, *, sandbox: bool, checked_campaigns: bool = True) -> list[str]:
    """The dry run as text: per record its fields, Engage lead, status and routes; then the warnings."""
    lines = [f"{trial.source}: dry run — nothing stored, nothing sent to Engage"]
    if trial.verified is not None:
        lines.append(f"credentials: {trial.verified}")
    if trial.parse_error:
        lines.append(f"unparseable: {trial.parse_error} (a webhook would be stored `malformed`)")
        return lines
    for number, record in enumerate(trial.records, 1):
        lines.append(f"record {number} of {len(trial.records)}:")
        lines.append("  fields: " + json.dumps(record.fields, ensure_ascii=False, default=str))
        if record.lead is not None:
            lines.append("  Engage lead: " + json.dumps(record.lead, ensure_ascii=False))
        where = f"priority {record.priority}, campaign {record.campaign!r}"
        lines.append(f"  status: {record.status} ({where})")
        for field_name, whys in (record.errors or {}).items():
            lines.append(f"  why {record.status}: {field_name}: {'; '.join(map(str, whys))}")
        for field_name, whys in (record.warnings or {}).items():
            lines.append(f"  left out of the lead: {field_name}: {'; '.join(whys)}")
        if record.gates is not None:
            lines.append(f"  compliance gates: {record.gates}")
        for check in record.routes:
            label = "the fallback (source/defaults)" if check.position == 0 else f"route {check.position}"
            if check.name:
                label += f" ({check.name})"
            lines.append(f"  {label}: {'matched' if check.matched else 'no'}{': ' + check.why if check.why else ''}")
    if sandbox:
        lines.append("campaigns: not checked against Engage (sandbox; `./leadrelay engage check` does it live)")
    elif not checked_campaigns:
        lines.append("campaigns: not checked here (`./leadrelay try` or `./leadrelay engage check` asks live Engage)")
    lines.extend(f"warning: {warning}" for warning in trial.warnings)
    return lines

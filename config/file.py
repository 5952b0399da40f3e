"""leadrelay.yml: reading and validating the file into FileConfig, Source and Route."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from compliance.gates import GateSettings
from config.compliance import gate_settings, load_block, merge
from config.errors import SOURCE_DOCS, ConfigError, closest, source_doc, unknown_key_fix
from config.interpolate import interpolate
from config.schemas import (
    COMMON_SOURCE_KEYS,
    AlertsSchema,
    DefaultsSchema,
    DispatchSchema,
    SourceCommonSchema,
    lifecycle_conditions,
)
from config.validation import load_schema
from handlers import base as handler_base
from handlers.base import SourceSettings

TOP_LEVEL_KEYS = ("defaults", "sources", "dispatch", "alerts", "compliance")


@dataclass
class Route:
    """A routing rule after defaults are applied."""

    when: dict[str, Any]
    priority: str
    campaign: Any
    drop: bool = False
    name: str | None = None  # optional; stored with the lead, since positions shift when routes are edited


@dataclass
class Lifecycle:
    """A source's lifecycle rules: each a list of `when` mappings, any of which matches."""

    opt_out: list[dict[str, Any]] = field(default_factory=list)
    cancel: list[dict[str, Any]] = field(default_factory=list)
    erase: list[dict[str, Any]] = field(default_factory=list)
    only: bool = False  # the type carries nothing else: an unmatched record is dropped


@dataclass
class Source:
    """A configured, enabled source with every default resolved."""

    settings: SourceSettings
    routes: list[Route]
    events: list[str] | None
    max_body: int
    reject_invalid: bool
    suppress_within: float
    suppress_by_phone: bool
    dedupe_window: float
    list_description: str
    duplicate_handling: str
    time_zone_option: str
    max_records: int = 1000  # records one request may carry; more is 413 too_many_records
    expect_every: float | None = None  # alert `source_silent` past this long without a webhook
    compliance: dict[str, Any] = field(default_factory=dict)  # the top-level block with this source's override

    def gates(self, default_off: str | None, path: str = "leadrelay.yml") -> GateSettings:
        """This source's compliance gates; `default_off` (Settings.windows_default_off) says why windows are off."""
        return gate_settings(self.compliance, default_off, path, f"sources.{self.name}.compliance")

    writeback: dict[str, Any] | None = None  # dialer outcomes back to the CRM (docs/operations.md "Closing the loop")
    lifecycle: Lifecycle = field(default_factory=Lifecycle)  # opt_out_when / cancel_when / erase_when

    @property
    def name(self) -> str:
        """The source's name, as in the URL."""
        return self.settings.name

    @property
    def type(self) -> str:
        """The source's type name."""
        return self.settings.type


@dataclass
class FileConfig:
    """leadrelay.yml after validation."""

    path: str
    defaults: dict[str, Any]
    dispatch: dict[str, Any]
    sources: dict[str, Source]
    warnings: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)  # sources with `enabled: false`
    # Sources left out because a ${VAR} of theirs is unset: only for commands that need the database alone.
    unloaded: dict[str, str] = field(default_factory=dict)
    alerts: dict[str, Any] = field(default_factory=lambda: AlertsSchema().load({}))
    compliance: dict[str, Any] = field(default_factory=dict)  # the top-level `compliance:` block

    def campaigns(self) -> list[Any]:
        """Every campaign the config can route to (for sandbox seeding and checks)."""
        found = [self.defaults["campaign"]]
        for source in self.sources.values():
            found.extend(route.campaign for route in source.routes)
        return list(dict.fromkeys(c for c in found if c is not None))


def load_file(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None, *, require_source_secrets: bool = True
) -> FileConfig:
    """Read and validate leadrelay.yml; raise ConfigError naming file, key and fix.

    `require_source_secrets=False` (commands that need only the database, e.g. `leads list`) leaves
    out a source whose ${VAR}s are unset instead of refusing the file; everything else is checked.
    """
    environ = dict(os.environ if environ is None else environ)
    where = str(path)
    raw = _read_yaml(path, where)

    missing: list[tuple[str, str]] = []
    defaults_raw = interpolate(raw.get("defaults") or {}, environ, "defaults", missing)
    dispatch_raw = interpolate(raw.get("dispatch") or {}, environ, "dispatch", missing)
    alerts_raw = interpolate(raw.get("alerts") or {}, environ, "alerts", missing)
    compliance_raw = interpolate(raw.get("compliance") or {}, environ, "compliance", missing)
    if missing:
        key, var = missing[0]
        raise ConfigError(where, key, f"${{{var}}} is not set", f"set {var} in the environment")
    defaults = load_schema(DefaultsSchema(), defaults_raw, where, "defaults")
    dispatch = load_schema(DispatchSchema(), dispatch_raw, where, "dispatch")
    for key in sorted(set(defaults_raw) - set(DefaultsSchema().fields)):
        raise ConfigError(
            where,
            f"defaults.{key}",
            "unknown key",
            unknown_key_fix(key, DefaultsSchema().fields, "leadrelay.example.yml"),
        )
    for key in sorted(set(dispatch_raw) - set(DispatchSchema().fields)):
        raise ConfigError(
            where, f"dispatch.{key}", "unknown key", unknown_key_fix(key, DispatchSchema().fields, "docs/operations.md")
        )
    alerts = load_schema(AlertsSchema(), alerts_raw, where, "alerts")
    for key in sorted(set(alerts_raw) - set(AlertsSchema().fields)):
        raise ConfigError(
            where, f"alerts.{key}", "unknown key", unknown_key_fix(key, AlertsSchema().fields, "docs/operations.md")
        )

    compliance = load_block(compliance_raw, where, "compliance")
    gate_settings(compliance, None, where)  # every check at start, whatever the mode

    sources_raw = raw.get("sources") or {}
    if not isinstance(sources_raw, dict):
        raise ConfigError(where, "sources", "must be a mapping of source name → settings", "see leadrelay.example.yml")
    types = handler_base.load_all()
    sources: dict[str, Source] = {}
    warnings: list[str] = []
    disabled: list[str] = []
    unloaded: dict[str, str] = {}
    for name, body in sources_raw.items():
        key = f"sources.{name}"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(name)):
            raise ConfigError(where, key, "a source name is used in the URL", "use letters, digits, '-', '_' and '.'")
        if not isinstance(body, dict):
            raise ConfigError(
                where, key, "must be a mapping with at least `type:`", "add `type: hubspot` (or another type)"
            )
        src_missing: list[tuple[str, str]] = []
        body = interpolate(body, environ, key, src_missing)
        if body.get("enabled", True) is False:
            disabled.append(str(name))
            continue
        if src_missing and not require_source_secrets:
            unloaded[str(name)] = f"${{{src_missing[0][1]}}} is not set"
            continue
        if src_missing:
            mkey, var = src_missing[0]
            raise ConfigError(
                where, mkey, f"${{{var}}} is not set", f"set {var} in the environment, or add `enabled: false` to {key}"
            )
        sources[str(name)] = _load_source(str(name), body, defaults, types, where, warnings, compliance)
    return FileConfig(
        path=where,
        defaults=defaults,
        dispatch=dispatch,
        sources=sources,
        warnings=warnings,
        disabled=disabled,
        alerts=alerts,
        unloaded=unloaded,
        compliance=compliance,
    )


def _read_yaml(path: str | os.PathLike[str], where: str) -> dict[str, Any]:
    """The file's top-level mapping, or a ConfigError for a missing file, bad YAML or an unknown top key."""
    try:
        raw_text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            where, "(file)", "not found", "create it (copy leadrelay.example.yml) or set LEADRELAY_CONFIG"
        ) from None
    try:
        raw = yaml.safe_load(raw_text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(
            where, "(syntax)", f"not valid YAML: {exc}", "fix the YAML syntax at the line shown"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            where, "(top level)", "must be a mapping with defaults/sources/dispatch", "see leadrelay.example.yml"
        )
    unknown_top = set(raw) - set(TOP_LEVEL_KEYS)
    if unknown_top:
        word = sorted(unknown_top)[0]
        raise ConfigError(
            where, word, "unknown top-level key", unknown_key_fix(word, TOP_LEVEL_KEYS, "leadrelay.example.yml")
        )
    return raw


def _load_source(
    name: str,
    body: dict[str, Any],
    defaults: dict[str, Any],
    types: Mapping[str, handler_base.SourceType],
    where: str,
    warnings: list[str],
    compliance: Mapping[str, Any] | None = None,
) -> Source:
    """One enabled source (variables already substituted): common keys, its type's keys, auth, routes."""
    key = f"sources.{name}"
    doc = source_doc(body.get("type"))
    common = load_schema(SourceCommonSchema(), body, where, key, doc)
    type_name = common["type"]
    stype = types.get(type_name)
    if stype is None:
        guess = closest(type_name, types)
        hint = f"did you mean `{guess}`? " if guess else ""
        raise ConfigError(
            where,
            f"{key}.type",
            f"unknown source type {type_name!r}",
            f"{hint}use one of {', '.join(sorted(types))} (one page each in {SOURCE_DOCS}/)",
        )
    own = {k: v for k, v in body.items() if k not in COMMON_SOURCE_KEYS}
    type_keys = set(stype.options_schema().fields) if stype.options_schema is not None else set()
    if stype.options_schema is not None:
        options = load_schema(stype.options_schema(), own, where, key, doc, COMMON_SOURCE_KEYS | type_keys)
    elif own:
        word = sorted(own)[0]
        raise ConfigError(
            where,
            f"{key}.{word}",
            f"unknown key for type {type_name}",
            unknown_key_fix(word, COMMON_SOURCE_KEYS, doc),
        )
    else:
        options = {}
    settings = SourceSettings(
        name=name,
        type=type_name,
        options=options,
        fields=common["fields_"],
        tokens=common.get("token") or [],
        token_field=common.get("token_field"),
        default_region=common.get("default_region", defaults["default_region"]).upper(),
        public_url=common.get("public_url"),
        phones=common.get("phones", defaults["phones"]),
        e164=common.get("e164", defaults["e164"]),
        allow_token_alone=common["allow_token_alone"],
    )
    if not settings.tokens and not stype.has_own_auth(settings):
        # A type says whether it may run open (a browser form cannot keep a secret); config
        # does not know any type by name.
        if not stype.allows_no_auth:
            raise ConfigError(
                where,
                key,
                "no authentication configured",
                f"add `token:` (a long random string, sent as X-Leadrelay-Token or ?token=) or the {type_name} type's own secret",
            )
        warnings.append(
            f"{key}: {type_name} without `token:` accepts any POST (only the type's own defences apply: {doc})"
        )
    fallback_campaign = common.get("campaign", defaults["campaign"])
    fallback_priority = common.get("priority") or defaults["priority"]
    routes = [
        Route(
            when=r.get("when") or {},
            priority=r.get("priority") or fallback_priority,
            campaign=r.get("campaign") if r.get("campaign") is not None else fallback_campaign,
            drop=r.get("drop", False),
            name=r.get("name"),
        )
        for r in common["routes"]
    ]
    # The source's own priority/campaign are a fallback route after its explicit ones;
    # when nothing matches, `defaults` apply (README "Configuration").
    routes.append(Route(when={}, priority=fallback_priority, campaign=fallback_campaign))
    return Source(
        settings=settings,
        routes=routes,
        events=common.get("events"),
        max_body=common.get("max_body", defaults["max_body"]),
        reject_invalid=common.get("reject_invalid", not stype.retries),
        suppress_within=common.get("suppress_within", defaults["suppress_within"]),
        suppress_by_phone=common.get("suppress_by_phone", defaults["suppress_by_phone"]),
        dedupe_window=common.get("dedupe_window", defaults["dedupe_window"]),
        list_description=common.get("list_description", defaults["list_description"]),
        duplicate_handling=common.get("duplicate_handling", defaults["duplicate_handling"]),
        time_zone_option=common.get("time_zone_option", defaults["time_zone_option"]),
        # A sender that documents a smaller batch (Salesforce: 100) caps the default.
        max_records=common.get(
            "max_records", min(defaults["max_records"], stype.max_records or defaults["max_records"])
        ),
        expect_every=common.get("expect_every"),
        compliance=_source_compliance(compliance or {}, body.get("compliance"), where, key),
        writeback=common.get("writeback"),
        lifecycle=_lifecycle(common, stype, settings),
    )


def _lifecycle(common: dict[str, Any], stype: handler_base.SourceType, settings: SourceSettings) -> Lifecycle:
    """The source's lifecycle rules: its own keys where written, else its type's defaults.

    The plain field names its own rules test go on `settings.rule_fields` (a fetch asks for them).
    """
    keys = ("opt_out_when", "cancel_when", "erase_when")
    written = [when for key in keys if key in common for when in lifecycle_conditions(key, common[key])]
    # Dotted names point into a webhook's event, not at the record a fetch reads.
    settings.rule_fields = tuple(dict.fromkeys(str(name) for when in written for name in when if "." not in str(name)))

    def rule(key: str) -> list[dict[str, Any]]:
        """One rule as written (validated by the schema), or the type's default."""
        if key in common:
            return lifecycle_conditions(key, common[key])
        return [dict(when) for when in stype.lifecycle_defaults.get(key, [])]

    return Lifecycle(
        opt_out=rule("opt_out_when"), cancel=rule("cancel_when"), erase=rule("erase_when"), only=stype.lifecycle_only
    )


def _source_compliance(top: Mapping[str, Any], raw: Any, where: str, key: str) -> dict[str, Any]:
    """The top-level compliance block with the source's override merged in, checked now."""
    merged = merge(top, load_block(raw, where, f"{key}.compliance"))
    gate_settings(merged, None, where, f"{key}.compliance")
    return merged

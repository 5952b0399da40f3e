"""Typed settings: the environment (12-factor) plus leadrelay.yml validated by marshmallow."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from environs import Env
from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from handlers import base as handler_base
from handlers.base import SourceSettings

ROOT = Path(__file__).resolve().parent
PRIORITIES = ("IMMEDIATE", "NORMAL")
DUPLICATE_HANDLING = ("RETAIN_ALL", "REMOVE_ALL_EXISTING", "REMOVE_FROM_LIST")
TIME_ZONE_OPTIONS = ("NPA_NXX", "ZIPCODE", "EXPLICIT", "COUNTRY", "NOT_APPLICABLE")
OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "matches", "contains")
# Keys every source accepts; everything else belongs to the source type's options schema.
COMMON_SOURCE_KEYS = {
    "type", "enabled", "token", "token_field", "fields", "routes", "priority", "campaign",
    "events", "public_url", "max_body", "reject_invalid", "suppress_within",
    "suppress_by_phone", "dedupe_window", "default_region", "phones", "e164",
    "list_description", "duplicate_handling", "time_zone_option",
}


class ConfigError(Exception):
    """A configuration problem, phrased as file + key + what to do about it."""

    def __init__(self, where: str, key: str, problem: str, fix: str = ""):
        self.where, self.key, self.problem, self.fix = where, key, problem, fix
        text = f"{where}: {key}: {problem}"
        if fix:
            text += f" — fix: {fix}"
        super().__init__(text)


# ---------------------------------------------------------------------------- durations

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """Turn 90, "90s", "30m", "24h" or "7d" into seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like 30m, 24h, 7d")
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration; use seconds or a string like 30m, 24h, 7d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class Duration(fields.Field):
    """A marshmallow field for seconds-or-duration-string values."""

    def _deserialize(self, value, attr, data, **kwargs):
        """Parse the duration or raise a validation error that says the accepted forms."""
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class StrOrList(fields.Field):
    """A string or a list of strings (secrets with rotation), always returned as a list."""

    def _deserialize(self, value, attr, data, **kwargs):
        """Accept one string or several; reject empties."""
        values = value if isinstance(value, list) else [value]
        out = []
        for item in values:
            if not isinstance(item, (str, int)) or str(item) == "":
                raise ValidationError("must be a non-empty string or a list of them")
            out.append(str(item))
        return out


# ---------------------------------------------------------------------------- schemas


class RouteSchema(Schema):
    """One entry of `routes:`; first match wins."""

    class Meta:
        unknown = EXCLUDE  # reported by validate_unknown below with a clearer message

    when = fields.Dict(keys=fields.String(), load_default=dict)
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    campaign = fields.Raw()
    drop = fields.Boolean(load_default=False)

    @validates_schema(pass_original=True)
    def validate_unknown(self, data, original, **kwargs):
        """Name unknown route keys and check each condition's operators."""
        extra = set(original) - {"when", "priority", "campaign", "drop"}
        if extra:
            raise ValidationError(f"unknown key(s) {sorted(extra)}; a route has when, priority, campaign, drop")
        for name, cond in (data.get("when") or {}).items():
            if isinstance(cond, dict):
                bad = set(cond) - set(OPERATORS)
                if bad:
                    raise ValidationError(
                        f"when.{name}: unknown operator(s) {sorted(bad)}; use one of {', '.join(OPERATORS)}",
                        "when",
                    )
                if "matches" in cond:
                    try:
                        re.compile(str(cond["matches"]))
                    except re.error as exc:
                        raise ValidationError(f"when.{name}.matches: bad regular expression: {exc}", "when")
                for op in ("in", "not_in"):
                    if op in cond and not isinstance(cond[op], list):
                        raise ValidationError(f"when.{name}.{op}: must be a list", "when")


class DefaultsSchema(Schema):
    """`defaults:` — what applies when a source or route does not say."""

    class Meta:
        unknown = EXCLUDE

    campaign = fields.Raw(load_default="Inbound Leads")
    priority = fields.String(load_default="NORMAL", validate=validate.OneOf(PRIORITIES))
    duplicate_handling = fields.String(load_default="REMOVE_FROM_LIST", validate=validate.OneOf(DUPLICATE_HANDLING))
    time_zone_option = fields.String(load_default="NPA_NXX", validate=validate.OneOf(TIME_ZONE_OPTIONS))
    default_region = fields.String(load_default="US", validate=validate.Length(equal=2))
    suppress_within = Duration(load_default=86400.0)
    suppress_by_phone = fields.Boolean(load_default=False)
    dedupe_window = Duration(load_default=7 * 86400.0)
    phones = fields.String(load_default="all", validate=validate.OneOf(("all", "primary")))
    e164 = fields.Boolean(load_default=False)
    list_description = fields.String(load_default="leadrelay {source} {date}")
    max_body = fields.Integer(load_default=1024 * 1024, validate=validate.Range(min=1024))
    retention_days = fields.Integer(load_default=30, validate=validate.Range(min=1))


class DispatchSchema(Schema):
    """`dispatch:` — dispatcher tuning (all optional; defaults follow Engage's documented limits)."""

    class Meta:
        unknown = EXCLUDE

    batch_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    normal_batch_delay = Duration(load_default=3.0)
    lease_seconds = Duration(load_default=4.0)
    poll_interval = Duration(load_default=1.0)
    retry_budget = Duration(load_default=24 * 3600.0)
    backoff_base = Duration(load_default=1.0)
    backoff_cap = Duration(load_default=300.0)
    rate_limit_10s = fields.Integer(load_default=27, validate=validate.Range(min=1))
    rate_limit_60s = fields.Integer(load_default=110, validate=validate.Range(min=1))
    max_claims = fields.Integer(load_default=5, validate=validate.Range(min=1))
    immediate_max_age = Duration(load_default=900.0)
    hold_probe = Duration(load_default=60.0)
    # One Engage call may take this long before it counts as failed (independent of the lease,
    # which keeps renewing while a call is in flight).
    call_timeout = Duration(load_default=30.0)
    # During an account-wide outage one probe call goes out at least this often.
    outage_probe_cap = Duration(load_default=30.0)


class SourceCommonSchema(Schema):
    """The keys every source accepts, whatever its type."""

    class Meta:
        unknown = EXCLUDE  # type-specific keys are checked by the type's own schema

    type = fields.String(required=True)
    enabled = fields.Boolean(load_default=True)
    token = StrOrList()
    token_field = fields.String()
    fields_ = fields.Dict(data_key="fields", keys=fields.String(), load_default=dict)
    routes = fields.List(fields.Nested(RouteSchema), load_default=list)
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    campaign = fields.Raw()
    events = fields.List(fields.String())
    public_url = fields.Url(require_tld=False, schemes={"http", "https"})
    max_body = fields.Integer(validate=validate.Range(min=1024))
    reject_invalid = fields.Boolean()
    suppress_within = Duration()
    suppress_by_phone = fields.Boolean()
    dedupe_window = Duration()
    default_region = fields.String(validate=validate.Length(equal=2))
    phones = fields.String(validate=validate.OneOf(("all", "primary")))
    e164 = fields.Boolean()
    list_description = fields.String()
    duplicate_handling = fields.String(validate=validate.OneOf(DUPLICATE_HANDLING))
    time_zone_option = fields.String(validate=validate.OneOf(TIME_ZONE_OPTIONS))


# ---------------------------------------------------------------------------- typed results


@dataclass
class Route:
    """A routing rule after defaults are applied."""

    when: dict[str, Any]
    priority: str
    campaign: Any
    drop: bool = False


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

    def campaigns(self) -> list[Any]:
        """Every campaign the config can route to (for sandbox seeding and checks)."""
        found = [self.defaults["campaign"]]
        for source in self.sources.values():
            found.extend(route.campaign for route in source.routes)
        return list(dict.fromkeys(c for c in found if c is not None))


# ---------------------------------------------------------------------------- ${VAR} interpolation

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(node: Any, environ: dict[str, str], path: str, missing: list[tuple[str, str]]) -> Any:
    """Replace ${VAR} / ${VAR:-default} in every string; record unset variables with their key path."""
    if isinstance(node, dict):
        return {k: interpolate(v, environ, f"{path}.{k}" if path else str(k), missing) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, environ, f"{path}[{i}]", missing) for i, v in enumerate(node)]
    if isinstance(node, str):
        def repl(match: re.Match) -> str:
            """Substitute one variable reference."""
            name, default = match.group(1), match.group(2)
            if name in environ and environ[name] != "":
                return environ[name]
            if default is not None:
                return default
            missing.append((path, name))
            return ""

        whole = _VAR.fullmatch(node)
        value = _VAR.sub(repl, node)
        # A value that was exactly one variable keeps YAML typing ("true", "80" → bool/int).
        if whole and value != "":
            try:
                return yaml.safe_load(value) if not isinstance(yaml.safe_load(value), (dict, list)) else value
            except yaml.YAMLError:
                return value
        return value
    return node


def _first_error(messages: Any, prefix: str) -> tuple[str, str]:
    """Flatten marshmallow's nested error dict to (dotted key, message) of the first error."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            sub = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                sub = prefix
            return _first_error(value, sub)
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], prefix) if isinstance(messages[0], (dict, list)) else (prefix, str(messages[0]))
    return prefix, str(messages)


def load_file(path: str | os.PathLike, environ: dict[str, str] | None = None) -> FileConfig:
    """Read and validate leadrelay.yml; raise ConfigError naming file, key and fix."""
    environ = dict(os.environ if environ is None else environ)
    where = str(path)
    try:
        raw_text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(where, "(file)", "not found", "create it (copy leadrelay.example.yml) or set LEADRELAY_CONFIG")
    try:
        raw = yaml.safe_load(raw_text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(where, "(syntax)", f"not valid YAML: {exc}", "fix the YAML syntax at the line shown")
    if not isinstance(raw, dict):
        raise ConfigError(where, "(top level)", "must be a mapping with defaults/sources/dispatch", "see leadrelay.example.yml")
    unknown_top = set(raw) - {"defaults", "sources", "dispatch"}
    if unknown_top:
        raise ConfigError(where, sorted(unknown_top)[0], "unknown top-level key", "use defaults, sources and dispatch")

    missing: list[tuple[str, str]] = []
    defaults_raw = interpolate(raw.get("defaults") or {}, environ, "defaults", missing)
    dispatch_raw = interpolate(raw.get("dispatch") or {}, environ, "dispatch", missing)
    if missing:
        key, var = missing[0]
        raise ConfigError(where, key, f"${{{var}}} is not set", f"set {var} in the environment")
    defaults = _load_schema(DefaultsSchema(), defaults_raw, where, "defaults")
    dispatch = _load_schema(DispatchSchema(), dispatch_raw, where, "dispatch")
    for key in set(defaults_raw) - set(DefaultsSchema().fields):
        raise ConfigError(where, f"defaults.{key}", "unknown key", f"use one of {', '.join(sorted(DefaultsSchema().fields))}")
    for key in set(dispatch_raw) - set(DispatchSchema().fields):
        raise ConfigError(where, f"dispatch.{key}", "unknown key", f"use one of {', '.join(sorted(DispatchSchema().fields))}")

    sources_raw = raw.get("sources") or {}
    if not isinstance(sources_raw, dict):
        raise ConfigError(where, "sources", "must be a mapping of source name → settings", "see leadrelay.example.yml")
    types = handler_base.load_all()
    sources: dict[str, Source] = {}
    warnings: list[str] = []
    for name, body in sources_raw.items():
        key = f"sources.{name}"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(name)):
            raise ConfigError(where, key, "a source name is used in the URL", "use letters, digits, '-', '_' and '.'")
        if not isinstance(body, dict):
            raise ConfigError(where, key, "must be a mapping with at least `type:`", "add `type: hubspot` (or another type)")
        src_missing: list[tuple[str, str]] = []
        body = interpolate(body, environ, key, src_missing)
        if body.get("enabled", True) is False:
            continue
        if src_missing:
            mkey, var = src_missing[0]
            raise ConfigError(where, mkey, f"${{{var}}} is not set", f"set {var} in the environment, or add `enabled: false` to {key}")
        common = _load_schema(SourceCommonSchema(), body, where, key)
        type_name = common["type"]
        stype = types.get(type_name)
        if stype is None:
            raise ConfigError(where, f"{key}.type", f"unknown source type {type_name!r}", f"use one of {', '.join(sorted(types))}")
        own = {k: v for k, v in body.items() if k not in COMMON_SOURCE_KEYS}
        if stype.options_schema is not None:
            options = _load_schema(stype.options_schema(), own, where, key)
        elif own:
            raise ConfigError(where, f"{key}.{sorted(own)[0]}", f"unknown key for type {type_name}", "remove it or check its spelling")
        else:
            options = {}
        settings = SourceSettings(
            name=str(name),
            type=type_name,
            options=options,
            fields=common["fields_"],
            tokens=common.get("token") or [],
            token_field=common.get("token_field"),
            default_region=common.get("default_region", defaults["default_region"]).upper(),
            public_url=common.get("public_url"),
            phones=common.get("phones", defaults["phones"]),
            e164=common.get("e164", defaults["e164"]),
        )
        if not settings.tokens and not stype.has_own_auth(settings):
            if type_name != "html_form":
                raise ConfigError(
                    where, key, "no authentication configured",
                    f"add `token:` (a long random string, sent as X-Leadrelay-Token or ?token=) or the {type_name} type's own secret",
                )
            warnings.append(f"{key}: html_form without `token:` accepts any POST (honeypot and rate limits still apply)")
        routes = [
            Route(when=r.get("when") or {}, priority=r.get("priority") or common.get("priority") or defaults["priority"],
                  campaign=r.get("campaign") if r.get("campaign") is not None else common.get("campaign", defaults["campaign"]),
                  drop=r.get("drop", False))
            for r in common["routes"]
        ]
        # The source's own priority/campaign are a fallback route after its explicit ones;
        # when nothing matches, `defaults` apply (DESIGN contract details).
        routes.append(Route(when={}, priority=common.get("priority") or defaults["priority"],
                            campaign=common.get("campaign", defaults["campaign"])))
        sources[str(name)] = Source(
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
        )
    return FileConfig(path=where, defaults=defaults, dispatch=dispatch, sources=sources, warnings=warnings)


def _load_schema(schema: Schema, data: Any, where: str, prefix: str) -> dict[str, Any]:
    """Load with a marshmallow schema, turning the first error into a ConfigError."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        key, message = _first_error(exc.messages, prefix)
        raise ConfigError(where, key, message, "see leadrelay.example.yml for the accepted values")


# ---------------------------------------------------------------------------- environment


ENGAGE_CREDENTIAL_VARS = ("RINGCENTRAL_CLIENT_ID", "RINGCENTRAL_CLIENT_SECRET", "RINGCENTRAL_JWT")


@dataclass
class Settings:
    """Everything the process needs, from the environment and the config file."""

    port: int
    database_url: str
    config_path: str
    dispatch_mode: str
    engage_mode: str
    engage_base_url: str
    engage_account_id: str | None
    engage_api_prefix: str
    ringcentral_server_url: str
    ringcentral_client_id: str | None
    ringcentral_client_secret: str | None
    ringcentral_jwt: str | None
    engage_api_token: str | None
    admin_token: str | None
    public_url: str | None
    sqlite_synchronous: str
    log_level: str
    file: FileConfig

    @property
    def is_sqlite(self) -> bool:
        """Whether the store is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def sandbox(self) -> bool:
        """Whether leads go to the in-process fake Engage."""
        return self.engage_mode == "sandbox"


def normalize_database_url(url: str) -> str:
    """Accept Heroku's postgres:// and plain postgresql:// and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build Settings from the environment; raise ConfigError for any inconsistency."""
    environ = dict(os.environ if environ is None else environ)
    env = Env(eager=True)
    # environs reads os.environ; point it at our mapping so tests can pass their own.
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(environ)
        port = env.int("PORT", 8000)
        db_url_raw = env.str("DATABASE_URL", "")
        config_path = env.str("LEADRELAY_CONFIG", "")
        dispatch_mode = env.str("DISPATCH_MODE", "inline").lower()
        engage_mode_raw = env.str("ENGAGE_MODE", "").lower()
        base_url = env.str("ENGAGE_BASE_URL", "https://ringcx.ringcentral.com").rstrip("/")
        account_id = env.str("ENGAGE_ACCOUNT_ID", None)
        api_prefix = env.str("ENGAGE_API_PREFIX", "/voice/api/v1").rstrip("/")
        rc_server = env.str("RINGCENTRAL_SERVER_URL", "https://platform.ringcentral.com").rstrip("/")
        client_id = env.str("RINGCENTRAL_CLIENT_ID", None)
        client_secret = env.str("RINGCENTRAL_CLIENT_SECRET", None)
        jwt = env.str("RINGCENTRAL_JWT", None)
        api_token = env.str("ENGAGE_API_TOKEN", None)
        admin_token = env.str("ADMIN_TOKEN", None)
        public_url = env.str("PUBLIC_URL", None)
        sqlite_sync = env.str("SQLITE_SYNCHRONOUS", "NORMAL").upper()
        log_level = env.str("LOG_LEVEL", "INFO").upper()
        allow_sqlite = env.bool("ALLOW_SQLITE", False)
        dyno = env.str("DYNO", None)
    except Exception as exc:  # environs raises EnvError with the variable's name in it
        raise ConfigError("environment", str(exc).split(" ")[0].strip("'\""), str(exc), "correct the variable's value")
    finally:
        os.environ.clear()
        os.environ.update(saved)

    if dispatch_mode not in ("inline", "worker"):
        raise ConfigError("environment", "DISPATCH_MODE", f"{dispatch_mode!r} is not a dispatch mode", "use inline or worker")
    if sqlite_sync not in ("NORMAL", "FULL"):
        raise ConfigError("environment", "SQLITE_SYNCHRONOUS", f"{sqlite_sync!r} is not allowed", "use NORMAL or FULL")

    if not config_path:
        config_path = str(ROOT / "leadrelay.yml") if (ROOT / "leadrelay.yml").exists() else str(ROOT / "leadrelay.example.yml")

    if db_url_raw:
        database_url = normalize_database_url(db_url_raw)
    else:
        (ROOT / "instance").mkdir(exist_ok=True)
        database_url = f"sqlite:///{ROOT / 'instance' / 'leadrelay.db'}"
    if database_url.startswith("sqlite") and dyno and not allow_sqlite:
        raise ConfigError(
            "environment", "DATABASE_URL",
            "SQLite on a platform with an ephemeral disk (DYNO is set) would lose every queued lead on restart",
            "attach Postgres (heroku addons:create heroku-postgresql) or set ALLOW_SQLITE=1 if the disk is persistent",
        )

    engage_mode = _decide_engage_mode(engage_mode_raw, environ, bool(db_url_raw), client_id, client_secret, jwt, api_token, account_id)
    file_config = load_file(config_path, environ)
    return Settings(
        port=port, database_url=database_url, config_path=config_path, dispatch_mode=dispatch_mode,
        engage_mode=engage_mode, engage_base_url=base_url, engage_account_id=account_id,
        engage_api_prefix=api_prefix, ringcentral_server_url=rc_server, ringcentral_client_id=client_id,
        ringcentral_client_secret=client_secret, ringcentral_jwt=jwt, engage_api_token=api_token,
        admin_token=admin_token, public_url=public_url.rstrip("/") if public_url else None,
        sqlite_synchronous=sqlite_sync, log_level=log_level, file=file_config,
    )


def _decide_engage_mode(mode: str, environ: dict[str, str], has_db_url: bool, client_id, client_secret, jwt, api_token, account_id) -> str:
    """Apply DESIGN's rule: sandbox is never silent, and a partial credential set is an error."""
    if mode and mode not in ("live", "sandbox"):
        raise ConfigError("environment", "ENGAGE_MODE", f"{mode!r} is not a mode", "use live or sandbox")
    rc_given = [v for v in ENGAGE_CREDENTIAL_VARS if environ.get(v)]
    rc_full = len(rc_given) == len(ENGAGE_CREDENTIAL_VARS)
    if rc_given and not rc_full:
        missing = [v for v in ENGAGE_CREDENTIAL_VARS if not environ.get(v)]
        raise ConfigError("environment", missing[0], f"partial RingCentral credentials: {', '.join(missing)} not set",
                          f"set {', '.join(missing)} too (or unset {', '.join(rc_given)} and use ENGAGE_API_TOKEN)")
    full = (rc_full or bool(api_token))
    if full and not account_id:
        raise ConfigError("environment", "ENGAGE_ACCOUNT_ID", "Engage credentials are set but the sub-account id is not",
                          "set ENGAGE_ACCOUNT_ID (see `flask --app app engage check`; never `~`)")
    if account_id == "~":
        raise ConfigError("environment", "ENGAGE_ACCOUNT_ID", "`~` is a client-side placeholder Engage does not accept",
                          "set the numeric sub-account id")
    if mode == "live":
        if not full:
            raise ConfigError("environment", "ENGAGE_MODE", "live mode needs Engage credentials",
                              "set RINGCENTRAL_CLIENT_ID, RINGCENTRAL_CLIENT_SECRET, RINGCENTRAL_JWT (or ENGAGE_API_TOKEN) and ENGAGE_ACCOUNT_ID")
        return "live"
    if mode == "sandbox":
        return "sandbox"
    if full:
        return "live"
    any_engage = [k for k in environ if (k.startswith("ENGAGE_") or k.startswith("RINGCENTRAL_")) and environ[k]]
    if has_db_url or any_engage:
        raise ConfigError(
            "environment", "ENGAGE_MODE",
            "no Engage credentials, and this does not look like a bare laptop (DATABASE_URL or ENGAGE_*/RINGCENTRAL_* set)",
            "set ENGAGE_MODE=sandbox to run without Engage on purpose, or set the Engage credentials",
        )
    return "sandbox"

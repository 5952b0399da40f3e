"""The process environment (12-factor) read into Settings; the mapping is read, never os.environ written."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from marshmallow import ValidationError, fields

from config.database import check_database_scheme, normalize_database_url
from config.engage_mode import decide_engage_mode
from config.errors import ConfigError, closest
from config.file import FileConfig, load_file
from config.live import check_live
from config.paths import ROOT

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

T = TypeVar("T")


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
    metrics_token: str | None = None  # METRICS_TOKEN: /metrics needs it as a bearer token when set
    trusted_proxy_hops: int = 0  # TRUSTED_PROXY_HOPS: proxies whose X-Forwarded-For hop the console trusts
    # DATABASE_MAX_CONNECTIONS: the database plan's connection limit (`config check --processes` sizes against it).
    database_max_connections: int | None = None
    web_concurrency: int = 2  # WEB_CONCURRENCY: gunicorn processes per web dyno on PostgreSQL (gunicorn.conf.py)
    database_pool_size: int = 5  # DATABASE_POOL_SIZE: PostgreSQL pool per process (as many again in overflow)
    calling_windows: bool = True  # CALLING_WINDOWS=off: the windows' default is off in live mode too (test rigs)

    @property
    def is_sqlite(self) -> bool:
        """Whether the store is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def sandbox(self) -> bool:
        """Whether leads go to the in-process fake Engage."""
        return self.engage_mode == "sandbox"

    @property
    def windows_default_off(self) -> str | None:
        """Why calling windows are off unless a source sets calling_hours (None: on, as live mode wants)."""
        if self.sandbox:
            return "sandbox"
        return None if self.calling_windows else "CALLING_WINDOWS=off"


class _Variables:
    """Typed reads of one environment mapping (marshmallow fields do the parsing and name what is wrong)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def _read(self, name: str, field: fields.Field[T], default: Any, fix: str) -> Any:
        """The variable parsed by `field`, or `default` when unset; ConfigError naming it and its value."""
        if name not in self.environ:
            return default
        value = self.environ[name]
        try:
            return field.deserialize(value)
        except ValidationError as exc:
            message = " ".join(str(m) for m in exc.messages) if isinstance(exc.messages, list) else str(exc.messages)
            raise ConfigError("environment", name, f"{value!r} is invalid: {message}", fix) from None

    def integer(self, name: str, default: int) -> int:
        """A whole number."""
        result: int = self._read(name, fields.Integer(), default, f"set {name} to a whole number (default {default})")
        return result

    def flag(self, name: str, default: bool) -> bool:
        """A flag: 1/0, true/false, yes/no, on/off."""
        result: bool = self._read(name, fields.Boolean(), default, f"set {name} to 1 or 0 (true/false, yes/no)")
        return result

    def text(self, name: str, default: str) -> str:
        """A string with a default when unset."""
        result: str = self._read(name, fields.String(), default, f"set {name} to a string")
        return result

    def optional(self, name: str) -> str | None:
        """A string, or None when unset."""
        result: str | None = self._read(name, fields.String(), None, f"set {name} to a string")
        return result


def load_settings(
    environ: Mapping[str, str] | None = None, *, require_account_id: bool = True, require_source_secrets: bool = True
) -> Settings:
    """Build Settings from the environment; raise ConfigError for any inconsistency.

    `require_account_id=False` is for `engage accounts` (it lists the sub-accounts the credentials
    can see, which is how ENGAGE_ACCOUNT_ID is found in the first place) and for the commands that
    need only the database; those also pass `require_source_secrets=False` (load_file).
    """
    # A snapshot: the values are read from this copy, and os.environ is never written (another
    # thread may be reading it, and tests pass their own mapping).
    environ = dict(os.environ if environ is None else environ)
    env = _Variables(environ)
    port = env.integer("PORT", 8000)
    db_url_raw = env.text("DATABASE_URL", "")
    config_path = env.text("LEADRELAY_CONFIG", "")
    dispatch_mode = env.text("DISPATCH_MODE", "inline").lower()
    engage_mode_raw = env.text("ENGAGE_MODE", "").lower()
    base_url = env.text("ENGAGE_BASE_URL", "https://ringcx.ringcentral.com").rstrip("/")
    account_id = env.optional("ENGAGE_ACCOUNT_ID")
    api_prefix = env.text("ENGAGE_API_PREFIX", "/voice/api/v1").rstrip("/")
    rc_server = env.text("RINGCENTRAL_SERVER_URL", "https://platform.ringcentral.com").rstrip("/")
    client_id = env.optional("RINGCENTRAL_CLIENT_ID")
    client_secret = env.optional("RINGCENTRAL_CLIENT_SECRET")
    jwt = env.optional("RINGCENTRAL_JWT")
    api_token = env.optional("ENGAGE_API_TOKEN")
    admin_token = env.optional("ADMIN_TOKEN")
    metrics_token = env.optional("METRICS_TOKEN")
    public_url = env.optional("PUBLIC_URL")
    sqlite_sync = env.text("SQLITE_SYNCHRONOUS", "NORMAL").upper()
    log_level = env.text("LOG_LEVEL", "INFO").upper()
    allow_sqlite = env.flag("ALLOW_SQLITE", False)
    dyno = env.optional("DYNO")
    # Heroku's router appends exactly one X-Forwarded-For hop; anywhere else nothing is trusted by default.
    proxy_hops = env.integer("TRUSTED_PROXY_HOPS", 1 if dyno else 0)
    max_connections = env.integer("DATABASE_MAX_CONNECTIONS", 0)
    web_concurrency = env.integer("WEB_CONCURRENCY", 2)
    pool_size = env.integer("DATABASE_POOL_SIZE", 5)
    if not 1 <= pool_size <= 50:
        raise ConfigError(
            "environment", "DATABASE_POOL_SIZE", f"{pool_size} is out of range", "use 1 to 50 (docs/deploy.md)"
        )
    calling_windows = env.flag("CALLING_WINDOWS", True)

    if dispatch_mode not in ("inline", "worker"):
        raise ConfigError(
            "environment", "DISPATCH_MODE", f"{dispatch_mode!r} is not a dispatch mode", "use inline or worker"
        )
    if not 0 <= proxy_hops <= 10:
        raise ConfigError(
            "environment", "TRUSTED_PROXY_HOPS", f"{proxy_hops} is out of range", "use 0 (no proxy) to 10"
        )
    if sqlite_sync not in ("NORMAL", "FULL"):
        raise ConfigError("environment", "SQLITE_SYNCHRONOUS", f"{sqlite_sync!r} is not allowed", "use NORMAL or FULL")
    if log_level not in LOG_LEVELS:
        guess = closest(log_level, LOG_LEVELS)
        hint = f"did you mean {guess}? " if guess else ""
        raise ConfigError(
            "environment", "LOG_LEVEL", f"{log_level!r} is not a log level", f"{hint}use one of {', '.join(LOG_LEVELS)}"
        )

    if not config_path:
        config_path = default_config_path()

    database_url = _database_url(db_url_raw, dyno, allow_sqlite)
    engage_mode = decide_engage_mode(
        engage_mode_raw, environ, bool(db_url_raw), api_token, account_id, require_account_id
    )
    file_config = load_file(config_path, environ, require_source_secrets=require_source_secrets)
    if engage_mode == "live":
        check_live(config_path, file_config)
    return Settings(
        port=port,
        database_url=database_url,
        config_path=config_path,
        dispatch_mode=dispatch_mode,
        engage_mode=engage_mode,
        engage_base_url=base_url,
        engage_account_id=account_id,
        engage_api_prefix=api_prefix,
        ringcentral_server_url=rc_server,
        ringcentral_client_id=client_id,
        ringcentral_client_secret=client_secret,
        ringcentral_jwt=jwt,
        engage_api_token=api_token,
        admin_token=admin_token,
        public_url=public_url.rstrip("/") if public_url else None,
        sqlite_synchronous=sqlite_sync,
        log_level=log_level,
        file=file_config,
        metrics_token=metrics_token,
        trusted_proxy_hops=proxy_hops,
        database_max_connections=max_connections or None,
        web_concurrency=web_concurrency,
        database_pool_size=pool_size,
        calling_windows=calling_windows,
    )


def default_config_path() -> str:
    """Without LEADRELAY_CONFIG: the user's leadrelay.yml in the repository root, else the example.

    The test suite replaces this (tests/conftest.py): a clone's own leadrelay.yml, with secrets
    the test run does not have, must never decide what a test loads.
    """
    own = ROOT / "leadrelay.yml"
    return str(own) if own.exists() else str(ROOT / "leadrelay.example.yml")


def _database_url(raw: str, dyno: str | None, allow_sqlite: bool) -> str:
    """DATABASE_URL normalised and checked, or the SQLite file in instance/ (refused on an ephemeral disk)."""
    if raw:
        database_url = normalize_database_url(raw)
        check_database_scheme(database_url)
    else:
        (ROOT / "instance").mkdir(exist_ok=True)
        database_url = f"sqlite:///{ROOT / 'instance' / 'leadrelay.db'}"
    if database_url.startswith("sqlite") and dyno and not allow_sqlite:
        raise ConfigError(
            "environment",
            "DATABASE_URL",
            "SQLite on a platform with an ephemeral disk (DYNO is set) would lose every queued lead on restart",
            "attach Postgres (heroku addons:create heroku-postgresql) or set ALLOW_SQLITE=1 if the disk is persistent",
        )
    return database_url

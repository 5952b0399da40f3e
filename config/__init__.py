"""Typed settings: the environment (12-factor) plus leadrelay.yml validated by marshmallow.

One module per job; import from `config` itself, which re-exports every public name:

- errors.py       ConfigError (file, key, problem, fix), did-you-mean, the doc page for a source type
- fields.py       Duration, parse_duration
- schemas.py      RouteSchema, DefaultsSchema, DispatchSchema, SourceCommonSchema, AlertsSchema and their choices
- validation.py   loading with a schema: the first error becomes a ConfigError with its fix
- interpolate.py  ${VAR} / ${VAR:-default} in the file
- file.py         leadrelay.yml → FileConfig, Source, Route (load_file)
- environment.py  the environment → Settings (load_settings), read from a mapping
- engage_mode.py  the Engage-mode rule: sandbox is never silent
- database.py     DATABASE_URL: normalising, supported schemes, connection errors
- paths.py        ROOT, the repository root
"""

from __future__ import annotations

from config.database import DATABASE_SCHEMES, check_database_scheme, database_error, normalize_database_url
from config.engage_mode import ENGAGE_CREDENTIAL_VARS, decide_engage_mode
from config.environment import LOG_LEVELS, Settings, load_settings
from config.errors import SOURCE_DOCS, ConfigError, closest, source_doc, unknown_key_fix
from config.fields import Duration, parse_duration
from config.file import FileConfig, Lifecycle, Route, Source, load_file
from config.interpolate import interpolate
from config.paths import ROOT
from config.schemas import (
    COMMON_SOURCE_KEYS,
    DUPLICATE_HANDLING,
    LIFECYCLE_KEYS,
    OPERATORS,
    PRIORITIES,
    TIME_ZONE_OPTIONS,
    AlertsSchema,
    DefaultsSchema,
    DispatchSchema,
    RouteSchema,
    SourceCommonSchema,
)
from config.validation import load_schema

__all__ = [
    "COMMON_SOURCE_KEYS",
    "DATABASE_SCHEMES",
    "DUPLICATE_HANDLING",
    "ENGAGE_CREDENTIAL_VARS",
    "LIFECYCLE_KEYS",
    "LOG_LEVELS",
    "OPERATORS",
    "PRIORITIES",
    "ROOT",
    "SOURCE_DOCS",
    "TIME_ZONE_OPTIONS",
    "AlertsSchema",
    "ConfigError",
    "DefaultsSchema",
    "DispatchSchema",
    "Duration",
    "FileConfig",
    "Lifecycle",
    "Route",
    "RouteSchema",
    "Settings",
    "Source",
    "SourceCommonSchema",
    "check_database_scheme",
    "closest",
    "database_error",
    "decide_engage_mode",
    "interpolate",
    "load_file",
    "load_schema",
    "load_settings",
    "normalize_database_url",
    "parse_duration",
    "source_doc",
    "unknown_key_fix",
]

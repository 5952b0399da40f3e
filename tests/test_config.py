"""Config: environment rules (sandbox never silent) and leadrelay.yml validation with file/key/fix errors."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from config import ConfigError, load_file, load_settings, normalize_database_url, parse_duration
from handlers import base as handler_base
from handlers.base import SourceType, register

GOOD = """
defaults:
  campaign: "Inbound Leads"
sources:
  hubspot:
    type: hubspot
    client_secret: ${HS_SECRET}
    routes:
      - when: {hubspotscore: {gte: 80}}
        priority: IMMEDIATE
        campaign: "Hot Inbound"
      - priority: NORMAL
  form:
    type: typeform
    secret: ${TF_SECRET}
    enabled: false
"""

OWN_LIVE = "sources:\n  hubspot:\n    type: hubspot\n    token: a-long-random-token-of-this-deployment\n"


def test_example_config_starts_with_no_variables(tmp_path):
    """leadrelay.example.yml must load on a fresh machine with nothing set."""
    settings = load_settings({"LEADRELAY_CONFIG": "leadrelay.example.yml"})
    assert settings.sandbox
    assert "hubspot" in settings.file.sources


def test_good_config_and_route_fallbacks(write_config):
    """Routes keep order; the source's fallback route comes last; disabled sources need no vars."""
    cfg = load_file(write_config(GOOD), {"HS_SECRET": "s3cret"})
    src = cfg.sources["hubspot"]
    assert [r.priority for r in src.routes] == ["IMMEDIATE", "NORMAL", "NORMAL"]
    assert src.routes[0].campaign == "Hot Inbound"
    assert src.routes[1].campaign == "Inbound Leads"
    assert "form" not in cfg.sources
    assert src.settings.options["client_secret"] == ["s3cret"]


@pytest.mark.parametrize(
    "body, environ, key, words",
    [
        (GOOD, {}, "sources.hubspot.client_secret", "HS_SECRET"),
        ("sources:\n  x:\n    type: nosuch\n    token: t\n", {}, "sources.x.type", "unknown source type"),
        ("sources:\n  x:\n    type: generic\n", {}, "sources.x", "no authentication"),
        (
            "sources:\n  x:\n    type: generic\n    token: t\n    routes:\n      - when: {a: {bigger: 1}}\n",
            {},
            "sources.x.routes",
            "unknown operator",
        ),
        (
            "sources:\n  x:\n    type: generic\n    token: t\n    priority: URGENT\n",
            {},
            "sources.x.priority",
            "Must be one of",
        ),
        ("defaults:\n  suppress_within: soon\n", {}, "defaults.suppress_within", "not a duration"),
        ("defaults:\n  campain: x\n", {}, "defaults.campain", "unknown key"),
        ("sourcez: {}\n", {}, "sourcez", "unknown top-level key"),
        (
            "sources:\n  x:\n    type: hubspot\n    token: t\n    client_secrett: abc\n",
            {},
            "sources.x.client_secrett",
            "did you mean `client_secret`",
        ),
        ("sources: [\n", {}, "(syntax)", "not valid YAML"),
    ],
)
def test_bad_config_names_file_key_and_fix(write_config, body, environ, key, words):
    """Every config error says which file, which key, and what to do."""
    path = write_config(body)
    with pytest.raises(ConfigError) as err:
        load_file(path, environ)
    message = str(err.value)
    assert message.startswith(path)
    assert key in message
    assert words.lower() in message.lower()
    assert "fix:" in message


@pytest.mark.parametrize(
    "environ, key",
    [
        ({"DATABASE_URL": "postgresql://x/y"}, "ENGAGE_MODE"),
        ({"RINGCENTRAL_CLIENT_ID": "a", "RINGCENTRAL_JWT": "j", "ENGAGE_ACCOUNT_ID": "1"}, "RINGCENTRAL_CLIENT_SECRET"),
        ({"ENGAGE_API_TOKEN": "t"}, "ENGAGE_ACCOUNT_ID"),
        ({"ENGAGE_BASE_URL": "http://x"}, "ENGAGE_MODE"),
        ({"ENGAGE_MODE": "live"}, "ENGAGE_MODE"),
        ({"ENGAGE_API_TOKEN": "t", "ENGAGE_ACCOUNT_ID": "~"}, "ENGAGE_ACCOUNT_ID"),
        ({"DYNO": "web.1", "ENGAGE_MODE": "sandbox"}, "DATABASE_URL"),
        ({"DISPATCH_MODE": "both"}, "DISPATCH_MODE"),
    ],
)
def test_environment_errors(environ, key):
    """Sandbox is never silent; partial credentials and SQLite on Heroku fail naming the variable."""
    environ = {"LEADRELAY_CONFIG": "leadrelay.example.yml", **environ}
    with pytest.raises(ConfigError) as err:
        load_settings(environ)
    assert err.value.key == key


def test_modes(write_config):
    """A full credential set means live; a bare laptop means sandbox; ALLOW_SQLITE lifts the DYNO guard."""
    base = {"LEADRELAY_CONFIG": "leadrelay.example.yml"}
    # Live mode refuses the example's demo token (tests/security/test_live_config.py); a generated one goes.
    live = load_settings(
        {**base, "LEADRELAY_CONFIG": write_config(OWN_LIVE), "ENGAGE_API_TOKEN": "t", "ENGAGE_ACCOUNT_ID": "42"}
    )
    assert live.engage_mode == "live"
    jwt = load_settings(
        {
            **base,
            "RINGCENTRAL_CLIENT_ID": "a",
            "RINGCENTRAL_CLIENT_SECRET": "b",
            "RINGCENTRAL_JWT": "c",
            "ENGAGE_ACCOUNT_ID": "42",
            "ENGAGE_MODE": "sandbox",
        }
    )
    assert jwt.engage_mode == "sandbox"
    assert load_settings({**base, "DYNO": "web.1", "ALLOW_SQLITE": "1", "ENGAGE_MODE": "sandbox"}).is_sqlite


def test_database_url_forms():
    """Heroku's postgres:// is accepted and uses psycopg 3."""
    assert normalize_database_url("postgres://u:p@h/d") == "postgresql+psycopg://u:p@h/d"
    assert normalize_database_url("postgresql://h/d") == "postgresql+psycopg://h/d"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize(
    "value, seconds", [(90, 90), ("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800), ("0", 0)]
)
def test_durations(value, seconds):
    """Durations are seconds or a number with a unit."""
    assert parse_duration(value) == seconds


def test_default_interpolation(write_config):
    """${VAR:-default} falls back; a whole-value variable keeps YAML typing."""
    path = write_config(
        "defaults:\n  suppress_by_phone: ${SBP:-true}\nsources:\n  x:\n    type: generic\n    token: ${T:-abc}\n"
    )
    cfg = load_file(path, {})
    assert cfg.defaults["suppress_by_phone"] is True
    assert cfg.sources["x"].settings.tokens == ["abc"]


@pytest.mark.parametrize(
    "body, key, fix",
    [
        (
            "sources:\n  hs:\n    type: hubspot\n    token: t\n    prority: IMMEDIATE\n",
            "sources.hs.prority",
            "did you mean `priority`? (every key: docs/sources/hubspot.md)",
        ),
        (
            "sources:\n  w:\n    type: generic\n    token: t\n    hmac: {header: X-Sig, secret: s, algoritm: sha1}\n",
            "sources.w.hmac.algoritm",
            "did you mean `algorithm`? (every key: docs/sources/generic.md)",
        ),
        (
            "sources:\n  u:\n    type: unbounce\n    token: t\n    feilds: {}\n",
            "sources.u.feilds",
            "did you mean `fields`? (every key: docs/sources/unbounce.md)",
        ),
        ("sources:\n  x:\n    type: hubspott\n    token: t\n", "sources.x.type", "did you mean `hubspot`?"),
        (
            "sources:\n  x:\n    type: generic\n    token: t\n    routes:\n      - whem: {a: 1}\n",
            "sources.x.routes",
            "did you mean `when`?",
        ),
        (
            "sources:\n  x:\n    type: generic\n    token: t\n    routes:\n      - when: {a: {gtee: 1}}\n",
            "sources.x.routes",
            "did you mean `gte`?",
        ),
        (
            "defaults:\n  campain: x\n",
            "defaults.campain",
            "did you mean `campaign`? (every key: leadrelay.example.yml)",
        ),
        ("dispatch:\n  batchsize: 5\n", "dispatch.batchsize", "did you mean `batch_size`?"),
        ("source: {}\n", "source", "did you mean `sources`?"),
        (
            "sources:\n  x:\n    type: generic\n    token: t\n    priority: URGENT\n",
            "sources.x.priority",
            "see docs/sources/generic.md",
        ),
    ],
)
def test_typos_suggest_the_closest_key_and_link_the_doc(write_config, body, key, fix):
    """A misspelt key names the key it probably meant and the page that lists every key."""
    with pytest.raises(ConfigError) as err:
        load_file(write_config(body), {})
    assert err.value.key.startswith(key)
    assert fix in str(err.value)


def test_every_type_specific_key_is_documented_on_its_page():
    """The error points at docs/sources/<type>.md, so that page names each of the type's own keys."""
    missing = []
    shipped = {name: t for name, t in handler_base.load_all().items() if t.__module__.startswith("handlers.")}
    assert {"hubspot", "generic", "html_form"} <= set(shipped)  # (tests may register types of their own)
    for name, stype in shipped.items():
        page = (Path(__file__).resolve().parent.parent / "docs" / "sources" / f"{name}.md").read_text()
        keys = set(stype.options_schema().fields) if stype.options_schema is not None else set()
        missing += [f"{name}.{key}" for key in sorted(keys) if f"{key}:" not in page and f"`{key}`" not in page]
    assert missing == []


@pytest.mark.parametrize(
    "environ, key, words",
    [
        ({"DATABASE_URL": "mysql://u:p@db/leads"}, "DATABASE_URL", "'mysql' is not a supported database"),
        ({"DATABASE_URL": "postgresql+psycopg2://db/x"}, "DATABASE_URL", "use postgresql://"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL", "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ({"LOG_LEVEL": "warn"}, "LOG_LEVEL", "did you mean WARNING?"),
        # a value that does not parse names its variable (environs' wording once gave the key "Environment")
        ({"PORT": "eighty"}, "PORT", "'eighty' is invalid"),
        ({"PORT": ""}, "PORT", "whole number"),
        ({"ALLOW_SQLITE": "maybe"}, "ALLOW_SQLITE", "'maybe' is invalid"),
    ],
)
def test_environment_values_fail_with_the_fix(environ, key, words):
    """A database without a driver, a log level logging does not know or a value of the wrong type is one line with the fix."""
    with pytest.raises(ConfigError) as err:
        load_settings({"LEADRELAY_CONFIG": "leadrelay.example.yml", "ENGAGE_MODE": "sandbox", **environ})
    assert err.value.key == key
    assert words in str(err.value)
    assert "fix:" in str(err.value)
    assert "\n" not in str(err.value)


def test_load_settings_never_touches_os_environ_under_other_threads(monkeypatch):
    """Another thread reading os.environ while settings load never sees it emptied or refilled.

    The old load_settings cleared os.environ and filled it with the given mapping to feed environs:
    a gunicorn thread or the dispatcher reading a variable at that moment saw it vanish.
    """
    monkeypatch.setenv("LEADRELAY_TEST_PROBE", "kept")
    monkeypatch.delenv("LEADRELAY_TEST_ONLY_GIVEN", raising=False)
    given = {"LEADRELAY_CONFIG": "leadrelay.example.yml", "ENGAGE_MODE": "sandbox", "LEADRELAY_TEST_ONLY_GIVEN": "1"}
    seen: list[str] = []
    stop = threading.Event()

    def watch():
        """Read os.environ as fast as the interpreter lets this thread run."""
        while not stop.is_set() and not seen:
            if os.environ.get("LEADRELAY_TEST_PROBE") != "kept":
                seen.append("a variable of the process vanished")
            if "LEADRELAY_TEST_ONLY_GIVEN" in os.environ:
                seen.append("the given mapping was written into os.environ")

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so a window is hit if there is one
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        deadline = time.monotonic() + 3  # the old code was caught within a few loads, well under a second
        for _ in range(60):
            settings = load_settings(given)
            if seen or time.monotonic() > deadline:
                break
    finally:
        stop.set()
        watcher.join(5)
        sys.setswitchinterval(switch)
    assert seen == []
    assert settings.sandbox and os.environ["LEADRELAY_TEST_PROBE"] == "kept"


def test_a_type_declares_that_it_may_run_without_auth(write_config):
    """Running open is the handler type's declaration (allows_no_auth), not a type name config knows."""

    @register
    class OpenTestType(SourceType):
        """A test-only type that, like a browser form, may run with no token."""

        name = "test_open_type"
        allows_no_auth = True

    cfg = load_file(write_config("sources:\n  open:\n    type: test_open_type\n  form:\n    type: html_form\n"), {})
    assert set(cfg.sources) == {"open", "form"}
    assert any(w.startswith("sources.open: test_open_type without `token:`") for w in cfg.warnings)
    assert any(w.startswith("sources.form: html_form without `token:`") for w in cfg.warnings)
    types = handler_base.load_all()
    assert types["html_form"].allows_no_auth and not types["generic"].allows_no_auth
    with pytest.raises(ConfigError, match="no authentication configured"):
        load_file(write_config("sources:\n  x:\n    type: generic\n"), {})

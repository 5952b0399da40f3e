"""app.json (the Deploy-to-Heroku button) follows Heroku's documented schema and agrees with the Procfile,
the README's configuration table and the config loader."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import pytest

from config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent
APP = json.loads((ROOT / "app.json").read_text())

# Heroku's app.json schema (devcenter "app.json Schema"): the keys it defines and their shapes.
TOP_LEVEL = {
    "name",
    "description",
    "keywords",
    "website",
    "repository",
    "logo",
    "success_url",
    "scripts",
    "env",
    "formation",
    "image",
    "addons",
    "buildpacks",
    "environments",
    "stack",
}
ENV_KEYS = {"description", "value", "required", "generator"}
SCRIPTS = {"postdeploy", "pr-predestroy"}
SIZES = {
    "eco",
    "basic",
    "standard-1x",
    "standard-2x",
    "performance-m",
    "performance-l",
    "private-s",
    "private-m",
    "private-l",
    "shield-s",
    "shield-m",
    "shield-l",
}
# README variables that have no place on Heroku: set by the platform, by the add-on, or SQLite/host-only.
NOT_ON_HEROKU = {"PORT", "DATABASE_URL", "ALLOW_SQLITE", "SQLITE_SYNCHRONOUS", "GUNICORN_CONTROL_SOCKET"}


def schema_problems(app: dict) -> list[str]:
    """Every way `app` breaks the documented app.json schema (empty when it conforms)."""
    problems = [f"unknown top-level key {key}" for key in set(app) - TOP_LEVEL]
    if not isinstance(app.get("name", ""), str) or not re.fullmatch(r"[a-zA-Z_.-]{1,30}", app.get("name", "x")):
        problems.append("name: letters, '-', '_' and '.', at most 30 characters")
    for key in ("description", "website", "repository", "logo", "success_url", "stack", "image"):
        if key in app and not isinstance(app[key], str):
            problems.append(f"{key}: must be a string")
    if not all(isinstance(k, str) for k in app.get("keywords", [])):
        problems.append("keywords: must be strings")
    problems += [f"scripts.{key}: unknown script" for key in set(app.get("scripts", {})) - SCRIPTS]
    for name, spec in app.get("env", {}).items():
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            problems.append(f"env.{name}: not a config var name")
        if isinstance(spec, str):
            continue
        if not isinstance(spec, dict):
            problems.append(f"env.{name}: a string or an object")
            continue
        problems += [f"env.{name}.{key}: unknown key" for key in set(spec) - ENV_KEYS]
        if "value" in spec and not isinstance(spec["value"], str):
            problems.append(f"env.{name}.value: must be a string")
        if "required" in spec and not isinstance(spec["required"], bool):
            problems.append(f"env.{name}.required: must be a boolean")
        if "generator" in spec and spec["generator"] != "secret":
            problems.append(f"env.{name}.generator: only `secret` exists")
    for process, spec in app.get("formation", {}).items():
        if set(spec) - {"quantity", "size"}:
            problems.append(f"formation.{process}: only quantity and size")
        if not isinstance(spec.get("quantity", 1), int) or spec.get("quantity", 1) < 0:
            problems.append(f"formation.{process}.quantity: a whole number")
        if "size" in spec and spec["size"].lower() not in SIZES:
            problems.append(f"formation.{process}.size: not a dyno size")
    for addon in app.get("addons", []):
        plan = addon if isinstance(addon, str) else addon.get("plan")
        if not isinstance(plan, str) or (isinstance(addon, dict) and set(addon) - {"plan", "as", "options"}):
            problems.append(f"addons: {addon!r} is not a plan name or {{plan, as, options}}")
    for pack in app.get("buildpacks", []):
        if not isinstance(pack, dict) or set(pack) != {"url"}:
            problems.append(f"buildpacks: {pack!r} is not {{url}}")
    return problems


def test_app_json_follows_the_schema():
    """No key, type or value the documented schema does not allow."""
    assert schema_problems(APP) == []


def test_the_schema_check_can_fail():
    """The checker itself catches the usual mistakes (so a green test means something)."""
    bad = {
        "nam": "x",
        "env": {"admin_token": {"generator": "random"}, "X": {"value": 3}},
        "formation": {"web": {"quantity": "1", "size": "huge"}},
        "addons": [{"name": "pg"}],
    }
    assert len(schema_problems(bad)) == 7


def test_formation_is_the_procfile_production_setup():
    """web + worker from the Procfile (release runs by itself); two workers: one active, one standby."""
    procfile = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert set(APP["formation"]) == set(procfile) - {"release"} == {"web", "worker"}
    assert APP["formation"]["worker"]["quantity"] == 2 and APP["formation"]["web"]["quantity"] >= 1
    assert APP["env"]["DISPATCH_MODE"]["value"] == "worker"
    assert procfile["release"].strip() == "flask --app app db upgrade"
    assert any(str(a if isinstance(a, str) else a["plan"]).startswith("heroku-postgresql") for a in APP["addons"])


def test_every_config_var_is_described_and_documented():
    """Each var has a description and appears in the README table or the example config; ADMIN_TOKEN is generated."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("Sandbox is never", 1)[0]
    first_cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    table = {name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    assert {"DATABASE_URL", "ADMIN_TOKEN", "RINGCENTRAL_JWT", "LOG_LEVEL"} <= table
    example = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "leadrelay.example.yml").read_text()))
    for name, spec in APP["env"].items():
        assert isinstance(spec, dict) and len(spec.get("description", "")) > 10, name
        assert name in table | example, f"{name} is documented nowhere"
    assert APP["env"]["ADMIN_TOKEN"] == {**APP["env"]["ADMIN_TOKEN"], "generator": "secret"}
    assert table - NOT_ON_HEROKU - set(APP["env"]) == set()


def test_the_deployed_values_pass_the_config_loader(write_config):
    """With the button's values (secrets generated), Heroku's DATABASE_URL, DYNO and a committed
    leadrelay.yml the app would start; with only the example file it stops (no demo secret goes live)."""
    environ = {
        name: spec.get("value") or (secrets.token_hex(16) if spec.get("generator") else "")
        for name, spec in APP["env"].items()
    }
    environ = {k: v for k, v in environ.items() if v}
    environ.update(
        {
            "DATABASE_URL": "postgres://u:p@ec2.example.com:5432/d",
            "DYNO": "web.1",
            "PORT": "31337",
            "ENGAGE_API_TOKEN": "token",
            "ENGAGE_ACCOUNT_ID": "12345678",
        }
    )
    with pytest.raises(ConfigError) as err:
        load_settings({**environ, "LEADRELAY_CONFIG": str(ROOT / "leadrelay.example.yml")})
    assert err.value.key == "LEADRELAY_CONFIG"
    own = write_config("sources:\n  hubspot:\n    type: hubspot\n    token: ${LEADRELAY_DEMO_TOKEN}\n")
    settings = load_settings({**environ, "LEADRELAY_CONFIG": own})
    assert settings.dispatch_mode == "worker" and settings.engage_mode == "live" and not settings.is_sqlite

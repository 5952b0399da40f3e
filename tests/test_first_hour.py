"""A new user's first hour, as real processes in a fresh shell: the wrapper, one-line errors, account discovery."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from cli import GROUPS
from harness import fake_engage
from harness.processes import FakeEngageProcess, ServiceProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
WRAPPER = ROOT / "leadrelay"
CONFIG = (
    "sources:\n  web:\n    type: generic\n    token: t\n  old:\n    type: hubspot\n    token: t\n    enabled: false\n"
)

pytestmark = [
    pytest.mark.process,  # every test runs the commands a new user types, as processes
    pytest.mark.skipif(
        not (ROOT / ".venv" / "bin" / "flask").exists(),
        reason="./leadrelay runs the project's .venv: create it with `make install`",
    ),
]


def fresh_shell(tmp_path: Path, **env: str) -> dict[str, str]:
    """The environment of a new terminal: no virtualenv activated, nothing of the test run's."""
    config = tmp_path / "leadrelay.yml"
    config.write_text(CONFIG)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LEADRELAY_CONFIG": str(config),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'lr.db'}",
        "ENGAGE_MODE": "sandbox",
        **env,
    }


def leadrelay(args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Run `./leadrelay <args>` as a user would type it (from `cwd`)."""
    return subprocess.run([str(WRAPPER), *args.split()], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_wrapper_runs_the_commands_from_any_directory(tmp_path):
    """`./leadrelay config check` works in a shell where `flask` is not on PATH, from another directory."""
    result = leadrelay("config check", fresh_shell(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "/webhooks/web  type=generic" in result.stdout
    assert "/webhooks/old  disabled (enabled: false): answers 404" in result.stdout


def test_readme_commands_work_as_written(tmp_path):
    """Every `./leadrelay …` line in the README's shell blocks runs (sandbox Engage, fresh SQLite)."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    commands = [
        line.split("#")[0].strip() for block in blocks for line in block.splitlines() if line.startswith("./leadrelay ")
    ]
    assert len(commands) >= 3, commands
    env = fresh_shell(tmp_path)
    for command in commands:
        result = leadrelay(command.removeprefix("./leadrelay "), env, cwd=ROOT)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
        assert "Traceback" not in result.stderr, command


@pytest.mark.parametrize(
    "env, words",
    [
        ({"DATABASE_URL": "mysql://u:p@db.example.com/leads"}, "DATABASE_URL: 'mysql' is not a supported database"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL: 'VERBOSE' is not a log level — fix: use one of DEBUG, INFO"),
        (
            {"DATABASE_URL": "postgresql://postgres@127.0.0.1:{port}/leads"},
            "DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:{port}/leads (Connection refused) — fix: start",
        ),
        (
            {"ENGAGE_MODE": "", "ENGAGE_API_TOKEN": "tok"},
            "ENGAGE_ACCOUNT_ID: Engage credentials are set but the "
            "sub-account id is not — fix: run `./leadrelay engage accounts`",
        ),
    ],
)
def test_user_errors_are_one_line_with_the_fix(tmp_path, env, words):
    """No traceback: one line on stderr naming the variable (and the host), exit code 3."""
    port = str(free_port())  # nothing listens there: PostgreSQL is unreachable
    env = {key: value.replace("{port}", port) for key, value in env.items()}
    result = leadrelay("config check", fresh_shell(tmp_path, **env), cwd=tmp_path)
    assert result.returncode == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert words.replace("{port}", port) in lines[0]


def test_engage_accounts_lists_sub_accounts_before_the_id_is_set(tmp_path):
    """With credentials and no ENGAGE_ACCOUNT_ID, `engage accounts` still runs and shows the ids to choose from."""
    fake = FakeEngageProcess("--sub-account", "22220001:West Coast", log_path=tmp_path / "fake.log").start()
    try:
        live = {k: v for k, v in fake.env().items() if k != "ENGAGE_ACCOUNT_ID"}
        env = fresh_shell(tmp_path, **live)
        result = leadrelay("engage accounts", env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            f"account {fake_engage.DEFAULT_ACCOUNT_ID}: Fake Engage (main account {fake_engage.DEFAULT_ACCOUNT_ID})",
            f"account 22220001: West Coast (main account {fake_engage.DEFAULT_ACCOUNT_ID})",
        ]
        assert "set ENGAGE_ACCOUNT_ID to the id of the sub-account" in result.stderr
        # The schema migration (Heroku's release phase) runs too; every other command still refuses.
        assert leadrelay("db upgrade", env, cwd=tmp_path).returncode == 0
        refused = leadrelay("dispatch run", env, cwd=tmp_path)
        assert refused.returncode == 3 and "ENGAGE_ACCOUNT_ID" in refused.stderr
        # Once set, the configured account is marked.
        result = leadrelay("engage accounts", {**env, "ENGAGE_ACCOUNT_ID": "22220001"}, cwd=tmp_path)
        assert "account 22220001: West Coast (main account 12345)  ← ENGAGE_ACCOUNT_ID" in result.stdout
        # Wrong credentials: one line saying what to check.
        result = leadrelay("engage accounts", {**env, "RINGCENTRAL_JWT": "not-the-jwt"}, cwd=tmp_path)
        assert result.returncode == 1
        [error] = [line for line in result.stderr.splitlines() if not line.startswith("{")]  # JSON = logs
        assert error.startswith("Error: Engage refused (RingCentral JWT grant refused")
        assert "fix: check RINGCENTRAL_CLIENT_ID" in result.stderr and "Traceback" not in result.stderr
        # A wrong sub-account id: `engage campaigns` says which variable to check, in one line.
        result = leadrelay("engage campaigns", {**env, "ENGAGE_ACCOUNT_ID": "999"}, cwd=tmp_path)
        [error] = [line for line in result.stderr.splitlines() if not line.startswith("{")]
        assert result.returncode == 1 and "account 999 not accessible" in error and "ENGAGE_ACCOUNT_ID" in error
    finally:
        fake.stop()


def test_make_run_installs_runtime_dependencies_only():
    """`make run` installs requirements.txt; the test, lint and bench tools come with `make test`."""
    run = subprocess.run(
        ["make", "-n", "run", "VENV=/nonexistent-venv"], cwd=ROOT, capture_output=True, text=True, timeout=30
    ).stdout
    assert "-r requirements.txt" in run and "requirements-dev.txt" not in run
    test = subprocess.run(
        ["make", "-n", "test", "VENV=/nonexistent-venv"], cwd=ROOT, capture_output=True, text=True, timeout=30
    ).stdout
    assert "-r requirements-dev.txt" in test


def test_gunicorn_control_socket_is_per_instance(tmp_path):
    """No socket at the shared ~/.gunicorn path; GUNICORN_CONTROL_SOCKET puts it where the instance says."""
    home = tmp_path / "home"
    home.mkdir()
    base = {
        "HOME": str(home),
        "ENGAGE_MODE": "sandbox",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
        "LEADRELAY_CONFIG": str(ROOT / "leadrelay.example.yml"),
    }
    first = ServiceProcess(base, tmp_path / "a.log")
    first.env.pop("XDG_RUNTIME_DIR", None)
    own = tmp_path / "run" / "gunicorn.ctl"
    second = ServiceProcess(
        {**base, "DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}", "GUNICORN_CONTROL_SOCKET": str(own)},
        tmp_path / "b.log",
    )
    second.env.pop("XDG_RUNTIME_DIR", None)
    try:
        first.start()
        second.start()
        assert not (home / ".gunicorn").exists()
        assert own.is_socket()
    finally:
        first.terminate()
        second.terminate()
    assert list(home.iterdir()) == []


def test_database_only_commands_run_without_the_sources_secrets(tmp_path):
    """`leads list` needs the database alone: a source's unset ${VAR} leaves that source out (said once on
    stderr) instead of exit 3; commands that use the sources still refuse, naming the variable."""
    env = fresh_shell(tmp_path)
    Path(env["LEADRELAY_CONFIG"]).write_text(
        CONFIG + "  typeform:\n    type: typeform\n    secret: ${TYPEFORM_SECRET}\n"
    )
    listed = leadrelay("leads list --status dead", env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "leadrelay: source typeform left out (${TYPEFORM_SECRET} is not set)" in listed.stderr
    assert "no lead matched --status dead" in listed.stderr
    assert leadrelay("leads purge", env, cwd=tmp_path).returncode == 0
    for refused in ("config check", "leads replay --status dead"):
        result = leadrelay(refused, env, cwd=tmp_path)
        assert result.returncode == 3 and "${TYPEFORM_SECRET} is not set" in result.stderr, refused


def test_sandbox_line_once_on_stderr_in_plain_text(tmp_path):
    """A command says SANDBOX once, as a sentence on stderr; stdout carries only the command's answer."""
    result = leadrelay("config check", fresh_shell(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "SANDBOX" not in result.stdout and not any(line.startswith("{") for line in result.stdout.splitlines())
    sandbox = [line for line in result.stderr.splitlines() if "SANDBOX" in line]
    assert sandbox == ["leadrelay: SANDBOX: Engage is the in-process fake Engage; nothing is dialed"]


def test_help_lists_leadrelays_own_commands(tmp_path):
    """`./leadrelay --help` is leadrelay's: its command groups, not Flask's run/shell/routes."""
    result = leadrelay("--help", fresh_shell(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: leadrelay ")
    listing = result.stdout.split("Commands:", 1)[1].splitlines()
    commands = {line.split()[0] for line in listing if line.startswith("  ") and line.split()}
    assert commands == {group.name for group in GROUPS} | {"try"}
    assert {"config", "leads", "engage", "db", "dispatch"} <= commands and not commands & {"run", "shell", "routes"}
    assert "FLASK_APP" not in result.stdout and "--env-file" not in result.stdout

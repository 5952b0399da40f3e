"""Issue 18 finding 1: no demo secret goes live, and the user's config reaches the host as the docs say."""

from __future__ import annotations

import subprocess

import pytest

from config import ROOT, ConfigError, load_settings

LIVE = {"ENGAGE_API_TOKEN": "t", "ENGAGE_ACCOUNT_ID": "42"}

OWN_WITH_DEMO = """
sources:
  hubspot:
    type: hubspot
    token: ${LEADRELAY_DEMO_TOKEN:-demo-token}
"""

OWN = """
sources:
  hubspot:
    type: hubspot
    token: a-long-random-token-of-this-deployment
"""


def test_live_mode_refuses_the_example_config():
    """The example file is a demo: live mode stops at start naming LEADRELAY_CONFIG and the fix."""
    with pytest.raises(ConfigError) as err:
        load_settings({"LEADRELAY_CONFIG": str(ROOT / "leadrelay.example.yml"), **LIVE})
    assert err.value.key == "LEADRELAY_CONFIG"
    assert "leadrelay.yml" in err.value.fix and "ENGAGE_MODE=sandbox" in err.value.fix


def test_live_mode_refuses_a_relative_path_to_the_example():
    """The same file named relatively (as the README's commands do) is the same demo."""
    with pytest.raises(ConfigError) as err:
        load_settings({"LEADRELAY_CONFIG": "leadrelay.example.yml", **LIVE})
    assert err.value.key == "LEADRELAY_CONFIG"


def test_live_mode_refuses_the_demo_token_in_an_own_file(write_config):
    """A copied example line keeps `demo-token` when the variable is unset: refused in live mode."""
    with pytest.raises(ConfigError) as err:
        load_settings({"LEADRELAY_CONFIG": write_config(OWN_WITH_DEMO), **LIVE})
    assert err.value.key == "sources.hubspot.token"
    assert "demo" in err.value.problem and "LEADRELAY_DEMO_TOKEN" in err.value.fix


def test_a_disabled_source_with_the_demo_token_does_not_stop_live_mode(write_config):
    """Only enabled sources accept requests, so only they are checked."""
    body = OWN + "  old:\n    type: hubspot\n    enabled: false\n    token: demo-token\n"
    assert load_settings({"LEADRELAY_CONFIG": write_config(body), **LIVE}).engage_mode == "live"


def test_live_mode_accepts_an_own_config_and_a_generated_demo_token(write_config):
    """An own file with its own token goes live; so does the demo line once the variable is generated."""
    assert load_settings({"LEADRELAY_CONFIG": write_config(OWN), **LIVE}).engage_mode == "live"
    generated = {"LEADRELAY_DEMO_TOKEN": "9b1f0c5e2d7a4e8f", **LIVE}
    assert load_settings({"LEADRELAY_CONFIG": write_config(OWN_WITH_DEMO), **generated}).engage_mode == "live"


def test_sandbox_keeps_the_demo_working():
    """`make run` on a laptop: the example file and its demo token in sandbox."""
    settings = load_settings({"LEADRELAY_CONFIG": "leadrelay.example.yml"})
    assert settings.sandbox and settings.file.sources["hubspot"].settings.tokens == ["demo-token"]


@pytest.mark.process  # runs git
def test_the_users_config_is_committed_not_ignored():
    """docs/deploy.md says commit leadrelay.yml to the fork; `git add -A` must not skip it silently."""
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", "leadrelay.yml"], cwd=ROOT, capture_output=True, timeout=30
    )
    assert ignored.returncode == 1, "leadrelay.yml is ignored, so the example is what gets deployed"
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert "git add leadrelay.yml" in deploy
    assert "${" in deploy  # secrets stay in the environment, referenced from the committed file


@pytest.mark.process  # starts gunicorn
def test_gunicorn_in_live_mode_with_the_example_stops_in_one_line(tmp_path):
    """The reported deployment: live credentials, no leadrelay.yml. gunicorn exits at once with one line, not serving."""
    from harness.processes import FakeEngageProcess, ServiceProcess

    fake = FakeEngageProcess().start()
    service = ServiceProcess(
        {
            **fake.env(),
            "LEADRELAY_CONFIG": str(ROOT / "leadrelay.example.yml"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'lr.db'}",
        },
        tmp_path / "service.log",
    )
    try:
        service.start(wait_ready=False)
        assert service.proc is not None
        code = service.proc.wait(timeout=60)
    finally:
        service.kill9()
        fake.stop()
    log = service.log_tail(200)
    lines = [line for line in log.splitlines() if "configuration error" in line]
    assert code != 0 and len(lines) == 1, log
    assert "LEADRELAY_CONFIG" in lines[0] and "ENGAGE_MODE=sandbox" in lines[0]
    assert "Traceback" not in log

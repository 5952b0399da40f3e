"""Tests never read the working tree's own leadrelay.yml (issue 19 item 4).

A clone with its own (gitignored) leadrelay.yml whose ${VARS} the test shell does not have made
`make test` fail (`${TYPEFORM_SECRET} is not set`). Here such a file stands in a stand-in root.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import config.environment
from config import load_settings
from harness.processes import ServiceProcess

EXAMPLE = Path(__file__).resolve().parent.parent / "leadrelay.example.yml"
USERS_OWN = "sources:\n  typeform:\n    type: typeform\n    secret: ${TYPEFORM_SECRET}\n"


def test_in_process_loads_take_the_example_not_the_users_file(monkeypatch, tmp_path):
    """With a user's leadrelay.yml beside the code and no LEADRELAY_CONFIG, a test still loads the example."""
    (tmp_path / "leadrelay.yml").write_text(USERS_OWN)
    monkeypatch.setattr(config.environment, "ROOT", tmp_path)
    settings = load_settings({"ENGAGE_MODE": "sandbox", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert settings.config_path == str(EXAMPLE)


def test_the_product_still_prefers_the_users_file(monkeypatch, tmp_path):
    """Outside tests the user's own file wins over the example (the guard replaces only the test default)."""
    (tmp_path / "leadrelay.yml").write_text(USERS_OWN)
    monkeypatch.undo()  # the autouse guard off: the product's own default
    monkeypatch.setattr(config.environment, "ROOT", tmp_path)
    assert config.environment.default_config_path() == str(tmp_path / "leadrelay.yml")


@pytest.mark.process  # starts the service
def test_harness_processes_get_the_example_unless_told(tmp_path):
    """A service the harness starts never falls back to the working tree's leadrelay.yml."""
    assert ServiceProcess({}, tmp_path / "a.log").env["LEADRELAY_CONFIG"] == str(EXAMPLE)
    told = ServiceProcess({"LEADRELAY_CONFIG": str(tmp_path / "mine.yml")}, tmp_path / "b.log")
    assert told.env["LEADRELAY_CONFIG"] == str(tmp_path / "mine.yml")

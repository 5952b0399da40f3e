"""The `compliance:` block: defaults by mode, per-source overrides, and file/key/fix errors."""

from __future__ import annotations

import pytest

from compliance.rules import Span
from config import ConfigError, load_file

BASE = """
defaults:
  campaign: Sales
{compliance}
sources:
  web:
    type: generic
    token: t0ken-t0ken-t0ken
{source}
"""


def load(write_config, compliance: str = "", source: str = ""):
    return load_file(write_config(BASE.format(compliance=compliance, source=source)), {})


def test_defaults_live_and_sandbox(write_config):
    web = load(write_config).sources["web"]
    live, sandbox = web.gates(None), web.gates("sandbox")
    assert live.windows.enabled and not sandbox.windows.enabled
    assert live.windows.close_margin == 1800 and live.consent.require == "none"
    assert dict(live.caps) == {"FL": 1, "OK": 1, "MD": 1} and live.evidence_days == 1825
    assert "windows off (sandbox)" in sandbox.describe() and "windows on" in live.describe()


@pytest.mark.parametrize("off", ["off", "false", "no", '"off"', "Off"])
def test_calling_hours_off_in_every_spelling(write_config, off):
    gates = load(write_config, f"compliance:\n  calling_hours: {off}\n").sources["web"].gates(None)
    assert not gates.windows.enabled and gates.calling_hours_off and "calling_hours: off" in gates.describe()


def test_full_block_and_a_source_override(write_config):
    compliance = """
compliance:
  calling_hours: {default: "09:00-20:00", FL: "09:00-19:00"}
  close_margin: 15m
  state_rules: {KY: on}
  max_loads_per_24h: {FL: 2, TX: 1, MD: off}
  evidence_days: 2555
  consent:
    require: [Solar, 12345]
    on_missing: manual
    manual_campaign: Hand dial
    max_wait: 5m
    trustedform: {api_key: k, api_base: "http://127.0.0.1:9", match: either}
    jornaya: {field: universal_leadid}
    field: tcpa_consent
    text_field: tcpa_text
    timestamp_field: tcpa_at
"""
    source = """
    compliance:
      calling_hours: {default: "10:00-18:00"}
      consent: {require: all}
"""
    cfg = load(write_config, compliance, source)
    gates = cfg.sources["web"].gates(None)
    assert gates.windows.hours == {"default": Span.parse("10:00-18:00")}  # replaced whole
    assert gates.windows.close_margin == 900 and gates.windows.turned_on == {"KY"}
    assert dict(gates.caps) == {"FL": 2, "OK": 1, "TX": 1}
    c = gates.consent
    assert c.require == "all" and c.on_missing == "manual" and c.manual_campaign == "Hand dial"  # merged
    assert c.max_wait == 300 and c.trustedform_match == "either" and c.jornaya_field == "universal_leadid"
    assert c.trustedform_api_base == "http://127.0.0.1:9" and gates.evidence_days == 2555
    # In sandbox an explicit map turns the windows on (to try them); the default is off.
    assert gates.windows.enabled and cfg.sources["web"].gates("sandbox").windows.enabled


@pytest.mark.parametrize(
    ("compliance", "source", "key", "words"),
    [
        ('compliance:\n  calling_hours: {FL: "08:00-21:00"}\n', "", "compliance.calling_hours.FL", "wider than FL's legal window 08:00-20:00"),
        ('compliance:\n  calling_hours: {default: "07:00-22:00"}\n', "", None, None),  # default is clipped by law, not an error
        ('compliance:\n  calling_hours: {KY: "09:00-21:00"}\n  state_rules: {KY: on}\n', "", "compliance.calling_hours.KY", "wider than KY's legal window 10:00-21:00"),
        ('compliance:\n  calling_hours: {XX: "09:00-20:00"}\n', "", "compliance.calling_hours.XX", "not a US state"),
        ('compliance:\n  calling_hours: {default: "9-5"}\n', "", "compliance.calling_hours.default", "is not a window"),
        ('compliance:\n  calling_hours: {default: "09:00-09:20"}\n', "", "compliance.calling_hours.default", "close_margin"),
        ("compliance:\n  calling_hours: yes\n", "", "compliance.calling_hours", "must be off or a map"),
        ("compliance:\n  calling_hour: off\n", "", "compliance.calling_hour", "calling_hours"),
        ("compliance:\n  consent: {on_missing: manual}\n", "", "compliance.consent.manual_campaign", "required"),
        ("compliance:\n  consent: {require: some}\n", "", "compliance.consent.require", "none, all, or a list"),
        ("compliance:\n  consent: {trustedform: {api_base: 'http://tf.example.com'}}\n", "", "compliance.consent.trustedform.api_base", "https"),
        ("compliance:\n  consent: {trustedform: {match: name}}\n", "", "compliance.consent.trustedform.match", "Must be one of"),
        ("compliance:\n  state_rules: {TX: on}\n", "", "compliance.state_rules.TX", "no such state rule"),
        ("compliance:\n  max_loads_per_24h: {FL: 0}\n", "", "compliance.max_loads_per_24h.FL", "not a count"),
        ("", '    compliance:\n      calling_hours: {WA: "08:00-21:00"}\n', "sources.web.compliance.calling_hours.WA", "wider than WA's"),
    ],
)  # fmt: skip
def test_config_errors_name_file_key_and_fix(write_config, compliance, source, key, words):
    if key is None:
        load(write_config, compliance, source)
        return
    with pytest.raises(ConfigError) as caught:
        load(write_config, compliance, source)
    assert caught.value.key == key and words in str(caught.value) and caught.value.fix
    assert caught.value.where.endswith("leadrelay.yml")


def test_calling_windows_env_turns_the_live_default_off(write_config):
    from config import load_settings

    path = write_config(BASE.format(compliance="", source=""))
    live = load_settings({"LEADRELAY_CONFIG": path, "ENGAGE_MODE": "sandbox"})
    assert live.windows_default_off == "sandbox"
    off = load_settings({"LEADRELAY_CONFIG": path, "ENGAGE_MODE": "sandbox", "CALLING_WINDOWS": "off"})
    assert off.calling_windows is False
    web = off.file.sources["web"]
    gates = web.gates("CALLING_WINDOWS=off")
    assert not gates.windows.enabled and "off (CALLING_WINDOWS=off)" in gates.describe()

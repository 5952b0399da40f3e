"""`alerts:` and per-source `expect_every` in leadrelay.yml: defaults, durations, clear errors."""

from __future__ import annotations

import pytest

from config import ConfigError, load_file

BASE = """
sources:
  form:
    type: generic
    token: t
    fields: {externId: id, leadPhone: phone}
    expect_every: 90m
"""


def test_defaults_and_durations(write_config):
    """No alerts section: defaults (2m backlog, 1h repeat); expect_every parsed as seconds."""
    loaded = load_file(write_config(BASE), {})
    assert loaded.alerts["backlog_max_age"] == 120 and loaded.alerts["repeat_every"] == 3600
    assert "webhook" not in loaded.alerts
    assert loaded.sources["form"].expect_every == 5400


def test_webhook_from_the_environment(write_config):
    """The webhook URL is a secret: `${VAR}` interpolated; unset names the variable."""
    body = BASE + "alerts:\n  webhook: ${ALERT_WEBHOOK_URL}\n  backlog_max_age: 5m\n"
    loaded = load_file(write_config(body), {"ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x"})
    assert loaded.alerts["webhook"].startswith("https://hooks.slack.com/") and loaded.alerts["backlog_max_age"] == 300
    with pytest.raises(ConfigError, match="ALERT_WEBHOOK_URL"):
        load_file(write_config(body), {})


@pytest.mark.parametrize(
    "body, key",
    [
        ("alerts:\n  webhok: https://x.example\n", "alerts.webhok"),
        ("alerts:\n  webhook: not a url\n", "alerts.webhook"),
        ("alerts:\n  repeat_every: soon\n", "alerts.repeat_every"),
    ],
)
def test_bad_alerts_config_names_the_key(write_config, body, key):
    """A mistake names the file and the key."""
    with pytest.raises(ConfigError) as info:
        load_file(write_config(BASE + body), {})
    assert info.value.key == key

"""`writeback:` in leadrelay.yml: validated at start naming key and fix; which attempts become which jobs."""

from __future__ import annotations

import pytest

from config import ConfigError, load_file
from dialing import writeback_jobs

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BASE = """
sources:
  crm:
    type: hubspot
    token: t
    writeback:
{body}
  web:
    type: generic
    token: t
"""


def load(write_config, body: str):
    """Load the config with this `writeback:` body (indented under the hubspot source)."""
    text = BASE.format(body="\n".join("      " + line for line in body.strip().splitlines()))
    return load_file(write_config(text), {})


LEAD = {"id": 7, "extern_id": "51234567", "primary_phone": "3035550142", "source": "crm", "campaign": "Hot"}
ATTEMPT = {
    "id": 41,
    "uii": "u",
    "disposition": "Sale",
    "system_disposition": "ANSWER",
    "call_start": "2026-12-07 15:03:34.0000",
    "duration": 47,
    "agent": "ada",
    "recording_url": None,
    "attempt_at": 1796684400.0,
    "connected": True,
    "effect": None,
}


def test_every_target_becomes_one_job_per_attempt(write_config):
    """Webhook, HubSpot and Salesforce: three jobs, keyed by kind and attempt (a re-enqueue is the same job)."""
    cfg = load(
        write_config,
        f"""
webhook: https://hooks.example.com/calls
secret: {SECRET}
hubspot: {{access_token: pat-1, disposition_property: last_call_outcome}}
salesforce: {{login_url: https://acme.my.salesforce.com, client_id: cid, client_secret: cs}}
""",
    )
    jobs = writeback_jobs(cfg.sources, LEAD, ATTEMPT)
    assert [(kind, key) for kind, key, _ in jobs] == [
        ("writeback.webhook", "writeback.webhook:41"),
        ("writeback.hubspot", "writeback.hubspot:41"),
        ("writeback.salesforce", "writeback.salesforce:41"),
    ]
    payload = jobs[0][2]
    assert payload["lead"] == {
        "lead_id": 7,
        "externId": "51234567",
        "phone": "3035550142",
        "source": "crm",
        "campaign": "Hot",
    }
    assert payload["attempt"]["final"] is False and payload["attempt"]["duration"] == 47
    assert cfg.sources["crm"].writeback["salesforce"]["api_version"] == "v60.0"


def test_send_final_only_sends_final_and_dnc_outcomes(write_config):
    """`send: final`: an ordinary attempt sends nothing; a final or do-not-call disposition does."""
    cfg = load(write_config, f"webhook: https://hooks.example.com/calls\nsecret: {SECRET}\nsend: final")
    assert writeback_jobs(cfg.sources, LEAD, ATTEMPT) == []
    for effect in ("final", "dnc"):
        ((_, _, payload),) = writeback_jobs(cfg.sources, LEAD, {**ATTEMPT, "effect": effect})
        assert payload["attempt"]["final"] is True
    assert writeback_jobs(cfg.sources, {**LEAD, "source": "web"}, ATTEMPT) == []  # web has no writeback


@pytest.mark.parametrize(
    "body, key, words",
    [
        ("send: attempts", "sources.crm", "name a target"),
        ("webhook: https://hooks.example.com/x", "sources.crm", "needs `secret: whsec_"),
        ("webhook: https://hooks.example.com/x\nsecret: not-base64!", "sources.crm", "not a Standard Webhooks secret"),
        ("hubspot: {disposition_property: x}", "sources.crm", "access_token"),
        ("salesforce: {client_id: a, client_secret: b}", "sources.crm", "login_url"),
        ("webhook: https://h.example.com/x\nsecret: " + SECRET + "\nsend: every", "sources.crm", "send"),
    ],
)
def test_bad_writeback_fails_at_start(write_config, body, key, words):
    """A missing secret, an undecodable one, a missing credential or an unknown `send` names the key."""
    with pytest.raises(ConfigError) as err:
        load(write_config, body)
    assert err.value.key.startswith(key) and words in str(err.value)

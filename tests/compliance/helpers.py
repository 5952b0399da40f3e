"""Helpers for the consent end-to-end tests: the stack's config, starting it, posting a lead, the statuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

from harness.fake_trustedform import FakeTrustedForm
from harness.processes import FakeEngageProcess, ServiceProcess
from tests.stack import start_stack

CONFIG = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
dispatch:
  lease_seconds: 2
  poll_interval: 0.3
compliance:
  calling_hours: off
  consent:
    require: all
    max_wait: 10m
    trustedform: {{api_key: "{key}", api_base: "{url}"}}
sources:
  web:
    type: generic
    token: e2e-token-e2e-token
    priority: IMMEDIATE
"""


def statuses(db_url) -> dict[str, str]:
    """Each lead's status by externId, read straight from the service's database."""
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT extern_id, status FROM leads")).fetchall()
    engine.dispose()
    return {r[0]: r[1] for r in rows}


def start(
    tmp_path: Path, db_url: str, procs: list[Any], tf: FakeTrustedForm, key: str = "tf-key"
) -> tuple[ServiceProcess, FakeEngageProcess]:
    """Write the consent config for `tf` and start the stack (tests/stack.py) into `procs`: (web, fake)."""
    (tmp_path / "leadrelay.yml").write_text(CONFIG.format(key=key, url=tf.url))
    running = start_stack(procs, tmp_path, db_url)
    return running.web, running.fake


def post(service: ServiceProcess, extern: str, phone: str, cert_url: str | None) -> requests.Response:
    """POST one lead to the generic web source, with a TrustedForm certificate URL unless None."""
    body = {"id": extern, "phone": phone, "email": f"{extern.lower()}@example.com"}
    if cert_url is not None:
        body["xxTrustedFormCertUrl"] = cert_url
    return requests.post(
        f"{service.url}/webhooks/web", json=body, timeout=10, headers={"X-Leadrelay-Token": "e2e-token-e2e-token"}
    )

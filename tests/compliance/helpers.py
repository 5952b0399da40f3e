"""Helpers for the consent end-to-end tests: the stack's config, starting it, posting a lead, the statuses."""

from __future__ import annotations

import requests
from sqlalchemy import create_engine, text

from harness.fake_trustedform import FakeTrustedForm
from harness.processes import FakeEngageProcess, ServiceProcess

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
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT extern_id, status FROM leads")).fetchall()
    engine.dispose()
    return {r[0]: r[1] for r in rows}


def start(
    tmp_path, db_url, procs, tf: FakeTrustedForm, key: str = "tf-key"
) -> tuple[ServiceProcess, FakeEngageProcess]:
    (tmp_path / "leadrelay.yml").write_text(CONFIG.format(key=key, url=tf.url))
    fake = FakeEngageProcess(log_path=tmp_path / "fake.log").start()
    procs.append(fake)
    env = {"DATABASE_URL": db_url, "LEADRELAY_CONFIG": str(tmp_path / "leadrelay.yml"), **fake.env()}
    service = ServiceProcess(env, tmp_path / "service.log")
    procs.append(service)
    service.start()
    return service, fake


def post(service: ServiceProcess, extern: str, phone: str, cert_url: str | None) -> requests.Response:
    body = {"id": extern, "phone": phone, "email": f"{extern.lower()}@example.com"}
    if cert_url is not None:
        body["xxTrustedFormCertUrl"] = cert_url
    return requests.post(
        f"{service.url}/webhooks/web", json=body, timeout=10, headers={"X-Leadrelay-Token": "e2e-token-e2e-token"}
    )

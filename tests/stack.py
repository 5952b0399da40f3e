"""The process tests' stack: the fake Engage in its own process, the service under gunicorn, dispatcher workers.

`start_stack` (the `stack` fixture in tests/conftest.py binds it to the test's `procs`) composes them
the one way the end-to-end tests need; the helpers read what the far ends saw.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

from harness.processes import FakeEngageProcess, ServiceProcess
from tests.builders import fixture_bytes

E2E_TOKEN = "e2e-token"  # the hubspot source's token in the end-to-end configs
BODY = json.loads(fixture_bytes("hubspot/workflow_contact_all_properties.json"))
WORKER_COMMAND = [sys.executable, "-m", "flask", "--app", "app", "dispatch", "run"]


def lead_body(n: int) -> bytes:
    """A HubSpot workflow body for a distinct contact n (new vid, new phone)."""
    body = json.loads(json.dumps(BODY))
    body["vid"] = 90000000 + n
    body["properties"]["hs_object_id"]["value"] = str(90000000 + n)
    body["properties"]["phone"]["value"] = f"(303) 555-{n:04d}"
    body["properties"]["mobilephone"]["value"] = ""
    return json.dumps(body).encode()


def post(service: ServiceProcess, body: bytes) -> requests.Response:
    """POST one webhook with the source token."""
    return requests.post(
        f"{service.url}/webhooks/hubspot",
        data=body,
        timeout=10,
        headers={"Content-Type": "application/json", "X-Leadrelay-Token": E2E_TOKEN},
    )


def service_env(workdir: Path, db_url: str, fake: FakeEngageProcess, **extra: str) -> dict[str, str]:
    """Environment for a service process using `fake` as live Engage."""
    return {"DATABASE_URL": db_url, "LEADRELAY_CONFIG": str(workdir / "leadrelay.yml"), **fake.env(), **extra}


def statuses(db_url: str) -> Counter[str]:
    """Lead counts by status, read straight from the service's database."""
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, COUNT(*) FROM leads GROUP BY status")).fetchall()
    engine.dispose()
    return Counter({r[0]: r[1] for r in rows})


def extern_ids(fake: Any) -> Counter[str]:
    """How many times the fake accepted each externId."""
    return Counter(lead["extern_id"] for lead in fake.leads())


def stop_all(started: list[Any]) -> None:
    """Stop processes newest first: services with kill -9 (nothing graceful hides a leak), fakes cleanly."""
    for proc in reversed(started):
        if isinstance(proc, ServiceProcess):
            proc.kill9()
        else:
            proc.stop()


@dataclass
class Stack:
    """One running stack: the fake Engage, the web service, its dispatcher workers (worker mode)."""

    fake: FakeEngageProcess
    web: ServiceProcess
    env: dict[str, str]
    workers: list[ServiceProcess] = field(default_factory=list)


def start_stack(procs: list[Any], workdir: Path, db_url: str, *fake_args: str, workers: int = 0, **env: str) -> Stack:
    """Fake Engage (`fake_args`: its CLI flags) + gunicorn with `workdir/leadrelay.yml`; with `workers`,
    DISPATCH_MODE=worker and that many `flask dispatch run` processes. Every process goes into `procs`."""
    fake = FakeEngageProcess(*fake_args, log_path=workdir / "fake.log").start()
    procs.append(fake)
    environ = service_env(workdir, db_url, fake, **({"DISPATCH_MODE": "worker"} if workers else {}), **env)
    web = ServiceProcess(environ, workdir / ("web.log" if workers else "service.log"))
    procs.append(web)
    web.start()
    stack = Stack(fake, web, environ)
    for i in range(workers):
        worker = ServiceProcess(environ, workdir / f"worker{i}.log", command=WORKER_COMMAND, port=web.port)
        procs.append(worker)
        worker.start(wait_ready=False)
        stack.workers.append(worker)
    return stack

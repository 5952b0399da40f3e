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
    """One running stack: the fake Engage, the web service, its dispatcher workers (worker mode).

    Every process it starts goes into `procs` (the `procs` fixture stops them, whatever happened).
    `db_url` is the database the test reads; the services use `env["DATABASE_URL"]`, which differs
    when they go through a TCP proxy the test cuts.
    """

    procs: list[Any]
    workdir: Path
    db_url: str
    env: dict[str, str]
    web: ServiceProcess
    fake: Any  # the FakeEngageProcess; None when the test runs its own Engage (`engage=`)
    workers: list[ServiceProcess] = field(default_factory=list)
    restarts: int = 0

    def url(self) -> str:
        """The web URL (a restarted web process keeps the port)."""
        return self.web.url

    def add_worker(self) -> ServiceProcess:
        """Start one more `flask dispatch run` process (a standby, or the platform's restart after a kill)."""
        worker = ServiceProcess(
            self.env, self.workdir / f"worker{len(self.workers)}.log", command=WORKER_COMMAND, port=self.web.port
        )
        self.procs.append(worker)
        self.workers.append(worker)
        return worker.start(wait_ready=False)

    def restart_web(self, wait_ready: bool = True) -> ServiceProcess:
        """kill -9 the web process and start a new one on the same port, as the platform does."""
        self.web.kill9()
        self.restarts += 1
        self.web = ServiceProcess(self.env, self.workdir / f"web{self.restarts}.log", port=self.web.port)
        self.procs.append(self.web)
        return self.web.start(wait_ready=wait_ready)

    def leader(self) -> ServiceProcess | None:
        """The dispatcher process holding the lease (worker mode), from the lease row."""
        engine = create_engine(self.db_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:
            holder = conn.execute(text("SELECT holder FROM dispatcher_lease")).scalar() or ""
        engine.dispose()
        return next((w for w in self.workers if w.proc and f":{w.proc.pid}:" in holder), None)

    def kill_leader(self) -> None:
        """kill -9 the leading dispatcher process (a standby takes over)."""
        leader = self.leader()
        if leader is not None:
            leader.kill9()


def start_stack(
    procs: list[Any],
    workdir: Path,
    db_url: str,
    *fake_args: str,
    workers: int = 0,
    service_db_url: str | None = None,
    engage: dict[str, str] | None = None,
    wait_ready: bool = True,
    **env: str,
) -> Stack:
    """Fake Engage (`fake_args`: its CLI flags) + gunicorn with `workdir/leadrelay.yml`; with `workers`,
    DISPATCH_MODE=worker and that many `flask dispatch run` processes. `service_db_url`: the services'
    database URL when it is not `db_url` (a proxy); `engage`: an Engage the test runs itself (its
    environment), instead of a fake Engage process. Every process goes into `procs`."""
    fake = None
    if engage is None:
        fake = FakeEngageProcess(*fake_args, log_path=workdir / "fake.log").start()
        procs.append(fake)
        engage = fake.env()
    environ = {
        "DATABASE_URL": service_db_url or db_url,
        "LEADRELAY_CONFIG": str(workdir / "leadrelay.yml"),
        **engage,
        **({"DISPATCH_MODE": "worker"} if workers else {}),
        **env,
    }
    web = ServiceProcess(environ, workdir / "web.log")
    procs.append(web)
    web.start(wait_ready=wait_ready)
    stack = Stack(procs, workdir, db_url, environ, web, fake)
    for _ in range(workers):
        stack.add_worker()
    return stack

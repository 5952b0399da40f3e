"""One scenario's processes: fake Engage, the web service and (worker mode) a dispatcher process."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import requests

from harness.processes import PYTHON, FakeEngageProcess, ServiceProcess

READY_TIMEOUT = 30.0


class Stack:
    """The running processes of one scenario and the URLs to reach them."""

    def __init__(self, fake: FakeEngageProcess, web: ServiceProcess, worker: ServiceProcess | None):
        """Hold the started processes."""
        self.fake, self.web, self.worker = fake, web, worker

    def wait_dispatcher(self, timeout: float = READY_TIMEOUT) -> dict:
        """Wait until some process holds the dispatcher lease (so the first lead is not a cold start)."""
        deadline = time.time() + timeout
        info: dict = {}
        while time.time() < deadline:
            try:
                info = requests.get(f"{self.web.url}/readyz", timeout=2).json()
                if (info.get("dispatcher") or {}).get("active"):
                    return info
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"no dispatcher became leader within {timeout}s; /readyz said {info}")


def _service_env(fake: FakeEngageProcess, database_url: str, config_path: Path, mode: str) -> dict[str, str]:
    """The environment that points the service at this database, config and fake Engage."""
    # Logging stays at the default level: production writes those lines too, so they are part of the cost.
    return {**fake.env(), "DATABASE_URL": database_url, "LEADRELAY_CONFIG": str(config_path),
            "DISPATCH_MODE": mode}


def server_ack_ms(log_dir: Path) -> list[float]:
    """Server-side ack times (request parsed → response sent, from gunicorn's access log), in ms."""
    path = log_dir / "access.log"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "POST" and parts[1].isdigit():
            out.append(int(parts[1]) / 1000.0)
    return out


@contextmanager
def running(log_dir: Path, database_url: str, config_path: Path, mode: str = "inline", strict: bool = True):
    """Start fake Engage, gunicorn and (mode=worker) `flask dispatch run`; stop them all on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    fake = FakeEngageProcess(*([] if strict else ["--no-strict"]), log_path=log_dir / "fake.log").start()
    web = worker = None
    try:
        env = _service_env(fake, database_url, config_path, mode)
        web_env = {**env, "GUNICORN_ACCESS_LOG": str(log_dir / "access.log"), "GUNICORN_ACCESS_LOG_FORMAT": "%(m)s %(D)s"}
        (log_dir / "access.log").unlink(missing_ok=True)
        web = ServiceProcess(web_env, log_dir / "web.log").start(timeout=READY_TIMEOUT)
        if mode == "worker":
            command = [PYTHON, "-m", "flask", "--app", "app", "dispatch", "run"]
            worker = ServiceProcess(env, log_dir / "worker.log", command=command).start(wait_ready=False)
        stack = Stack(fake, web, worker)
        stack.wait_dispatcher()
        yield stack
    finally:
        for proc in (worker, web):
            if proc is not None:
                proc.terminate(timeout=20)
        fake.stop()

"""One scenario's processes: fake Engage, the web service and (worker mode) a dispatcher process."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from harness.processes import PYTHON, FakeEngageProcess, ServiceProcess

READY_TIMEOUT = 30.0


DISPATCH_COMMAND = [PYTHON, "-m", "flask", "--app", "app", "dispatch", "run"]


def popen(process: FakeEngageProcess | ServiceProcess) -> subprocess.Popen[bytes]:
    """The OS process of a started fake or service (its pid is the process group id of a service)."""
    if process.proc is None:
        raise RuntimeError(f"{type(process).__name__} was never started")
    return process.proc


class Stack:
    """The running processes of one scenario and the URLs to reach them."""

    def __init__(self, fake: FakeEngageProcess, web: ServiceProcess, env: dict[str, str], log_dir: Path) -> None:
        """Hold the started processes; `env` and `log_dir` let a scenario start (or restart) workers."""
        self.fake, self.web, self.env, self.log_dir = fake, web, env, log_dir
        self.workers: list[ServiceProcess] = []  # every worker started, dead or alive, so all are stopped

    @property
    def worker(self) -> ServiceProcess | None:
        """The first `flask dispatch run` process (worker mode), else None."""
        return self.workers[0] if self.workers else None

    def start_worker(self, log_name: str) -> ServiceProcess:
        """Start one more `flask dispatch run` process logging to `<log_dir>/<log_name>`."""
        worker = ServiceProcess(self.env, self.log_dir / log_name, command=DISPATCH_COMMAND)
        self.workers.append(worker)
        return worker.start(wait_ready=False)

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
    return {**fake.env(), "DATABASE_URL": database_url, "LEADRELAY_CONFIG": str(config_path), "DISPATCH_MODE": mode}


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
def running(
    log_dir: Path, database_url: str, config_path: Path, mode: str = "inline", strict: bool = True, workers: int = 1
) -> Iterator[Stack]:
    """Start fake Engage, gunicorn and (mode=worker) `workers` × `flask dispatch run`; stop them all on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    fake = FakeEngageProcess(*([] if strict else ["--no-strict"]), log_path=log_dir / "fake.log").start()
    web = stack = None
    try:
        env = _service_env(fake, database_url, config_path, mode)
        web_env = {
            **env,
            "GUNICORN_ACCESS_LOG": str(log_dir / "access.log"),
            "GUNICORN_ACCESS_LOG_FORMAT": "%(m)s %(D)s",
        }
        (log_dir / "access.log").unlink(missing_ok=True)
        web = ServiceProcess(web_env, log_dir / "web.log").start(timeout=READY_TIMEOUT)
        stack = Stack(fake, web, env, log_dir)
        if mode == "worker":
            for n in range(workers):
                stack.start_worker("worker.log" if workers == 1 else f"worker{n}.log")
        stack.wait_dispatcher()
        yield stack
    finally:
        for proc in [*(stack.workers if stack else []), web]:
            if proc is not None:
                proc.terminate(timeout=20)
        fake.stop()

"""Real processes on loopback for end-to-end tests and benchmarks: the fake Engage and the service."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeEngageProcess:
    """`python -m harness.fake_engage` in its own process, driven through its /_fake control API."""

    def __init__(self, *args: str, port: int = 0, log_path: Path | None = None) -> None:
        """Prepare the command line; `args` are extra CLI flags (e.g. --token-ttl 5)."""
        self.args, self.port, self.log_path = list(args), port, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> FakeEngageProcess:
        """Start and wait for the URL line (FAKE_ENGAGE_URL=...)."""
        cmd = [PYTHON, "-m", "harness.fake_engage", "--port", str(self.port), *self.args]
        if self.log_path:
            # The child keeps its own descriptor; ours is closed at once (else a ResourceWarning).
            with self.log_path.open("ab") as log:
                proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=log)
        else:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.proc = proc
        assert proc.stdout is not None  # stdout=PIPE above
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("FAKE_ENGAGE_URL="):
            raise RuntimeError(f"fake Engage did not start: {line!r}")
        self.url = line.split("=", 1)[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        """Stop it (the port is then refused, as when Engage is down)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def control(self, method: str, path: str, **kw: Any) -> Any:
        """Call the control API (`/_fake/...`)."""
        response = requests.request(method, f"{self.url}/_fake/{path}", timeout=5, **kw)
        response.raise_for_status()
        return response.json()

    def leads(self) -> list[dict[str, Any]]:
        """Every lead the fake accepted."""
        data = self.control("GET", "leads")
        return data["leads"] if isinstance(data, dict) else data

    def stats(self) -> dict[str, Any]:
        """The fake's counters."""
        return self.control("GET", "stats")

    def env(self) -> dict[str, str]:
        """Environment for a leadrelay process that should use this fake as live Engage."""
        from engage import fake

        return {
            "ENGAGE_MODE": "live",
            "ENGAGE_BASE_URL": self.url,
            "RINGCENTRAL_SERVER_URL": self.url,
            "ENGAGE_ACCOUNT_ID": fake.DEFAULT_ACCOUNT_ID,
            "RINGCENTRAL_CLIENT_ID": fake.DEFAULT_CLIENT_ID,
            "RINGCENTRAL_CLIENT_SECRET": fake.DEFAULT_CLIENT_SECRET,
            "RINGCENTRAL_JWT": fake.DEFAULT_JWT,
            # Live mode against the fake, at whatever hour the suite runs: the calling windows would
            # defer most leads at night. Their own tests pin the clock (tests/compliance).
            "CALLING_WINDOWS": "off",
        }


class ServiceProcess:
    """The real service under gunicorn (or a `flask dispatch run` worker) with a given environment."""

    def __init__(
        self, env: dict[str, str], log_path: Path, command: list[str] | None = None, port: int | None = None
    ) -> None:
        """`command` defaults to gunicorn app:app bound to a free loopback port."""
        self.port = port or free_port()
        self.log_path = log_path
        self.command = command or [str(Path(PYTHON).parent / "gunicorn"), "app:app", "--bind", f"127.0.0.1:{self.port}"]
        base = {
            k: v
            for k, v in os.environ.items()
            if not (
                k.startswith("ENGAGE_")
                or k.startswith("RINGCENTRAL_")
                or k in ("DATABASE_URL", "LEADRELAY_CONFIG", "DISPATCH_MODE")
            )
        }
        # The example unless the caller names a config: the working tree's own (gitignored)
        # leadrelay.yml is a user's, and never what a test or benchmark runs.
        example = {"LEADRELAY_CONFIG": str(ROOT / "leadrelay.example.yml")}
        self.env = {**base, **example, "PORT": str(self.port), **env}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the web process."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The process id (its process group too); only after start()."""
        if self.proc is None:
            raise RuntimeError("the service process was not started")
        return self.proc.pid

    def alive(self) -> bool:
        """True while the started process has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait_ready: bool = True, timeout: float = 30.0) -> ServiceProcess:
        """Start the process (in its own process group) and wait for /readyz."""
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        if wait_ready:
            deadline = time.time() + timeout
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"service exited with {self.proc.returncode}; log:\n{self.log_tail()}")
                try:
                    if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            raise RuntimeError(f"service not ready in {timeout}s; log:\n{self.log_tail()}")
        return self

    def kill9(self) -> None:
        """SIGKILL the whole process group: no cleanup, no lease release (a crash)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM (as Heroku does) and wait; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode if self.proc else 0

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the process log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def wait_for(
    predicate: Callable[[], object], timeout: float, interval: float = 0.05, message: str = "condition"
) -> None:
    """Poll `predicate` until true or fail with `message` after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")

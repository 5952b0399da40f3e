"""`make run` listens on loopback unless HOST says otherwise (issue 19 item 9); production keeps 0.0.0.0.

The real `make run` starts the real gunicorn; the kernel's socket table says which address it bound.
`-o install` keeps make from (re)installing the shared test virtualenv: only `run`'s own recipe runs.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.processes import ServiceProcess, free_port
from tests.lanes import process_fixture


def listening_addresses(port: int) -> set[str]:
    """The local IPv4 addresses with a socket LISTENing on `port` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, state = fields[1], fields[3]
        host_hex, port_hex = address.split(":")
        if state == "0A" and int(port_hex, 16) == port:  # 0A: TCP_LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(host_hex)[::-1]))
    return found


@pytest.fixture
@process_fixture
def service(tmp_path):
    """Start `make -o install run` with an environment; stopped (its whole group) afterwards."""
    started: list[ServiceProcess] = []

    def start(**env: str) -> ServiceProcess:
        """Run make run in sandbox on a fresh SQLite file and a free port."""
        port = free_port()
        proc = ServiceProcess(
            {
                "LEADRELAY_CONFIG": "leadrelay.example.yml",
                "ENGAGE_MODE": "sandbox",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
                **env,
            },
            tmp_path / "make-run.log",
            command=["make", "--no-print-directory", "-o", "install", "run"],
            port=port,
        )
        if "HOST" not in env:
            proc.env.pop("HOST", None)  # the shell running the tests may have one
        started.append(proc)
        return proc.start(timeout=60)

    yield start
    for proc in started:
        proc.terminate()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_make_run_binds_loopback_by_default(service):
    """No HOST: the demo token is reachable from this machine only."""
    proc = service()
    assert listening_addresses(proc.port) == {"127.0.0.1"}


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_host_opens_make_run_to_the_network(service):
    """HOST=0.0.0.0 (e.g. to reach it from a phone on the LAN) is the user's explicit choice."""
    proc = service(HOST="0.0.0.0")
    assert listening_addresses(proc.port) == {"0.0.0.0"}

"""A database that is unreachable when the service starts: no crash loop, one clear log line, 503
until it comes, then the service works without a restart."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
import requests

from harness.processes import wait_for
from harness.tcp_proxy import TcpProxy
from tests.faults.matrix import fault_stack
from tests.stack import Stack, extern_ids, lead_body

# Starts the service against a database that is not there.
pytestmark = pytest.mark.process


@pytest.mark.timeout(90)
def test_database_unreachable_at_start(tmp_path, procs, pg_url):
    """Start gunicorn while PostgreSQL is unreachable; it answers 503 and says where and what to fix."""
    parts = urlsplit(pg_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    proxy.cut()
    try:
        stack = fault_stack(procs, tmp_path, pg_url, proxy.url_for(pg_url), mode="inline", wait_ready=False)
        wait_for(lambda: _status(stack, "/readyz") == 503, 30, interval=0.2, message="/readyz answers 503")
        post = requests.post(
            f"{stack.url()}/webhooks/hubspot",
            data=lead_body(7),
            timeout=15,
            headers={"Content-Type": "application/json", "X-Leadrelay-Token": "e2e-token"},
        )
        assert post.status_code == 503 and post.headers.get("Retry-After")
        log = stack.web.log_tail(400)
        lines = [line for line in log.splitlines() if "database unreachable at start-up" in line]
        assert len(lines) == 1, log
        assert f"127.0.0.1:{proxy.port}" in lines[0] and "DATABASE_URL" in lines[0]
        time.sleep(6)  # a retry round passes: still one line, still running
        assert stack.web.alive(), "the service exited instead of waiting for the database"
        assert sum("database unreachable at start-up" in line for line in stack.web.log_tail(400).splitlines()) == 1
        proxy.restore()
        wait_for(lambda: _status(stack, "/readyz") == 200, 20, interval=0.2, message="ready once the database answers")
        post = requests.post(
            f"{stack.url()}/webhooks/hubspot",
            data=lead_body(7),
            timeout=15,
            headers={"Content-Type": "application/json", "X-Leadrelay-Token": "e2e-token"},
        )
        assert post.status_code == 202
        wait_for(lambda: len(extern_ids(stack.fake)) == 1, 15, message="the lead delivered, no restart")
    finally:
        proxy.close()


def _status(stack: Stack, path: str) -> int | None:
    """The status code of a GET, None when nothing answers yet."""
    try:
        return requests.get(f"{stack.url()}{path}", timeout=10).status_code
    except requests.RequestException:
        return None

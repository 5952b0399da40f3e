"""Metrics agree across processes: PostgreSQL, two gunicorn workers and a separate dispatcher process.

Before issue 9, /metrics was per process (scrapes alternated between workers' counters) and nothing
showed a dead dispatcher or a growing backlog."""

from __future__ import annotations

import re
import time
from itertools import pairwise

import pytest
import requests

from harness.processes import wait_for
from metrics import CACHE_SECONDS
from tests.admin.helpers import CONFIG, SOURCE_TOKEN, lead_body

# Fake Engage, gunicorn and a dispatcher process.
pytestmark = pytest.mark.process

# Gauges that must be identical whichever worker answers (heartbeat age moves by design).
AGREEING = re.compile(
    r"^(leadrelay_leads|leadrelay_dispatcher_up|leadrelay_queue_oldest_seconds|"
    r"leadrelay_speed_to_lead_recent_seconds|leadrelay_speed_to_lead_recent_count)\b"
)


def scrape(url: str) -> dict[str, float]:
    """One scrape on a fresh connection (so either worker may answer): the operational gauges."""
    text = requests.get(f"{url}/metrics", timeout=10, headers={"Connection": "close"}).text
    out = {}
    for line in text.splitlines():
        if AGREEING.match(line):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def post(url: str, n: int) -> None:
    """One webhook."""
    response = requests.post(
        f"{url}/webhooks/hubspot",
        data=lead_body(n),
        timeout=10,
        headers={"Content-Type": "application/json", "X-Leadrelay-Token": SOURCE_TOKEN},
    )
    assert response.status_code == 202, response.text


@pytest.fixture
def running(tmp_path, pg_url, stack):
    """Fake Engage, 2 gunicorn workers (worker mode) and `flask dispatch run`, all real processes."""
    (tmp_path / "leadrelay.yml").write_text(CONFIG)
    return stack(pg_url, workers=1, WEB_CONCURRENCY="2", GUNICORN_THREADS="4")


def test_scrapes_agree_and_show_a_stopped_dispatcher(running):
    """10 scrapes agree; after the dispatcher stops, every scrape within 30 s says so and the backlog grows."""
    web, worker, fake = running.web, running.workers[0], running.fake
    for n in range(4):
        post(web.url, n)
    wait_for(lambda: len(fake.leads()) == 4, 30, message="4 leads delivered")
    wait_for(lambda: scrape(web.url).get('leadrelay_leads{status="delivered"}') == 4, 15, message="gauges caught up")
    time.sleep(CACHE_SECONDS + 0.5)  # every worker's cache now holds a read made after the last change
    scrapes = [scrape(web.url) for _ in range(10)]
    assert all(s == scrapes[0] for s in scrapes), scrapes
    assert scrapes[0]["leadrelay_dispatcher_up"] == 1
    assert scrapes[0]['leadrelay_speed_to_lead_recent_count{lane="IMMEDIATE"}'] == 4

    assert worker.terminate() == 0
    post(web.url, 10)  # a lead that nobody will send
    stopped = time.time()
    wait_for(
        lambda: (
            scrape(web.url)["leadrelay_dispatcher_up"] == 0
            and scrape(web.url)['leadrelay_queue_oldest_seconds{lane="IMMEDIATE"}'] > 0
        ),
        30,
        interval=0.5,
        message="dispatcher_up 0 and a backlog on the scrapes",
    )
    # One worker's fresh read says so; the other's cache may be up to CACHE_SECONDS older.
    time.sleep(CACHE_SECONDS + 0.5)
    assert time.time() - stopped < 30
    ages: list[float] = []
    while time.time() - stopped < 30 and len(ages) < 8:
        s = scrape(web.url)
        assert s["leadrelay_dispatcher_up"] == 0
        ages.append(s['leadrelay_queue_oldest_seconds{lane="IMMEDIATE"}'])
        time.sleep(0.7)
    assert all(b > a for a, b in pairwise(ages)), ages

"""Fixtures for the dispatcher tests: a migrated database, the fake Engage on a socket, dispatcher threads."""

from __future__ import annotations

import threading

import pytest

from dispatch.runner import Dispatcher
from dispatch.wakeup import Waker
from harness import fake_engage
from store import db
from tests.dispatch.helpers import DISPATCH, backend_for
from tests.lanes import process_fixture


@pytest.fixture
def engine(db_url):
    """A migrated engine on a fresh database."""
    eng = db.make_engine(db_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
@process_fixture
def fake():
    """A fake Engage with two campaigns, served on loopback."""
    instance = fake_engage.HarnessEngage(campaigns=["Inbound Leads", "Hot Inbound"])
    server = fake_engage.serve(instance)
    instance.server = server  # type: ignore[attr-defined]  # tests reach the socket through the fake
    yield instance
    server.stop()


class Running:
    """A dispatcher thread with its stop event."""

    def __init__(self, engine, fake, cfg=None, holder=None):
        """Start it."""
        self.waker = Waker()
        self.stop_event = threading.Event()
        self.dispatcher = Dispatcher(engine, {**DISPATCH, **(cfg or {})}, backend_for(fake), self.waker, holder=holder)
        self.thread = threading.Thread(target=self.dispatcher.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def stop(self):
        """Graceful stop."""
        self.stop_event.set()
        self.waker.wake()
        self.thread.join(10)


@pytest.fixture
def running(engine, fake):
    """Factory for dispatcher threads; all stopped after the test."""
    started = []

    def start(**kw):
        """Start one dispatcher."""
        run = Running(engine, fake, **kw)
        started.append(run)
        return run

    yield start
    for run in started:
        run.stop()

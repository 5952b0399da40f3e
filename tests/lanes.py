"""The test lanes, enforced: a test is `unit` unless marked, and the marks cannot lie in either direction.

Lanes (declared in pyproject.toml): `process` (starts a process or opens an inet socket: real servers
on loopback), `browser` (drives a real browser), `fuzz` (property-based, many examples), `soak` (the
fault matrix; long with LEADRELAY_SOAK=1). Every other test is `unit`, applied here at collection, so
a test from any branch lands in a lane. `make check` runs `-m unit`; `make test` runs every lane.

What is watched (a Python audit hook, sys.addaudithook): an inet socket bound or connected, and a
process started (subprocess, fork, exec, spawn). A database connection is not an event: libpq
(PostgreSQL) does its own I/O below Python and SQLite is a file, so the unit lane runs both
databases' variants when TEST_DATABASE_URL is set.

- A `unit` test that binds or connects an inet socket or starts a process fails: the operation
  raises LaneViolation at once, and the test fails even if the code swallowed that exception.
- A `process`, `browser` or `soak` test that ran and did neither fails too (it belongs in the fast
  lane); I/O done by a fixture wider than one test counts for every test that uses that fixture.
  A `fuzz` test passes that check when it runs Hypothesis (a @given test, or one building its @given).
Events from threads that were running before the test started (leftovers of earlier tests) are
not the test's own and are ignored.
"""

from __future__ import annotations

import inspect
import socket
import sys
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

LANES = ("unit", "process", "browser", "fuzz", "soak")
IO_LANES = ("process", "browser", "soak")  # these must show the I/O they are marked for
_INET = (socket.AF_INET, socket.AF_INET6)
_PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.posix_spawn", "os.fork", "os.forkpty", "os.exec", "os.spawn"}


F = TypeVar("F", bound=Callable[..., Any])


class LaneViolation(RuntimeError):
    """A unit test tried to open an inet socket or start a process."""


@dataclass
class _Watch:
    """What one test (setup, call) did, and whether it may."""

    nodeid: str
    guard: bool  # True for unit tests: refuse the operation
    threads: set[int]  # threads alive before the test: not its own
    events: list[str] = field(default_factory=list)


_current: _Watch | None = None
_io_fixtures: set[str] = set()  # wider-than-a-test fixtures whose setup did I/O


def process_fixture(function: F) -> F:
    """Declare a fixture that starts a process or a server on a socket: its tests are `process`.

    Put it under @pytest.fixture. A test that uses it (directly or through another fixture) is
    marked `process` at collection unless it carries a lane marker of its own.
    """
    function._lane_process = True  # type: ignore[attr-defined]  # by definition, not by name: names repeat
    return function


def lane_of(item: pytest.Item) -> str:
    """The test's lane: its first lane marker (collection gave every test one)."""
    return next(m.name for m in item.iter_markers() if m.name in LANES)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Record (and, in the unit lane, refuse) an inet bind/connect or a process start."""
    watch = _current
    if watch is None:
        return
    if event in ("socket.bind", "socket.connect"):
        sock = args[0]
        if getattr(sock, "family", None) not in _INET:
            return
        what = f"{event} {args[1]!r}"
    elif event in _PROCESS_EVENTS:
        what = f"{event} {args[0]!r}" if args else event
    else:
        return
    if threading.get_ident() in watch.threads:
        return
    watch.events.append(what)
    if watch.guard:
        raise LaneViolation(
            f"unit test {watch.nodeid} did {what}: mark it @pytest.mark.process (or browser/soak) "
            "or keep it off sockets and processes"
        )


def pytest_configure(config: pytest.Config) -> None:
    """Install the audit hook once per session (hooks cannot be removed; it is idle between tests)."""
    if not getattr(sys, "_leadrelay_lanes_hook", False):
        sys.addaudithook(_audit)
        sys._leadrelay_lanes_hook = True  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test without a lane marker one, before `-m` selects: `process` when it uses a
    process fixture, else `unit`."""
    for item in items:
        if any(m.name in LANES for m in item.iter_markers()):
            continue
        item.add_marker(pytest.mark.process if _uses_process_fixture(item) else pytest.mark.unit)


def _uses_process_fixture(item: pytest.Item) -> bool:
    """True when a fixture the test gets (the definition in effect for it) was declared process_fixture."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for definitions in info.name2fixturedefs.values():
        if definitions and getattr(definitions[-1].func, "_lane_process", False):
            return True
    return False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Watch the test from setup to teardown."""
    global _current
    others = {t.ident for t in threading.enumerate() if t.ident is not None} - {threading.get_ident()}
    _current = _Watch(item.nodeid, guard=lane_of(item) == "unit", threads=others)
    item.stash[_WATCH] = _current
    try:
        return (yield)
    finally:
        _current = None


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Generator[None, object, object]:
    """Remember wider fixtures that do I/O: later tests reuse what they started."""
    watch = _current
    before = len(watch.events) if watch else 0
    try:
        return (yield)
    finally:
        if watch is not None and fixturedef.scope != "function" and len(watch.events) > before:
            _io_fixtures.add(fixturedef.argname)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Fail a passed test whose lane its I/O contradicts (setup and call are in by the call report)."""
    report = yield
    watch = item.stash.get(_WATCH, None)
    if watch is None or report.when != "call" or not report.passed:
        return report
    lane = lane_of(item)
    if lane == "unit" and watch.events:
        report.outcome = "failed"
        report.longrepr = (
            f"unit test opened a socket or started a process (the exception was swallowed): {watch.events}"
        )
    elif lane in IO_LANES or lane == "fuzz":
        did_io = bool(watch.events) or any(name in _io_fixtures for name in getattr(item, "fixturenames", ()))
        if not did_io and not (lane == "fuzz" and _runs_hypothesis(item)):
            report.outcome = "failed"
            report.longrepr = (
                f"marked {lane} but opened no inet socket and started no process: "
                "it belongs in the unit lane (remove the marker)"
            )
    return report


def _runs_hypothesis(item: pytest.Item) -> bool:
    """A Hypothesis test, or one that builds its @given inside (the fuzz lane's own I/O-free tests)."""
    function = getattr(item, "function", None)
    if getattr(function, "is_hypothesis_test", False):
        return True
    try:
        return "@given(" in inspect.getsource(function)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return False


_WATCH = pytest.StashKey[_Watch]()

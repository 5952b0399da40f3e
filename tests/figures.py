"""The fault cases' figures: each case appends a line, and the run prints them all in its summary.

Under pytest-xdist (`make test`) a case runs in a worker process, whose module-level list the
process that writes the summary never sees. So each case's new lines ride on its test report
(`user_properties`, which xdist sends to the controller), and whichever process writes the summary
collects them from the reports it receives: its own in one process (`make soak`), the workers'
under xdist.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, cast

import pytest

FIGURES: list[str] = []  # lines the cases in this process appended and no report carries yet
_PROPERTY = "fault_figures"
_COLLECTED: list[str] = []  # lines from every report this process received


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Move the lines a case appended onto the report of the phase that appended them."""
    report = yield
    if FIGURES:
        report.user_properties.append((_PROPERTY, list(FIGURES)))
        FIGURES.clear()
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep the figures a report carries (in the controller, the reports come from the workers)."""
    for name, value in report.user_properties:
        if name == _PROPERTY:
            _COLLECTED.extend(cast(list[str], value))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per fault case: leads sent, delivered, duplicates, dead, recovery time."""
    if _COLLECTED:
        terminalreporter.section("fault matrix figures")
        for line in _COLLECTED:
            terminalreporter.write_line(line)

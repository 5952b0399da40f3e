"""Print every fault case's figure at the end of the run (also with output capture on)."""

from __future__ import annotations

from tests.faults.matrix import FIGURES


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line per case: leads sent, delivered, duplicates, dead, recovery time."""
    if FIGURES:
        terminalreporter.section("fault matrix figures")
        for line in FIGURES:
            terminalreporter.write_line(line)

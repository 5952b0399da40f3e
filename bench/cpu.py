"""CPU accounting from /proc: where the machine's cycles went during a measured window."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int, reaped: bool = False) -> tuple[str, int, float] | None:
    """(comm, process group, user+system CPU seconds) of one process, None if it is gone.

    `reaped` adds the CPU of its children that exited and were waited for (cutime + cstime).
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # After the comm: state ppid pgrp session …; utime, stime, cutime, cstime are fields 14–17 of the line.
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return comm, int(fields[2]), ticks / _TICK


def _all_pids() -> list[int]:
    """Every numeric entry of /proc (bounded by the number of processes on the host)."""
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def group_seconds(pgid: int) -> float:
    """CPU seconds used so far by every live process in process group `pgid` (gunicorn master + workers)."""
    total = 0.0
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat and stat[1] == pgid:
            total += stat[2]
    return total


def pid_seconds(pid: int) -> float:
    """CPU seconds used so far by one process."""
    stat = _proc_stat(pid)
    return stat[2] if stat else 0.0


def named_seconds(comm: str) -> float:
    """CPU seconds used so far by every process with this command name (e.g. the host's postgres).

    Reaped children count too: PostgreSQL backends of connections closed during the window (the
    service's pool closes its overflow connections) exit, and only the postmaster's cutime keeps
    their CPU. Without it that work showed up as other tenants' (`others_busy_pct`).
    """
    return sum(stat[2] for pid in _all_pids() if (stat := _proc_stat(pid, reaped=True)) and stat[0] == comm)


def self_seconds() -> float:
    """CPU seconds used so far by this (benchmark client) process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with Path("/proc/stat").open() as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return float(sum(values) - idle), float(sum(values))


class Meter:
    """Snapshot CPU counters at start(), report the deltas at stop()."""

    def __init__(self, groups: dict[str, int], pids: dict[str, int], names: dict[str, str]) -> None:
        """`groups`: label → pgid; `pids`: label → pid; `names`: label → comm to sum over the host."""
        self.groups, self.pids, self.names = groups, pids, names
        self.start_values: dict[str, float] = {}
        self.start_machine = (0.0, 0.0)
        self.started = 0.0

    def _values(self) -> dict[str, float]:
        """Current counters per label."""
        values = {k: group_seconds(v) for k, v in self.groups.items()}
        values.update({k: pid_seconds(v) for k, v in self.pids.items()})
        values.update({k: named_seconds(v) for k, v in self.names.items()})
        values["bench_client"] = self_seconds()
        return values

    def start(self) -> None:
        """Take the first snapshot."""
        self.start_values = self._values()
        self.start_machine = machine_busy()
        self.started = time.monotonic()

    def stop(self) -> dict:
        """CPU seconds per label since start(); machine busy % and the share used by everything else."""
        now = self._values()
        busy, total = machine_busy()
        window = time.monotonic() - self.started
        used = {k: now[k] - self.start_values.get(k, 0.0) for k in now}
        out = {f"cpu_s_{k}": round(v, 2) for k, v in used.items()}
        d_total = total - self.start_machine[1]
        if d_total and window > 0:
            machine = 100.0 * (busy - self.start_machine[0]) / d_total
            ours = 100.0 * sum(used.values()) / (window * (os.cpu_count() or 1))
            out["machine_busy_pct"] = round(machine, 1)
            # Other tenants' work on a shared machine: the best single indicator of how noisy a run was.
            out["others_busy_pct"] = round(max(0.0, machine - ours), 1)
        return out

"""Memory from /proc: a process group's RSS and PSS (shared pages counted once), peaks over a window."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def _status_kb(pid: int, field: str) -> int:
    """One `VmXXX:` field of /proc/<pid>/status in kB (0 when the process or the field is gone)."""
    try:
        with Path(f"/proc/{pid}/status").open() as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def group_pids(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (gunicorn master and workers, or a `flask dispatch run`)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) == pgid:
                out.append(int(entry.name))
        except OSError:
            continue  # exited between listdir and getpgid
    return out


def group_rss_kb(pgid: int) -> int:
    """Sum of VmRSS over the group now, in kB."""
    return sum(_status_kb(pid, "VmRSS") for pid in group_pids(pgid))


def group_hwm_kb(pgid: int) -> dict[int, int]:
    """VmHWM (peak RSS since the process started) of each process of the group, in kB."""
    return {pid: _status_kb(pid, "VmHWM") for pid in group_pids(pgid)}


class RssSampler:
    """Samples a group's summed VmRSS every `interval` s in a thread; `stop()` returns the peak in kB."""

    def __init__(self, pgid: int, interval: float = 0.1, max_samples: int = 20_000) -> None:
        """`max_samples` bounds the thread even if stop() is never called (20 000 × 0.1 s ≈ 33 min)."""
        self.pgid, self.interval, self.max_samples = pgid, interval, max_samples
        self.peak_kb = 0
        self.start_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-rss", daemon=True)

    def _loop(self) -> None:
        """Sample until stopped or `max_samples` taken."""
        for _ in range(self.max_samples):
            self.peak_kb = max(self.peak_kb, group_rss_kb(self.pgid))
            if self._stop.wait(self.interval):
                return

    def start(self) -> RssSampler:
        """Record the RSS at the start of the window and begin sampling."""
        self.start_kb = group_rss_kb(self.pgid)
        self._thread.start()
        return self

    def stop(self) -> dict:
        """Stop sampling; RSS at start, sampled peak and the processes' lifetime peaks (VmHWM), in MB."""
        self._stop.set()
        self._thread.join(5)
        self.peak_kb = max(self.peak_kb, group_rss_kb(self.pgid))
        hwm = group_hwm_kb(self.pgid)
        return {
            "rss_mb_before": round(self.start_kb / 1024, 1),
            "rss_mb_peak_sampled": round(self.peak_kb / 1024, 1),
            "vmhwm_mb_per_process": {str(pid): round(kb / 1024, 1) for pid, kb in sorted(hwm.items())},
            "vmhwm_mb_max_process": round(max(hwm.values(), default=0) / 1024, 1),
        }


def pss_kb(pid: int) -> int:
    """Proportional set size of one process in kB (pages shared with N processes count 1/N), 0 if gone."""
    try:
        with Path(f"/proc/{pid}/smaps_rollup").open() as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _role(pid: int, pgid: int) -> str:
    """'master' for the group leader (gunicorn's arbiter), else 'worker' (a gunicorn worker)."""
    return "master" if pid == pgid else "worker"


class PssSampler:
    """Samples PSS per process of a group every `interval` s: each process's peak and the group sum's peak.

    PSS counts a page shared by gunicorn's master and worker once in total (half in each), so the sum
    is the service's real footprint, where summed RSS counts shared pages twice.
    """

    def __init__(self, pgid: int, interval: float = 0.5, max_samples: int = 4_000) -> None:
        """`max_samples` bounds the thread even if stop() is never called (4 000 × 0.5 s ≈ 33 min)."""
        self.pgid, self.interval, self.max_samples = pgid, interval, max_samples
        self.peak_kb: dict[str, int] = {}
        self.sum_peak_kb = 0
        self.start_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-pss", daemon=True)

    def _sample(self) -> int:
        """One sample of every process; returns the group's sum in kB."""
        total = 0
        for pid in group_pids(self.pgid):
            kb = pss_kb(pid)
            role = _role(pid, self.pgid)
            self.peak_kb[role] = max(self.peak_kb.get(role, 0), kb)
            total += kb
        self.sum_peak_kb = max(self.sum_peak_kb, total)
        return total

    def _loop(self) -> None:
        """Sample until stopped or `max_samples` taken."""
        for _ in range(self.max_samples):
            self._sample()
            if self._stop.wait(self.interval):
                return

    def start(self) -> PssSampler:
        """Record the PSS at the start of the window and begin sampling."""
        self.start_kb = self._sample()
        self._thread.start()
        return self

    def stop(self) -> dict:
        """Stop sampling; PSS (MiB) of the group at start, its sampled peak, and each process's peak."""
        self._stop.set()
        self._thread.join(5)
        self._sample()
        return {
            "pss_mib_start": round(self.start_kb / 1024, 1),
            "pss_mib_peak_sum": round(self.sum_peak_kb / 1024, 1),
            "pss_mib_peak_per_process": {role: round(kb / 1024, 1) for role, kb in sorted(self.peak_kb.items())},
        }

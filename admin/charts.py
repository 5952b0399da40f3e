"""Server-rendered SVG charts for the console (readable without JavaScript, printable)."""

from __future__ import annotations

import time
from html import escape
from typing import Any

from lead.lifecycle import FAILED, IN_PROGRESS, LeadStatus, ordered

_DELIVERED = frozenset({LeadStatus.DELIVERED, LeadStatus.DONE})
# Outcome groups and their colours, in stacking order (bottom first); every status is in one group.
GROUPS = (
    (LeadStatus.DELIVERED, ordered(_DELIVERED), "#2e7d32"),
    ("waiting", ordered(IN_PROGRESS), "#f9a825"),
    ("failed", ordered(FAILED), "#c62828"),
    ("other", ordered(set(LeadStatus) - _DELIVERED - IN_PROGRESS - FAILED), "#9e9e9e"),
)
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 200, 44, 22, 10


def _hour(ts: float) -> str:
    """HH (UTC) of an epoch time."""
    return time.strftime("%H", time.gmtime(ts))


def _frame(title: str, ymax: float, unit: str, buckets: list[dict[str, Any]]) -> list[str]:
    """The SVG opening, axes, y ticks and hour labels."""
    plot_h = HEIGHT - BOTTOM - TOP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>'
    ]
    for i in range(5):
        value = ymax * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{value:.3g}{unit}</text>'
        )
    step = (WIDTH - LEFT) / max(1, len(buckets))
    for i, bucket in enumerate(buckets):
        if i % 3 == 0:
            parts.append(
                f'<text x="{LEFT + i * step + step / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
                f'font-size="11">{_hour(bucket["start"])}h</text>'
            )
    return parts


def outcomes_svg(buckets: list[dict[str, Any]]) -> str:
    """Stacked bars: leads received per hour by outcome."""
    ymax = max([b["total"] for b in buckets] + [1])
    plot_h = HEIGHT - BOTTOM - TOP
    parts = _frame("Leads per hour by outcome (UTC)", ymax, "", buckets)
    step = (WIDTH - LEFT) / max(1, len(buckets))
    for i, bucket in enumerate(buckets):
        y = TOP + plot_h
        for name, statuses, colour in GROUPS:
            count = sum(bucket["outcomes"].get(s, 0) for s in statuses)
            if not count:
                continue
            h = plot_h * count / ymax
            y -= h
            parts.append(
                f'<rect x="{LEFT + i * step + 2:.1f}" y="{y:.1f}" width="{step - 4:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{_hour(bucket["start"])}h {name}: {count}</title></rect>'
            )
    parts.append("</svg>")
    return "".join(parts)


def speed_svg(buckets: list[dict[str, Any]]) -> str:
    """Lines: speed-to-lead p50 and p95 per hour, in seconds."""
    return lines_svg(
        "Speed-to-lead p50 / p95 per hour (seconds, UTC)", buckets, (("p95", "#c62828"), ("p50", "#1565c0"))
    )


def first_dial_svg(buckets: list[dict[str, Any]]) -> str:
    """Lines: received → first dialer attempt p50 and p90 per hour (by first attempt), in seconds."""
    return lines_svg(
        "Received → first attempt p50 / p90 per hour (seconds, UTC)", buckets, (("p90", "#c62828"), ("p50", "#1565c0"))
    )


def lines_svg(title: str, buckets: list[dict[str, Any]], series: tuple[tuple[str, str], ...]) -> str:
    """One line per (key, colour) over the hourly buckets; hours without data are skipped."""
    ymax = max([b[series[0][0]] for b in buckets] + [0.1])
    plot_h = HEIGHT - BOTTOM - TOP
    parts = _frame(title, ymax, "s", buckets)
    step = (WIDTH - LEFT) / max(1, len(buckets))
    for key, colour in series:
        points = [
            f"{LEFT + i * step + step / 2:.1f},{TOP + plot_h - plot_h * b[key] / ymax:.1f}"
            for i, b in enumerate(buckets)
            if b["total"]
        ]
        if points:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(points)}"/>')
            for point in points:
                x, y = point.split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
    parts.append("</svg>")
    return "".join(parts)

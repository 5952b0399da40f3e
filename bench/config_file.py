"""The leadrelay.yml each scenario's service runs with."""
from __future__ import annotations

from pathlib import Path

import yaml

TOKEN = "bench-token"
TOKEN_HEADER = "X-Leadrelay-Token"
HOT_CAMPAIGN = "Hot Inbound"
# Far above any rate the one-at-a-time scenarios reach: they measure latency, not Engage's quota.
UNTHROTTLED = {"rate_limit_10s": 100_000, "rate_limit_60s": 600_000}


def config(unthrottled: bool = False) -> dict:
    """One hubspot source with the example's score route; repeated prospects are never suppressed."""
    return {
        "defaults": {"campaign": "Inbound Leads", "priority": "NORMAL", "suppress_within": 0},
        "dispatch": dict(UNTHROTTLED) if unthrottled else {},
        "sources": {
            "hubspot": {
                "type": "hubspot",
                "token": TOKEN,
                "routes": [
                    {"when": {"hubspotscore": {"gte": 80}}, "priority": "IMMEDIATE", "campaign": HOT_CAMPAIGN},
                    {"priority": "NORMAL"},
                ],
            }
        },
    }


def write(directory: Path, unthrottled: bool = False) -> Path:
    """Write leadrelay.yml into `directory` and return its path."""
    path = directory / "leadrelay.yml"
    path.write_text(yaml.safe_dump(config(unthrottled), sort_keys=False))
    return path

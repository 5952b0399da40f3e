"""The leadrelay.yml each scenario's service runs with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

TOKEN = "bench-token"
TOKEN_HEADER = "X-Leadrelay-Token"
HOT_CAMPAIGN = "Hot Inbound"
SF_TOKEN = "bench-sf-url-token"  # sent as ?token=…, as docs/sources/salesforce.md recommends
SF_META = Path(__file__).resolve().parent.parent / "tests" / "data" / "salesforce" / "outbound_lead_hot.meta.json"
# Far above any rate the one-at-a-time scenarios reach: they measure latency, not Engage's quota.
UNTHROTTLED = {"rate_limit_10s": 100_000, "rate_limit_60s": 600_000}


def salesforce_source() -> dict:
    """The Salesforce source of docs/sources/salesforce.md: the fixture's org id, a URL token, its routes."""
    return {
        "type": "salesforce",
        "organization_id": json.loads(SF_META.read_text())["auth"]["expected_org_id"],
        "token": SF_TOKEN,
        "routes": [
            {"when": {"Rating": "Hot"}, "priority": "IMMEDIATE", "campaign": HOT_CAMPAIGN},
            {"priority": "NORMAL"},
        ],
    }


def config(unthrottled: bool = False, salesforce: bool = False) -> dict[str, Any]:
    """One hubspot source with the example's score route (plus `salesforce`); prospects are never suppressed."""
    doc: dict[str, Any] = {
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
    if salesforce:
        doc["sources"]["salesforce"] = salesforce_source()
    return doc


def write(directory: Path, unthrottled: bool = False, salesforce: bool = False) -> Path:
    """Write leadrelay.yml into `directory` and return its path."""
    path = directory / "leadrelay.yml"
    path.write_text(yaml.safe_dump(config(unthrottled, salesforce), sort_keys=False))
    return path

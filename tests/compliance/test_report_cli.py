"""`compliance report`: by phone (any of a lead's numbers), externId or date range; JSON and CSV."""

from __future__ import annotations

import csv
import io
import json

from store import compliance as evidence
from store.db import write

CONFIG = """
sources:
  web:
    type: generic
    token: t0ken-t0ken-t0ken
"""
DAY1 = 1796644800.0  # 2026-12-07T12:00Z


def seed(engine):
    rows = [
        evidence.EvidenceRow(1, "web", "A1", ["+13055550100"], "ada@example.com", None, "calling_window", "defer",
                             {"calling_window": {"rule": "FL 08:00-20:00"}}, DAY1, 1825),
        evidence.EvidenceRow(1, "web", "A1", ["+13055550100"], "ada@example.com", None, "load", "load", {}, DAY1 + 3600, 1825),
        evidence.EvidenceRow(2, "web", "B1", ["+12125550100", "+13055550100"], None, None, "frequency_cap", "block",
                             {"frequency_cap": {"loads_24h": 1}}, DAY1 + 86400 * 2, 1825),
    ]  # fmt: skip
    with write(engine) as conn:
        evidence.record(conn, rows)


def test_report_by_phone_extern_id_and_range(make_app, sqlite_url):
    app = make_app(CONFIG, sqlite_url)
    seed(app.extensions["leadrelay"].engine)
    runner = app.test_cli_runner()
    by_phone = runner.invoke(args=["compliance", "report", "--phone", "(305) 555-0100"])
    lines = [json.loads(line) for line in by_phone.output.splitlines()]
    assert by_phone.exit_code == 0 and [r["extern_id"] for r in lines] == ["A1", "A1", "B1"]  # a second number counts
    assert lines[0]["detail"]["calling_window"]["rule"] == "FL 08:00-20:00" and lines[0]["decided_at"].startswith(
        "2026-12-07T12:00"
    )
    by_extern = runner.invoke(args=["compliance", "report", "--extern-id", "B1", "--format", "csv"])
    table = list(csv.DictReader(io.StringIO(by_extern.output)))
    assert [(r["gate"], r["decision"]) for r in table] == [("frequency_cap", "block")]
    assert json.loads(table[0]["phones"]) == ["+12125550100", "+13055550100"]
    ranged = runner.invoke(args=["compliance", "report", "--since", "2026-12-07", "--until", "2026-12-08"])
    assert [json.loads(line)["gate"] for line in ranged.output.splitlines()] == ["calling_window", "load"]
    refused = runner.invoke(args=["compliance", "report"])
    assert refused.exit_code != 0 and "give --phone" in refused.output


def test_recheck_requeues_blocked_leads_only(make_app, sqlite_url):
    from sqlalchemy import text

    from store.db import write as write_tx

    app = make_app(CONFIG, sqlite_url)
    client = app.test_client()
    for n in (1, 2):
        client.post(
            "/webhooks/web",
            json={"id": f"L{n}", "phone": f"303555000{n}"},
            headers={"X-Leadrelay-Token": "t0ken-t0ken-t0ken"},
        )
    engine = app.extensions["leadrelay"].engine
    with write_tx(engine) as conn:
        conn.execute(text("UPDATE leads SET status=:b WHERE extern_id='L1'"), {"b": "blocked"})
        conn.execute(text("UPDATE leads SET status=:d WHERE extern_id='L2'"), {"d": "dead"})
    result = app.test_cli_runner().invoke(args=["compliance", "recheck"])
    assert result.exit_code == 0 and "re-queued 1 blocked lead(s) for the gates: 1" in result.output, result.output
    with engine.connect() as conn:
        statuses = dict(conn.execute(text("SELECT extern_id, status FROM leads")).fetchall())
    assert statuses == {"L1": "queued", "L2": "dead"}

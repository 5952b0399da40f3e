"""`./leadrelay dnc list|add|remove|import`: E.164 everywhere, a reason for removals, an idempotent import with counts."""

from __future__ import annotations

import json

from store import dnc

CONFIG = """
sources:
  web:
    type: generic
    token: t0k3n-long-enough-1234
"""


def test_add_list_remove(make_app, db_url):
    """add normalises and says when a number was already listed; remove needs --reason; list shows who and why."""
    app = make_app(CONFIG, db_url)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["dnc", "add", "(303) 555-0142", "--reason", "asked on a call"])
    assert result.exit_code == 0 and "+13035550142 added" in result.output, result.output
    result = runner.invoke(args=["dnc", "add", "+1 303 555 0142"])
    assert result.exit_code == 0 and "already on the do-not-call list" in result.output
    result = runner.invoke(args=["dnc", "add", "call me maybe"])
    assert result.exit_code == 2 and "'call me maybe' is not a phone number" in result.output

    result = runner.invoke(args=["dnc", "list", "--json"])
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["phone"] == "+13035550142" and row["reason"] == "asked on a call" and row["source"] == "cli"
    assert row["added_by"].startswith("cli")

    result = runner.invoke(args=["dnc", "remove", "303-555-0142"])
    assert result.exit_code == 2 and "--reason" in result.output
    result = runner.invoke(args=["dnc", "remove", "303-555-0142", "--reason", "entered by mistake"])
    assert result.exit_code == 0 and "removed" in result.output and "Engage" in result.output
    result = runner.invoke(args=["dnc", "remove", "303-555-0142", "--reason", "again"])
    assert result.exit_code == 1 and "is not on the do-not-call list" in result.output
    engine = app.extensions["leadrelay"].engine
    assert [r["action"] for r in dnc.history(engine, "+13035550142")] == ["remove", "add"]


def test_import_twice_reports_counts_and_adds_nothing_the_second_time(make_app, sqlite_url, tmp_path):
    """A CSV with a header: counts of rows, added, already listed, refused (with file:line)."""
    app = make_app(CONFIG, sqlite_url)
    runner = app.test_cli_runner()
    path = tmp_path / "optouts.csv"
    lines = ["phone,reason"] + [f"(303) 555-{i:04d},texted STOP" for i in range(1000)] + ["nope,", "+1 720 555 0117,"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["dnc", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "1002 rows: 1001 added, 0 already on the list, 1 refused." in result.stdout
    assert f"{path}:1002: not a phone number" in result.stderr
    result = runner.invoke(args=["dnc", "import", str(path)])
    assert "1002 rows: 0 added, 1001 already on the list, 1 refused." in result.stdout
    engine = app.extensions["leadrelay"].engine
    assert dnc.count(engine) == 1001
    total, (row,) = dnc.search(engine, "7205550117")
    assert total == 1 and row["reason"] == "import optouts.csv" and row["source"] == "import"

"""Retention purge and `leads forget`: personal data goes, rows and counts stay."""

from __future__ import annotations

import json
import time

from sqlalchemy import select

from store.schema import events, leads

CONFIG = """
sources:
  api:
    type: generic
    token: t
    fields: {externId: id, leadPhone: phone, email: email}
"""


def post(client, body):
    """POST one JSON record."""
    return client.post(
        "/webhooks/api", data=json.dumps(body), headers={"X-Leadrelay-Token": "t", "Content-Type": "application/json"}
    )


def rows(app, table):
    """All rows of a table."""
    with app.extensions["leadrelay"].engine.connect() as conn:
        return conn.execute(select(table)).fetchall()


def test_forget_erases_one_person(make_app, db_url):
    """`leads forget --phone` erases that person's leads and raw bodies, and nobody else's."""
    app = make_app(CONFIG, db_url)
    client = app.test_client()
    post(client, {"id": "a", "phone": "(303) 555-0142", "email": "Ada@Example.com"})
    post(client, {"id": "b", "phone": "303-555-0199", "email": "grace@example.com"})
    result = app.test_cli_runner().invoke(args=["leads", "forget", "--phone", "+1 303 555 0142"])
    assert result.exit_code == 0 and "of 1 lead and" in result.output
    by_extern = {r.extern_id: r for r in rows(app, leads)}
    assert by_extern["a"].lead is None and by_extern["a"].primary_phone is None
    assert by_extern["b"].lead is not None
    bodies = [r.body for r in rows(app, events)]
    assert bodies.count(None) == 1
    result = app.test_cli_runner().invoke(args=["leads", "forget", "--email", "GRACE@example.com"])
    assert "of 1 lead and" in result.output


def test_purge_after_retention(make_app, sqlite_url):
    """Bodies and finished leads' data older than retention_days are erased by `leads purge`."""
    app = make_app(CONFIG, sqlite_url)
    post(app.test_client(), {"id": "a", "phone": "n/a"})  # stored invalid (finished)
    engine = app.extensions["leadrelay"].engine
    with engine.begin() as conn:
        conn.execute(events.update().values(received_at=time.time() - 40 * 86400))
        conn.execute(leads.update().values(received_at=time.time() - 40 * 86400))
    result = app.test_cli_runner().invoke(args=["leads", "purge"])
    assert result.exit_code == 0 and "erased 1 raw body and the personal data of 1 lead." in result.output
    assert rows(app, events)[0].body is None and rows(app, leads)[0].record is None


def test_forget_finds_a_full_width_email(make_app, db_url):
    """A lead that came with ＡＤＡ@ＥＸＡＭＰＬＥ.ＣＯＭ is found by that address and by ada@example.com (issue 18 item 11)."""
    app = make_app(CONFIG, db_url)
    client = app.test_client()
    post(client, {"id": "fw", "phone": "(303) 555-0142", "email": "ＡＤＡ@ＥＸＡＭＰＬＥ.ＣＯＭ"})
    result = app.test_cli_runner().invoke(args=["leads", "forget", "--email", "ＡＤＡ@ＥＸＡＭＰＬＥ.ＣＯＭ"])
    assert result.exit_code == 0 and "personal data of 1 lead " in result.output
    assert {r.extern_id: r for r in rows(app, leads)}["fw"].lead is None

"""store/dnc.py on SQLite and PostgreSQL: E.164 only, idempotent adds, logged removals, any-number matching, CSV import."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from store import db, dnc
from store.schema import dnc_log


@pytest.fixture
def engine(db_url):
    """A migrated database."""
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


def test_normalize_takes_what_people_type_and_refuses_the_rest():
    """Every way of writing a number gives one E.164 form; text is refused with its value named."""
    for value in ("(303) 555-0142", "303.555.0142", "+1 303 555 0142", "13035550142", 3035550142):
        assert dnc.normalize(value) == "+13035550142"
    assert dnc.normalize("020 7946 0018", region="GB") == "+442079460018"
    with pytest.raises(dnc.BadNumber, match="'call me'"):
        dnc.normalize("call me")


def test_lead_numbers_reads_every_number_of_a_stored_lead():
    """leadPhone's `|`-separated numbers (NANP as 10 digits, others E.164) and the primary, deduplicated."""
    lead = {"leadPhone": "3035550142|7205550117|+442079460018", "leadPhoneE164": "+13035550142"}
    assert dnc.lead_numbers(lead, "3035550142") == ["+13035550142", "+17205550117", "+442079460018"]
    assert dnc.lead_numbers(None, None) == []


def test_add_is_idempotent_and_logged_once(engine):
    """The same number twice is one entry and one log row; the first reason and source stay."""
    with db.write(engine) as conn:
        assert dnc.add(
            conn, ["+13035550142", "+13035550142"], reason="texted STOP", source="sms", added_by="event:7", now=1.0
        ) == ["+13035550142"]
        assert dnc.add(
            conn, ["+13035550142", "+17205550117"], reason="console", source="console", added_by="session:a", now=2.0
        ) == ["+17205550117"]
    with engine.connect() as conn:
        (entry,) = dnc.matching(conn, ["+13035550142"])
        assert (entry["reason"], entry["source"], entry["added_by"], entry["created_at"]) == (
            "texted STOP",
            "sms",
            "event:7",
            1.0,
        )
        assert [r.phone for r in conn.execute(select(dnc_log).order_by(dnc_log.c.id))] == [
            "+13035550142",
            "+17205550117",
        ]


def test_a_lead_is_on_the_list_when_any_number_is(engine):
    """on_dnc is true when one of several numbers is listed, false for none or an empty list."""
    dnc.add_one(engine, "+17205550117", reason=None, source="api", added_by="token", now=1.0)
    with engine.connect() as conn:
        assert dnc.on_dnc(conn, ["+13035550142", "+17205550117"])
        assert not dnc.on_dnc(conn, ["+13035550142"])
        assert not dnc.on_dnc(conn, [])
        assert [r["phone"] for r in dnc.matching(conn, ["+13035550142", "+17205550117"])] == ["+17205550117"]
        assert dnc.listed(conn, ["+13035550142", "+17205550117"]) == {"+17205550117"}
        assert dnc.listed(conn, []) == set()


def test_remove_needs_a_reason_and_is_logged(engine):
    """A removal without a reason is refused; with one it deletes the entry and logs who and why."""
    dnc.add_one(engine, "+13035550142", reason="stop", source="sms", added_by="event:1", now=1.0)
    with pytest.raises(ValueError, match="reason"):
        dnc.remove_one(engine, "+13035550142", reason="  ", actor="session:a", source="console", now=2.0)
    assert dnc.remove_one(
        engine, "+13035550142", reason="added by mistake", actor="session:a", source="console", now=3.0
    )
    assert not dnc.remove_one(engine, "+13035550142", reason="again", actor="session:a", source="console", now=4.0)
    assert not dnc.any_on(engine, ["+13035550142"])
    log = dnc.history(engine, "+13035550142")
    assert [(r["action"], r["reason"], r["actor"]) for r in log] == [
        ("remove", "added by mistake", "session:a"),
        ("add", "stop", "event:1"),
    ]


def test_search_by_digits_newest_first(engine):
    """Digits anywhere in the number match (formatting ignored); the total counts every match."""
    for i, phone in enumerate(["+13035550142", "+13035550199", "+17205550117"]):
        dnc.add_one(engine, phone, reason=None, source="cli", added_by="cli:ops", now=float(i))
    total, rows = dnc.search(engine, "(303) 555")
    assert total == 2 and [r["phone"] for r in rows] == ["+13035550199", "+13035550142"]
    total, rows = dnc.search(engine, "", limit=1)
    assert total == 3 and [r["phone"] for r in rows] == ["+17205550117"]


def test_csv_import_is_idempotent_and_reports_counts(engine):
    """A header names the columns; bad lines are refused with their line number; a second run adds nothing."""
    data = "Name,Phone,Reason\nAda,(303) 555-0142,asked on the phone\nBob,not a number,\n\nCy,+1 720 555 0117,\nAda again,303-555-0142,dup\n"
    numbers, bad, rows = dnc.read_csv(data)
    assert rows == 4 and bad == [(3, "not a phone number")]
    with db.write(engine) as conn:
        first = dnc.import_numbers(
            conn, numbers, default_reason="import x.csv", source="import", added_by="cli:ops", now=1.0
        )
    assert first.added == ["+13035550142", "+17205550117"] and first.already == 1
    with db.write(engine) as conn:
        second = dnc.import_numbers(
            conn, numbers, default_reason="import x.csv", source="import", added_by="cli:ops", now=2.0
        )
    assert second.added == [] and second.already == 3
    with engine.connect() as conn:
        reasons = {r["phone"]: r["reason"] for r in dnc.matching(conn, ["+13035550142", "+17205550117"])}
    assert reasons == {"+13035550142": "asked on the phone", "+17205550117": "import x.csv"}


def test_csv_without_header_takes_the_first_column():
    """A bare list of numbers is read from its first line on."""
    numbers, bad, rows = dnc.read_csv("3035550142\n7205550117,x\n")
    assert [n for n, _ in numbers] == ["+13035550142", "+17205550117"] and bad == [] and rows == 2

"""Migrations spell out their operations, and the schema they build is the schema the code expects."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from store import db
from store.schema import metadata

VERSIONS = db.MIGRATIONS / "versions"


def head_revision() -> str:
    """The newest revision in store/migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None, "store/migrations has no revision"
    return head


def _schema_diff(engine) -> list:
    """Alembic's autogenerate comparison of the live database against store/schema.py."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        return compare_metadata(context, metadata)


def test_migrated_schema_matches_the_code(db_url):
    """Upgrading an empty database to head yields exactly the tables, columns and indexes the code declares."""
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        assert db.current_revision(engine) == head_revision()
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


def test_comparison_notices_a_missing_index(sqlite_url):
    """The comparison is not vacuous: an index the migrations lack shows up as a difference."""
    engine = db.make_engine(sqlite_url)
    try:
        db.upgrade(engine)
        with db.write(engine) as conn:
            conn.exec_driver_sql("DROP INDEX ix_leads_event")
        diff = _schema_diff(engine)
        assert any(op[0] == "add_index" and op[1].name == "ix_leads_event" for op in diff), diff
    finally:
        engine.dispose()


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("*.py")), ids=lambda p: p.stem)
def test_revisions_do_not_build_from_the_live_schema(path: Path):
    """A revision that imports store.schema (or calls create_all) would change when the code changes."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("store"), f"{path.name} imports {node.module}"
        if isinstance(node, ast.Import):
            assert not any(alias.name.startswith("store") for alias in node.names), f"{path.name} imports store"
        if isinstance(node, ast.Attribute):
            assert node.attr not in ("create_all", "drop_all"), f"{path.name} calls {node.attr}"

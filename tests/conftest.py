"""Shared fixtures: one temporary database per test (SQLite file, or a PostgreSQL schema), apps, fakes."""

from __future__ import annotations

import functools
import os
import textwrap
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

# Builders live in tests/builders.py; these names stay importable from here for older imports.
from tests.builders import DATA, fixture_bytes, fixture_meta  # noqa: F401
from tests.lanes import process_fixture

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "leadrelay.example.yml"
PG_SKIP = "PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test); .ci/run sets it"


def pg_base_url() -> str | None:
    """The PostgreSQL server for tests, or None when not configured."""
    return os.environ.get("TEST_DATABASE_URL") or None


@pytest.fixture(autouse=True)
def _never_the_working_trees_config(monkeypatch):
    """Load the example, as a fresh clone would, wherever a test gives no LEADRELAY_CONFIG.

    A user's own leadrelay.yml (gitignored, its ${VARS} set in their shell or not) must not decide
    what a test loads; processes the harness starts get the same default (harness/processes.py).
    """
    import config.environment

    monkeypatch.setattr(config.environment, "default_config_path", lambda: str(EXAMPLE_CONFIG))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A fresh SQLite file for this test."""
    return f"sqlite:///{tmp_path / 'leadrelay.db'}"


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL schema for this test (search_path set in the URL); dropped afterwards."""
    base = pg_base_url()
    if not base:
        pytest.skip(PG_SKIP)
    from config import normalize_database_url

    url = normalize_database_url(base)
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request):
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def write_config(tmp_path):
    """Write a leadrelay.yml for this test and return its path."""

    def write(body: str) -> str:
        """Dedent and write the YAML text."""
        path = tmp_path / "leadrelay.yml"
        path.write_text(textwrap.dedent(body))
        return str(path)

    return write


@pytest.fixture
def make_app(write_config):
    """Factory: create_app() with a given config text and database, sandbox unless told otherwise."""
    apps = []

    def build(config: str, database_url: str, **env):
        """Build the app; `env` adds or overrides environment variables."""
        from app import create_app

        environ = {
            "DATABASE_URL": database_url,
            "LEADRELAY_CONFIG": write_config(config),
            "ENGAGE_MODE": "sandbox",
            **env,
        }
        application = create_app(environ)
        apps.append(application)
        return application

    yield build
    from app import stop_dispatcher

    for application in apps:
        stop_dispatcher(application)
        application.extensions["leadrelay"].engine.dispose()


@pytest.fixture
def procs():
    """Processes a test starts (append them); all stopped afterwards, whatever happened."""
    from tests.stack import stop_all

    started: list = []
    yield started
    stop_all(started)


@pytest.fixture
@process_fixture
def stack(procs, tmp_path):
    """Factory: the fake Engage + gunicorn (+ `workers` dispatcher processes) for one test (tests/stack.py).

    `stack(db_url, *fake_flags, workers=0, **env)`; the config is `tmp_path/leadrelay.yml` (write it first).
    """
    from tests.stack import start_stack

    return functools.partial(start_stack, procs, tmp_path)

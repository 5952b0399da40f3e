"""A fresh database per scenario: a SQLite file in a temp dir, or a new schema in the test PostgreSQL."""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from lead.lifecycle import DISPATCHABLE, LeadStatus, sql_list

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
LEADS_SQL = "SELECT extern_id, received_at, status, delivered_at, priority FROM leads"
DELIVERED_SQL = f"SELECT COUNT(*) FROM leads WHERE status = '{LeadStatus.DELIVERED}'"
DEPTH_SQL = f"SELECT COUNT(*) FROM leads WHERE status IN ({sql_list(DISPATCHABLE | {LeadStatus.SENDING})})"


class Unavailable(Exception):
    """The database cannot be used for this run (the scenario is skipped, with this message)."""


def pg_base_url() -> str:
    """TEST_DATABASE_URL, or the local default; postgres:// is accepted like the service does."""
    url = os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG_URL
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return url


def _with_search_path(url: str, schema: str) -> str:
    """`url` with `options=-csearch_path=<schema>` added to its query string."""
    option = "options=" + quote(f"-csearch_path={schema}", safe="")
    return url + ("&" if "?" in url else "?") + option


def pg_check(url: str | None = None) -> str | None:
    """None when PostgreSQL answers, else why not (a short message for the skip line)."""
    try:
        import psycopg

        with psycopg.connect(url or pg_base_url(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:  # any failure means "skip", with the reason shown
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


class SqliteDb:
    """A SQLite file under `directory`."""

    kind = "sqlite"

    def __init__(self, directory: Path) -> None:
        """Place the file; the service creates it on start."""
        self.path = directory / "leadrelay.db"
        self.url = f"sqlite:///{self.path}"

    def leads(self) -> list[tuple[str, float, str, float | None, str]]:
        """(extern_id, received_at, status, delivered_at, priority) of every lead."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(LEADS_SQL).fetchall()
        finally:
            conn.close()

    def _count(self, sql: str) -> int:
        """One COUNT(*) on a read-only connection (never the write lock)."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()

    def delivered(self) -> int:
        """How many leads are settled as delivered."""
        return self._count(DELIVERED_SQL)

    def depth(self) -> int:
        """How many leads wait to be sent (queued, retrying or being sent)."""
        return self._count(DEPTH_SQL)


class PostgresDb:
    """A schema of its own in the test database, reached through the search_path URL option."""

    kind = "postgresql"

    def __init__(self, base_url: str, schema: str) -> None:
        """Remember both URLs; the schema is created by `postgres_db`."""
        self.base_url, self.schema = base_url, schema
        self.url = _with_search_path(base_url, schema)

    def leads(self) -> list[tuple[str, float, str, float | None, str]]:
        """(extern_id, received_at, status, delivered_at, priority) of every lead."""
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as conn:
            return conn.execute(LEADS_SQL).fetchall()


@contextmanager
def sqlite_db(directory: Path) -> Iterator[SqliteDb]:
    """A fresh SQLite database in `directory` (the directory's owner removes it)."""
    yield SqliteDb(directory)


@contextmanager
def postgres_db() -> Iterator[PostgresDb]:
    """Create a uniquely named schema, yield it, and drop it (with everything in it) afterwards."""
    import psycopg

    base = pg_base_url()
    problem = pg_check(base)
    if problem:
        raise Unavailable(f"PostgreSQL at {_redact(base)} is not reachable ({problem})")
    schema = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield PostgresDb(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
            # Bounded: a straggling connection must not hang the whole run on the drop.
            conn.execute("SET lock_timeout = '10s'")
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _redact(url: str) -> str:
    """The URL without a password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url


@contextmanager
def fresh(kind: str, directory: Path) -> Iterator[SqliteDb | PostgresDb]:
    """A fresh database of `kind` ("sqlite" or "postgresql"); raises Unavailable when it cannot be had."""
    if kind == "sqlite":
        with sqlite_db(directory) as lite:
            yield lite
    elif kind == "postgresql":
        with postgres_db() as pg:
            yield pg
    else:
        raise ValueError(f"unknown database kind {kind!r}")

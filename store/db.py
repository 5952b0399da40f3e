"""The engine: one SQLAlchemy engine per process, tuned per dialect; the database clock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# How long a write may wait for the database (SQLite's lock, a pool slot, a PostgreSQL connect)
# before it fails: a webhook that cannot be stored gets 503 quickly instead of hanging.
WRITE_WAIT_SECONDS = 5.0
# SQLite: half of it queueing behind this process's other writers, half for another process's lock,
# so the two waits never add up past WRITE_WAIT_SECONDS.
_SQLITE_WAIT = WRITE_WAIT_SECONDS / 2


class DatabaseUnavailable(Exception):
    """The database could not take a write in time (locked by another writer, unreachable)."""


def unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be reached or written right now (retry later)."""
    from sqlalchemy import exc as sa_exc

    return isinstance(
        exc, (DatabaseUnavailable, sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
    ) or (isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated)


# Any 64-bit number of ours: serialises concurrent `db upgrade` runs on PostgreSQL.
_PG_MIGRATION_LOCK = 0x1EAD2E1A7


# PostgreSQL connections one process may open: its pool (DATABASE_POOL_SIZE, default POOL_SIZE) and
# as many again in overflow under a burst; a process running the dispatcher also LISTENs on one
# connection of its own; a one-off command (release phase, `heroku run`) uses one or two.
POOL_SIZE = 5
LISTEN_CONNECTIONS = 1
ONE_OFF_CONNECTIONS = 2


def process_connections(pool_size: int) -> int:
    """The most connections one process's engine opens: the pool and its overflow."""
    return 2 * pool_size


def connection_budget(
    dynos: dict[str, int], web_concurrency: int, dispatch_mode: str, pool_size: int = POOL_SIZE
) -> tuple[list[tuple[str, int, int]], int]:
    """The worst case of PostgreSQL connections a formation opens: ([(what, processes, connections)], total).

    `dynos`: web and worker dyno counts. Each web dyno runs `web_concurrency` processes; in inline
    mode each of them is a dispatcher candidate (LISTEN), in worker mode each worker dyno is. One
    one-off process (the release phase, `heroku run`) is counted too: it runs beside the dynos.
    """
    inline = dispatch_mode == "inline"
    each = process_connections(pool_size)
    web = dynos.get("web", 0) * web_concurrency
    workers = dynos.get("worker", 0) if not inline else 0
    rows = [
        ("web", web, web * (each + (LISTEN_CONNECTIONS if inline else 0))),
        ("worker", workers, workers * (each + LISTEN_CONNECTIONS)),
        ("one-off (release, heroku run)", 1, ONE_OFF_CONNECTIONS),
    ]
    rows = [row for row in rows if row[1]]
    return rows, sum(row[2] for row in rows)


def make_engine(url: str, sqlite_synchronous: str = "NORMAL", pool_size: int = POOL_SIZE) -> Engine:
    """Create the engine: SQLite in WAL with IMMEDIATE transactions, Postgres with a small pool."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": _SQLITE_WAIT},
            pool_size=pool_size + 5,
            max_overflow=10,
            pool_timeout=WRITE_WAIT_SECONDS,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            """WAL + synchronous=NORMAL: an acknowledged write survives a process crash."""
            # Let SQLAlchemy's begin hook issue BEGIN itself (pysqlite's own is deferred).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.execute(f"PRAGMA busy_timeout={int(_SQLITE_WAIT * 1000)}")
            cur.execute("PRAGMA foreign_keys=ON")
            # Checkpoints run in a background thread (below), not inside whichever webhook's
            # commit happens to cross the threshold: that commit would wait for the copy + fsync.
            cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            """Writers BEGIN IMMEDIATE (the lock up front: no upgrade deadlock); readers a plain deferred BEGIN.

            In WAL mode a deferred BEGIN neither waits for writers nor blocks them.
            """
            immediate = conn.get_execution_options().get("leadrelay_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        # One writer at a time inside this process: threads queue on a lock instead of
        # sleep-polling SQLite's busy handler (which turns a busy lock into long, uneven waits).
        _WRITERS[engine] = (threading.RLock(), engine.execution_options(leadrelay_write=True))
        if engine.url.database and engine.url.database != ":memory:":
            _start_checkpointer(engine)
        return engine
    # Small pools: dynos × threads must fit small Postgres plans. No pre-ping: it would add a
    # round trip to every webhook; a dropped connection fails one request (the sender retries)
    # and is discarded by the pool.
    # connect_timeout and pool_timeout: with the database gone, a request fails within seconds (503)
    # instead of hanging; a dropped connection is detected by SQLAlchemy, which then discards the
    # whole pool, so intake recovers by itself when the database returns.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=300,
        pool_timeout=WRITE_WAIT_SECONDS,
        connect_args={"connect_timeout": int(WRITE_WAIT_SECONDS)},
        hide_parameters=True,
    )


def _start_checkpointer(engine: Engine, interval: float = 1.0) -> None:
    """Checkpoint the WAL every `interval` seconds (PASSIVE: never blocks readers or writers)."""
    ref = weakref.ref(engine)

    def run() -> None:
        """Loop until the engine is gone."""
        while True:
            time.sleep(interval)
            target = ref()
            if target is None:
                return
            # A busy or vanished file: try again next time.
            with contextlib.suppress(Exception), target.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            del target

    threading.Thread(target=run, name="leadrelay-sqlite-checkpoint", daemon=True).start()


_WRITERS: weakref.WeakKeyDictionary[Engine, tuple[threading.RLock, Engine]] = weakref.WeakKeyDictionary()


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: BEGIN IMMEDIATE behind the process's writer lock on SQLite; plain on Postgres."""
    writer = _WRITERS.get(engine)
    if writer is None:
        with engine.begin() as conn:
            yield conn
        return
    lock, immediate = writer
    # Bounded wait behind this process's other writers, so a locked database fails fast everywhere.
    if not lock.acquire(timeout=_SQLITE_WAIT):
        raise DatabaseUnavailable("the database is busy (another writer holds it)")
    try:
        with immediate.begin() as conn:
            yield conn
    finally:
        lock.release()


def now_sql(engine_or_dialect: Engine | Connection) -> str:
    """SQL for the database clock as epoch seconds (lease times never come from host clocks)."""
    name = getattr(engine_or_dialect, "name", None) or engine_or_dialect.dialect.name
    if name == "postgresql":
        return "EXTRACT(EPOCH FROM clock_timestamp())::float8"
    return "((julianday('now') - 2440587.5) * 86400.0)"


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Hold a cross-process lock while migrating: advisory lock on Postgres, a file lock for SQLite."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
    else:
        db_path = engine.url.database or ""
        lock_path = (db_path + ".migrate.lock") if db_path and db_path != ":memory:" else None
        if lock_path is None:
            yield
            return
        Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
        with Path(lock_path).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> None:
    """Bring the schema up to date (idempotent; safe when several processes start at once)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    from alembic.script import ScriptDirectory

    # Already at head (the usual restart): a read is enough, so a process restarting while another
    # writer holds SQLite's lock starts at once instead of queueing for the write lock.
    if [current_revision(engine)] == ScriptDirectory.from_config(cfg).get_heads():
        return
    with _migration_lock(engine), write(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None before the first upgrade)."""
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:
            return None


def sqlite_path(url: str) -> str | None:
    """The file behind a sqlite:/// URL."""
    return url.split("sqlite:///", 1)[1] if url.startswith("sqlite:///") else None


__all__ = [
    "WRITE_WAIT_SECONDS",
    "DatabaseUnavailable",
    "current_revision",
    "make_engine",
    "now_sql",
    "os",
    "sqlite_path",
    "unavailable",
    "upgrade",
]

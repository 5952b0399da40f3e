"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from metrics import REGISTRY, authorized, operator_status
from store import db as store_db
from store import lease as lease_store

if TYPE_CHECKING:
    from runtime import Runtime

bp = Blueprint("health", __name__)

# A worker-mode dispatcher counts as active while its heartbeat is this many leases old at most.
FRESH_LEASES = 2.0


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return jsonify({"status": "ok"})


def can_persist(engine: Engine) -> bool:
    """True when this process can write the database now; raises otherwise.

    SQLite: the write lock is free within 0.5 s. PostgreSQL: it answers and is not read-only.
    """
    path = store_db.sqlite_path(str(engine.url))
    if path is not None:
        lite = sqlite3.connect(path, timeout=0.5, isolation_level=None)
        try:
            lite.execute("BEGIN IMMEDIATE")
            lite.execute("ROLLBACK")
        finally:
            lite.close()
        return True
    with engine.connect() as conn:
        # Reachable is not enough: a read-only server (a replica, a failover in progress) cannot store.
        if conn.execute(text("SHOW transaction_read_only")).scalar() == "on":
            raise store_db.DatabaseUnavailable("the database is read-only")
    return True


def dispatcher_report(runtime: Runtime, info: lease_store.LeaseInfo | None) -> dict[str, Any]:
    """Whether a dispatcher is active: inline, this process's thread is alive; worker mode, a fresh heartbeat."""
    thread = runtime.dispatcher_thread
    report: dict[str, Any] = {"mode": runtime.settings.dispatch_mode}
    if info is not None:
        age = None if info.heartbeat_at is None else round(info.now - info.heartbeat_at, 3)
        fresh = age is not None and age <= runtime.settings.file.dispatch["lease_seconds"] * FRESH_LEASES
        report.update(holder=info.holder, epoch=info.epoch, heartbeat_age=age, lease_active=info.active)
    else:
        fresh = None  # the database cannot tell
    report["active"] = bool(fresh) if fresh is not None else None
    if runtime.settings.dispatch_mode == "inline":
        # Inline: this process's dispatcher thread must be alive too (a dead thread dispatches nothing).
        report["thread_alive"] = bool(thread and thread.is_alive())
        report["active"] = report["thread_alive"] if fresh is None else report["thread_alive"] and fresh
    return report


@bp.get("/readyz")
def readyz() -> Response:
    """200 only while this process can accept and persist a webhook.

    The body also tells whether a dispatcher is active and Engage's state (reported, never fatal).
    """
    runtime = current_app.extensions["leadrelay"]
    info = None
    try:
        if not runtime.schema_ready.is_set():
            raise store_db.DatabaseUnavailable("schema not yet applied")
        can_persist(runtime.engine)
        info = lease_store.read(runtime.engine)
    except Exception:
        # Only the fact: driver messages name hosts, ports and users.
        response = jsonify(
            {
                "status": "unavailable",
                "database": "database unavailable",
                "dispatcher": dispatcher_report(runtime, None),
                "checked_at": time.time(),
            }
        )
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response
    engage = "sandbox" if runtime.settings.sandbox else (info.engage_state or "unknown")
    return jsonify(
        {
            "status": "ready",
            "database": runtime.engine.dialect.name,
            "sandbox": runtime.settings.sandbox,
            "engage": engage,
            "dispatcher": dispatcher_report(runtime, info),
            "dispatch_mode": runtime.settings.dispatch_mode,
            "operator": operator_status(runtime.engine),
        }
    )


@bp.get("/metrics")
def metrics() -> Response | tuple[Response, int]:
    """Prometheus exposition: this process's counters and the database-backed gauges."""
    if not authorized(request, current_app.extensions["leadrelay"].settings.metrics_token):
        return jsonify({"error": "invalid_metrics_token"}), 401
    # content_type, not mimetype: Flask would append a second `; charset=utf-8` to the one it has.
    return Response(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)

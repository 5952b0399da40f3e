"""Liveness, readiness and metrics endpoints."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from metrics import REGISTRY, authorized, operator_status
from store import lease as lease_store

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Ready when config is valid and the database answers; Engage's state is reported, never fatal."""
    runtime = current_app.extensions["leadrelay"]
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        info = lease_store.read(runtime.engine)
    except Exception as exc:
        response = jsonify({"status": "unavailable", "database": "unreachable", "error": str(exc)[:200]})
        response.status_code = 503
        return response
    engage = "sandbox" if runtime.settings.sandbox else (info.engage_state or "unknown")
    return jsonify({
        "status": "ready",
        "database": runtime.engine.dialect.name,
        "sandbox": runtime.settings.sandbox,
        "engage": engage,
        "dispatcher": {"active": info.active, "holder": info.holder, "epoch": info.epoch,
                       "heartbeat_age": None if info.heartbeat_at is None else round(info.now - info.heartbeat_at, 3)},
        "dispatch_mode": runtime.settings.dispatch_mode,
        "operator": operator_status(runtime.engine),
    })


@bp.get("/metrics")
def metrics():
    """Prometheus exposition: this process's counters and the database-backed gauges."""
    if not authorized(request, current_app.extensions["leadrelay"].settings.metrics_token):
        return jsonify({"error": "invalid_metrics_token"}), 401
    return Response(generate_latest(REGISTRY), mimetype=CONTENT_TYPE_LATEST)

"""The admin JSON API (Bearer ADMIN_TOKEN): leads, events, replay."""
from __future__ import annotations

import hmac

from flask import Blueprint, abort, current_app, jsonify, request

from redact import mask_event_body

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")


@bp.before_request
def require_token():
    """Admin is disabled without ADMIN_TOKEN and needs the bearer token when enabled."""
    token = current_app.extensions["leadrelay"].settings.admin_token
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "")
    if not given.startswith("Bearer ") or not hmac.compare_digest(given[7:].encode(), token.encode()):
        response = jsonify({"error": "invalid_admin_token"})
        response.status_code = 401
        return response
    return None


@bp.get("/leads")
def list_leads():
    """Recent leads, filtered by status and source; `before` pages backwards by id."""
    queue = current_app.extensions["leadrelay"].queue
    limit = min(int(request.args.get("limit", 50)), 500)
    before = request.args.get("before", type=int)
    rows = queue.list(status=request.args.get("status"), source=request.args.get("source"), limit=limit, before_id=before)
    return jsonify({"leads": rows, "counts": queue.counts()})


@bp.get("/leads/<int:lead_id>")
def get_lead(lead_id: int):
    """One lead: mapped lead, route, Engage answer, attempts."""
    lead = current_app.extensions["leadrelay"].queue.get(lead_id)
    if lead is None:
        abort(404)
    return jsonify(lead)


@bp.get("/events/<int:event_id>")
def get_event(event_id: int):
    """One stored event with its raw body."""
    event = current_app.extensions["leadrelay"].queue.event(event_id)
    if event is None:
        abort(404)
    event["body"] = mask_event_body(current_app.extensions["leadrelay"].settings, event["source"], event["body"])
    return jsonify(event)


@bp.post("/leads/<int:lead_id>/replay")
def replay_lead(lead_id: int):
    """Re-queue a dead, rejected or held lead; re-map an invalid one with the current config."""
    from replay import replay

    runtime = current_app.extensions["leadrelay"]
    lead = runtime.queue.get(lead_id)
    if lead is None:
        abort(404)
    if lead["status"] not in ("dead", "rejected", "held", "invalid"):
        response = jsonify({"error": "not_replayable", "status": lead["status"],
                            "detail": "only dead, rejected, held or invalid leads can be replayed"})
        response.status_code = 409
        return response
    result = replay(runtime, ids=[lead_id], status=lead["status"])
    if result["still_invalid"]:
        response = jsonify({"error": "still_invalid", "detail": result["still_invalid"][0]["reason"]})
        response.status_code = 422
        return response
    return jsonify({"replayed": [lead_id], "status": runtime.queue.get(lead_id)["status"]})

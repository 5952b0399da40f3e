"""The admin JSON API (Bearer ADMIN_TOKEN): leads, events, replay, the do-not-call list.

Built on flask-smorest, OpenAPI at /admin/api/openapi.json, every argument validated (400 with the reason).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from flask.views import MethodView
from flask_smorest import Api, Blueprint

from admin import auth
from admin.schemas import (
    MAX_ID,
    DncAdd,
    DncChanged,
    DncPage,
    DncQuery,
    DncRemove,
    ErrorAnswer,
    Event,
    Lead,
    LeadPage,
    LeadsQuery,
    Replayed,
)
from redact import mask_event_body
from store import attempts, audit, dialing, operator
from store import compliance as compliance_evidence

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api", description="Leads, events and replay")


class AdminApi(Api):
    """flask-smorest's Api, keeping the app's own error shape (`{"error": ...}`) for every error."""

    DEFAULT_ERROR_RESPONSE_NAME = None  # errors are documented per operation, in the project's shape

    def _register_error_handlers(self) -> None:
        """The app's handler (app.register_errors) answers errors; the blueprint refines 400s."""


def error(http_status: int, code: str, **extra: Any) -> Response:
    """A JSON error answer in the project's shape."""
    response = jsonify({"error": code, **extra})
    response.status_code = http_status
    return response


@bp.before_request
def require_token() -> Response | None:
    """Admin is disabled without ADMIN_TOKEN; the API needs the bearer token (or a console session)."""
    if not auth.admin_token():
        return error(404, "not_found", detail="admin is disabled (ADMIN_TOKEN is not set)")
    if auth.actor() is None:
        return error(401, "invalid_admin_token")
    if request.method != "GET" and not auth.bearer_ok():
        # A cookie is ambient (the browser sends it by itself): the API changes state only for the
        # bearer token; people replay through the console's forms, which carry a CSRF token.
        return error(401, "invalid_admin_token", detail="changes through the API need the bearer token")
    return None


@bp.errorhandler(400)
@bp.errorhandler(422)
def invalid_argument(exc: Exception) -> Response:
    """Webargs validation failures: 400 with the field and the reason."""
    messages = (getattr(exc, "data", None) or {}).get("messages") or {}
    fields = (
        {name: errs for location in messages.values() for name, errs in location.items()}
        if all(isinstance(v, dict) for v in messages.values())
        else messages
    )
    first = next(iter(fields.items()), None)
    detail = f"{first[0]}: {first[1][0] if isinstance(first[1], list) else first[1]}" if first else "invalid request"
    return error(400, "invalid_argument", detail=detail, errors=fields)


def checked_id(value: int) -> Response | None:
    """An id path argument out of the BIGINT range is a 400, never a database error."""
    if value < 1 or value > MAX_ID:
        return error(400, "invalid_argument", detail="id: must be an id between 1 and 2^63-1")
    return None


@bp.route("/leads")
class Leads(MethodView):
    """Recent leads."""

    @bp.arguments(LeadsQuery, location="query", error_status_code=400)
    @bp.response(200, LeadPage)
    @bp.alt_response(400, schema=ErrorAnswer)
    @bp.alt_response(401, schema=ErrorAnswer)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Recent leads, newest first, filtered by status, source and `q`; `before` pages backwards by id."""
        runtime = current_app.extensions["leadrelay"]
        rows = operator.search_leads(
            runtime.engine,
            status=args.get("status"),
            source=args.get("source"),
            q=args.get("q"),
            limit=args["limit"],
            before_id=args.get("before"),
        )
        return {"leads": rows, "counts": runtime.queue.counts()}


@bp.route("/leads/<int:lead_id>")
class OneLead(MethodView):
    """One lead."""

    @bp.response(200, Lead)
    @bp.alt_response(400, schema=ErrorAnswer)
    @bp.alt_response(401, schema=ErrorAnswer)
    @bp.alt_response(404, schema=ErrorAnswer)
    def get(self, lead_id: int) -> Response | dict[str, Any]:
        """One lead: mapped lead, route, Engage answer, attempts and operator actions."""
        bad = checked_id(lead_id)
        if bad:
            return bad
        runtime = current_app.extensions["leadrelay"]
        lead = runtime.queue.get(lead_id)
        if lead is None:
            return error(404, "not_found", detail=f"no lead {lead_id}")
        lead["timeline"] = audit.timeline(runtime.engine, lead_id)
        with runtime.engine.connect() as conn:
            lead["compliance"] = compliance_evidence.for_lead(conn, lead_id)
        lead["dialer_events"] = attempts.for_lead(runtime.engine, lead_id)
        with runtime.engine.connect() as conn:
            lead.update(dialing.milestones(conn, lead_id) or {})
        return lead


@bp.route("/events/<int:event_id>")
class OneEvent(MethodView):
    """One stored event."""

    @bp.response(200, Event)
    @bp.alt_response(400, schema=ErrorAnswer)
    @bp.alt_response(401, schema=ErrorAnswer)
    @bp.alt_response(404, schema=ErrorAnswer)
    def get(self, event_id: int) -> Response | dict[str, Any]:
        """One stored event with its raw body."""
        bad = checked_id(event_id)
        if bad:
            return bad
        runtime = current_app.extensions["leadrelay"]
        event = runtime.queue.event(event_id)
        if event is None:
            return error(404, "not_found", detail=f"no event {event_id}")
        # Stored byte-exact for replay; shown with every configured secret masked.
        event["body"] = mask_event_body(runtime.settings, event["source"], event["body"])
        return event


@bp.route("/leads/<int:lead_id>/replay")
class Replay(MethodView):
    """Replay one lead."""

    @bp.response(200, Replayed)
    @bp.alt_response(400, schema=ErrorAnswer)
    @bp.alt_response(401, schema=ErrorAnswer)
    @bp.alt_response(404, schema=ErrorAnswer)
    @bp.alt_response(409, schema=ErrorAnswer)
    @bp.alt_response(422, schema=ErrorAnswer)
    def post(self, lead_id: int) -> Response | dict[str, Any]:
        """Re-queue a dead, rejected or held lead; re-map an invalid one with the current config."""
        bad = checked_id(lead_id)
        if bad:
            return bad
        from admin.actions import ReplayRefused, replay_one

        try:
            status = replay_one(current_app.extensions["leadrelay"], lead_id, auth.signed_in())
        except ReplayRefused as exc:
            return error(exc.http_status, exc.code, **exc.extra)
        return {"replayed": [lead_id], "status": status}


@bp.route("/dnc")
class DoNotCall(MethodView):
    """The do-not-call list."""

    @bp.arguments(DncQuery, location="query", error_status_code=400)
    @bp.response(200, DncPage)
    @bp.alt_response(400, schema=ErrorAnswer)
    @bp.alt_response(401, schema=ErrorAnswer)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Numbers on the list, newest first; `q` finds digits anywhere in a number."""
        from store import dnc

        total, rows = dnc.search(
            current_app.extensions["leadrelay"].engine, args["q"], limit=args["limit"], offset=args["offset"]
        )
        return {"total": total, "numbers": rows}

    @bp.arguments(DncAdd, location="json", error_status_code=400)
    @bp.response(200, DncChanged)
    @bp.alt_response(400, schema=ErrorAnswer)
    @bp.alt_response(401, schema=ErrorAnswer)
    def post(self, args: dict[str, Any]) -> Response | dict[str, Any]:
        """Put a number on the list (any format; stored E.164); `changed: false` when it was there already."""
        from store.optouts import add_numbers

        runtime = current_app.extensions["leadrelay"]
        number = _dnc_number(args["phone"], runtime)
        if isinstance(number, Response):
            return number
        reason = args.get("reason") or "added through the admin API"
        added = add_numbers(runtime.engine, [number], reason=reason, source="api", actor=auth.signed_in(), bulk=False)
        return {"phone": number, "changed": bool(added)}


@bp.route("/dnc/remove")
class DoNotCallRemove(MethodView):
    """Removal from the do-not-call list: the number travels in the body, never in a logged path."""

    @bp.arguments(DncRemove, location="json", error_status_code=400)
    @bp.response(200, DncChanged)
    @bp.alt_response(400, schema=ErrorAnswer)
    @bp.alt_response(401, schema=ErrorAnswer)
    @bp.alt_response(404, schema=ErrorAnswer)
    def post(self, args: dict[str, Any]) -> Response | dict[str, Any]:
        """Take a number off leadrelay's list with a reason (logged); 404 when it is not on it."""
        import time

        from store import dnc

        runtime = current_app.extensions["leadrelay"]
        number = _dnc_number(args["phone"], runtime)
        if isinstance(number, Response):
            return number
        if not args["reason"].strip():
            return error(400, "invalid_argument", detail="reason: must say why")
        removed = dnc.remove_one(
            runtime.engine, number, reason=args["reason"], actor=auth.signed_in(), source="api", now=time.time()
        )
        if not removed:
            return error(404, "not_found", detail="that number is not on the do-not-call list")
        return {"phone": number, "changed": True}


def _dnc_number(value: str, runtime: Any) -> str | Response:
    """A number from a request body in E.164, or the 400 naming what is wrong."""
    from store import dnc

    try:
        return dnc.normalize(value, runtime.settings.file.defaults["default_region"])
    except dnc.BadNumber:
        return error(400, "invalid_argument", detail="phone: not a phone number")


def register(app: Flask) -> AdminApi:
    """Mount the API and its OpenAPI document at /admin/api/openapi.json."""
    app.config.setdefault("API_TITLE", "leadrelay admin API")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/admin/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "security": [{"bearer": []}],
            "components": {
                "securitySchemes": {
                    "bearer": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "ADMIN_TOKEN (or a console session cookie)",
                    }
                }
            },
        },
    )
    api = AdminApi(app)
    api.register_blueprint(bp)

    @app.before_request
    def openapi_needs_auth() -> Response | None:
        """The API's map is not public: /admin/api/openapi.json needs ADMIN_TOKEN (or a console session)."""
        if request.blueprint != "api-docs":
            return None
        if not auth.admin_token():
            return error(404, "not_found", detail="admin is disabled (ADMIN_TOKEN is not set)")
        return None if auth.actor() is not None else error(401, "invalid_admin_token")

    return api

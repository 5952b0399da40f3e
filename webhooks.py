"""The webhook endpoint: turn a Flask request into an Inbound and hand it to intake."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, request

from config import Source
from handlers import base as handler_base
from handlers.base import Inbound

bp = Blueprint("webhooks", __name__)


def signed_url(public_url: str | None) -> str:
    """The URL as the sender called it: raw path and query, scheme+host from PUBLIC_URL if set."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        raw = quote(environ.get("PATH_INFO", ""), safe="/:@!$&'()*+,;=-._~%")
        if environ.get("QUERY_STRING"):
            raw += "?" + environ["QUERY_STRING"]
    if raw.startswith("http://") or raw.startswith("https://"):
        raw = "/" + raw.split("/", 3)[3] if raw.count("/") >= 3 else "/"
    base = public_url or f"{request.scheme}://{request.host}"
    return base.rstrip("/") + raw


def read_body(limit: int) -> bytes | None:
    """The whole body, or None when it is longer than `limit` (chunked or not): never read past limit + 1.

    Reading the WSGI stream ourselves, not request.get_data(): with a chunked body and no
    Content-Length, a size cap that truncates instead of refusing once queued a cut-off form.
    """
    stream = request.environ.get("wsgi.input")
    if stream is None:
        return b""
    length = request.content_length
    budget = min(length, limit + 1) if length is not None else limit + 1
    parts, size = [], 0
    while size < budget:
        chunk = stream.read(min(65536, budget - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(parts)


def inbound(source: Source, body: bytes = b"") -> Inbound:
    """Build the pure request object the handlers verify and parse."""
    runtime = current_app.extensions["leadrelay"]
    public = source.settings.public_url or runtime.settings.public_url
    return Inbound(
        method=request.method,
        url=signed_url(public),
        path=request.path,
        query={k: request.args.getlist(k) for k in request.args},
        headers=request.headers,
        body=body,
        content_type=request.content_type or "",
        remote_addr=request.remote_addr or "",
    )


def _error(status: int, code: str, **detail: Any) -> Response:
    """The one error shape every webhook error uses."""
    response = jsonify({"error": code, **detail})
    response.status_code = status
    return response


@bp.route("/webhooks/<source_name>", methods=["GET", "POST", "PUT"])
@bp.route("/webhooks/<source_name>/<path:suffix>", methods=["GET", "POST", "PUT"])
def receive(source_name: str, suffix: str = "") -> Response:
    """Receive one webhook for a configured source."""
    received_at = time.time()
    runtime = current_app.extensions["leadrelay"]
    source = runtime.settings.file.sources.get(source_name)
    if source is None:
        if source_name in runtime.settings.file.disabled:
            return _error(
                404,
                "unknown_source",
                detail=f"source {source_name!r} is disabled (`enabled: false`)",
                hint=f"remove `enabled: false` from sources.{source_name} in the config and restart",
            )
        return _error(
            404,
            "unknown_source",
            detail=f"no source named {source_name!r} is configured",
            hint="the URL is /webhooks/<source name as in the config's sources:>",
        )
    if request.content_length is not None and request.content_length > source.max_body:
        return _error(413, "body_too_large", limit=source.max_body)
    stype = handler_base.get(source.type)
    if request.method in ("GET", "HEAD"):
        # HEAD is a GET without a body in the answer (werkzeug strips it); a body it carries is
        # never processed like a POST.
        shaken = stype.handshake(source.settings, inbound(source)) if stype is not None else None
        if shaken is None:
            return _error(405, "method_not_allowed", detail="this source takes POST")
        status, text = shaken
        return Response(text, status=status, mimetype="text/plain")
    body = read_body(source.max_body)
    if body is None:
        return _error(413, "body_too_large", limit=source.max_body)
    answer = runtime.intake.handle(source, inbound(source, body), received_at)
    if isinstance(answer.body, (dict, list)):
        response = jsonify(answer.body)
        response.status_code = answer.status
    else:
        response = Response(answer.body, status=answer.status, content_type=answer.content_type)
    for key, value in answer.headers.items():
        response.headers[key] = value
    return response

"""A fake Meta Graph API for Lead Ads: `GET /{version}/{leadgen_id}` with a Page token, switchable errors.

Serve it on a real loopback socket:

    graph = FakeGraph(tokens={"page-token"})
    graph.add_lead(json.loads(fixture))           # keyed by its "id"
    with graph.serve() as server:                 # engage.fake_server.FakeServer
        ... options {"api_base_url": server.url} ...

Errors are shaped like Graph's own: `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from engage.fake_server import FakeServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

# Canned failures by name: (HTTP status, Graph code, subcode, type, message).
ERRORS = {
    "token_expired": (400, 190, 463, "OAuthException", "Error validating access token: Session has expired."),
    "token_invalid": (400, 190, None, "OAuthException", "Invalid OAuth access token - Cannot parse access token"),
    "permission": (403, 200, None, "OAuthException", "(#200) Requires leads_retrieval permission"),
    "rate_app": (400, 4, None, "OAuthException", "(#4) Application request limit reached"),
    "rate_user": (400, 17, None, "OAuthException", "(#17) User request limit reached"),
    "rate_page": (400, 32, None, "OAuthException", "(#32) Page request limit reached"),
    "rate_calls": (400, 613, None, "OAuthException", "(#613) Calls to this api have exceeded the rate limit."),
    "unavailable": (
        503,
        2,
        None,
        "OAuthException",
        "An unexpected error has occurred. Please retry your request later.",
    ),
    "server_error": (500, 1, None, "OAuthException", "An unknown error has occurred."),
}


@dataclass
class Seen:
    """One request as the fake received it."""

    path: str
    args: dict[str, str]
    authorization: str | None


class FakeGraph:
    """Leads by id, accepted Page tokens, and a queue of errors to answer with."""

    def __init__(self, tokens: set[str] | None = None, version_prefix: str = "v") -> None:
        """`tokens`: the Page tokens that may read leads (any non-empty token when None)."""
        self.tokens = set(tokens) if tokens is not None else None
        self.version_prefix = version_prefix
        self.leads: dict[str, dict[str, Any]] = {}
        self.requests: list[Seen] = []
        self._errors: list[str] = []
        self._always: str | None = None
        self._lock = threading.Lock()

    def add_lead(self, lead: dict[str, Any]) -> None:
        """Serve this Graph lead object under its `id`."""
        self.leads[str(lead["id"])] = lead

    def fail_next(self, *names: str) -> None:
        """Answer the next requests with these canned errors (see ERRORS), in order."""
        with self._lock:
            self._errors.extend(names)

    def fail_always(self, name: str | None) -> None:
        """Answer every request with this error until called with None."""
        self._always = name

    def serve(self) -> FakeServer:
        """A FakeServer for this app on 127.0.0.1 (start it, or use it as a context manager)."""
        return FakeServer(self)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """WSGI entry point."""
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        """Route one request: token check, canned errors, then the lead."""
        auth = request.headers.get("Authorization")
        with self._lock:
            self.requests.append(Seen(request.path, dict(request.args), auth))
            queued = self._errors.pop(0) if self._errors else None
        if request.method != "GET":
            return _error(400, 100, None, "GraphMethodException", "Unsupported request - method type: post")
        token = _token(request)
        if not token:
            return _error(
                400, 2500, None, "OAuthException", "An active access token must be used to query information."
            )
        if self.tokens is not None and token not in self.tokens:
            return _canned("token_invalid")
        failure = queued or self._always
        if failure:
            return _canned(failure)
        parts = request.path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith(self.version_prefix):
            return _error(400, 2500, None, "OAuthException", "Unknown path components")
        lead = self.leads.get(parts[1])
        if lead is None:
            return _error(
                400,
                100,
                33,
                "GraphMethodException",
                f"Unsupported get request. Object with ID '{parts[1]}' does not exist",
            )
        wanted = request.args.get("fields")
        if wanted:
            names = set(wanted.split(","))
            lead = {k: v for k, v in lead.items() if k in names or k == "id"}
        return Response(json.dumps(lead), status=200, content_type="application/json; charset=UTF-8")


def _token(request: Request) -> str | None:
    """The access token from `Authorization: Bearer|OAuth <token>` or `?access_token=`."""
    header = request.headers.get("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return request.args.get("access_token") or None


def _canned(name: str) -> Response:
    """One of the ERRORS by name."""
    status, code, subcode, kind, message = ERRORS[name]
    return _error(status, code, subcode, kind, message)


def _error(status: int, code: int, subcode: int | None, kind: str, message: str) -> Response:
    """A Graph-shaped error answer."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AfakeTraceId0"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return Response(json.dumps({"error": error}), status=status, content_type="application/json; charset=UTF-8")

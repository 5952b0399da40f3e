"""A fake HubSpot CRM API for fetch tests: GET /crm/v3/objects/contacts/{id} behind a bearer token.

with FakeHubSpot(token="pat-test") as api:
    api.add_contact("51234567", firstname="Ada", phone="(303) 555-0142")
    api.fail_with(429, retry_after="2")   # every request answers 429 until fail_with(None)
    api.url                               # http://127.0.0.1:<port>, the source's api_base_url
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from engage.fake_server import FakeServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class FakeHubSpot:
    """Contacts by id, a bearer check, switchable 429/500/404 answers; requests are recorded."""

    def __init__(self, token: str = "pat-test-token") -> None:  # noqa: S107 - the fake's own test token
        """Start empty; `token` is the private-app token the fake accepts."""
        self.token = token
        self.contacts: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self._failure: tuple[int, str | None] | None = None
        self._lock = threading.Lock()
        self._urls = Map([Rule("/crm/v3/objects/contacts/<contact_id>", endpoint="contact", methods=["GET"])])
        self._server = FakeServer(self.wsgi)

    # ------------------------------------------------------------------ control

    def add_contact(self, contact_id: str, **properties: Any) -> None:
        """Store a contact; its properties as HubSpot holds them (strings, or None when unset)."""
        self.contacts[str(contact_id)] = properties

    def fail_with(self, status: int | None, retry_after: str | None = None) -> None:
        """Answer every request with `status` (429, 500, 404, …) until called with None."""
        self._failure = None if status is None else (status, retry_after)

    @property
    def url(self) -> str:
        """Base URL of the running fake (the source's `api_base_url`)."""
        return self._server.url

    def start(self) -> FakeHubSpot:
        """Serve on 127.0.0.1:<free port> in a thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def __enter__(self) -> FakeHubSpot:
        """Start on entry."""
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        """Stop on exit."""
        self.stop()

    # ------------------------------------------------------------------ HTTP

    def wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI entry point."""
        request = Request(environ)
        return self.answer(request)(environ, start_response)

    def answer(self, request: Request) -> Response:
        """Route one request and build HubSpot-shaped JSON answers."""
        with self._lock:
            self.requests.append(
                {
                    "path": request.path,
                    "args": request.args.to_dict(),
                    "authorization": request.headers.get("Authorization"),
                }
            )
        adapter = self._urls.bind_to_environ(request.environ)
        try:
            _, args = adapter.match()
        except Exception:
            return _json(404, {"status": "error", "message": "not found", "category": "OBJECT_NOT_FOUND"})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json(
                401,
                {
                    "status": "error",
                    "message": "Authentication credentials not found.",
                    "category": "INVALID_AUTHENTICATION",
                },
            )
        if self._failure is not None:
            status, retry_after = self._failure
            headers = {"Retry-After": retry_after} if retry_after else {}
            return _json(status, {"status": "error", "message": f"forced {status}"}, headers)
        contact = self.contacts.get(args["contact_id"])
        if contact is None:
            return _json(404, {"status": "error", "message": "Object not found.", "category": "OBJECT_NOT_FOUND"})
        wanted = [p for p in request.args.get("properties", "").split(",") if p]
        # Like HubSpot: requested properties appear (null when unset); unrequested ones do not.
        properties = {name: contact.get(name) for name in wanted} if wanted else dict(contact)
        properties.setdefault("hs_object_id", args["contact_id"])
        return _json(
            200,
            {
                "id": args["contact_id"],
                "properties": properties,
                "createdAt": "2026-01-15T17:04:02.123Z",
                "updatedAt": "2026-01-15T17:04:04.123Z",
                "archived": False,
            },
        )


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")

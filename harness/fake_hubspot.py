"""A fake HubSpot CRM API behind a bearer token: contacts (fetch) and calls (write-back).

GET /crm/v3/objects/contacts/{id}, PATCH /crm/v3/objects/contacts/{id} (properties),
POST /crm/v3/objects/calls (a call associated with contacts), POST /crm/v3/objects/calls/search
(filter EQ on one property). Shapes follow HubSpot's API reference (tests/data/writeback/hubspot).

with FakeHubSpot(token="pat-test") as api:
    api.add_contact("51234567", firstname="Ada", phone="(303) 555-0142")
    api.fail_with(429, retry_after="2")   # every request answers 429 until fail_with(None)
    api.hang_after_create(2.0)            # the next call is created, then its answer waits 2 s
    api.url                               # http://127.0.0.1:<port>, the source's api_base_url
    api.calls                             # created calls by id
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from harness.served import ServedFake

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class FakeHubSpot(ServedFake):
    """Contacts by id, a bearer check, switchable 429/500/404 answers; requests are recorded."""

    def __init__(self, token: str = "pat-test-token") -> None:  # noqa: S107 - the fake's own test token
        """Start empty; `token` is the private-app token the fake accepts."""
        self.token = token
        self.contacts: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self._failure: tuple[int, str | None] | None = None
        self._lock = threading.Lock()
        self.calls: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(90000000001)
        self._hang: float = 0.0
        self._urls = Map(
            [
                Rule("/crm/v3/objects/contacts/<contact_id>", endpoint="contact", methods=["GET"]),
                Rule("/crm/v3/objects/contacts/<contact_id>", endpoint="update_contact", methods=["PATCH"]),
                Rule("/crm/v3/objects/calls", endpoint="create_call", methods=["POST"]),
                Rule("/crm/v3/objects/calls/search", endpoint="search_calls", methods=["POST"]),
            ]
        )
        super().__init__()

    # ------------------------------------------------------------------ control

    def add_contact(self, contact_id: str, **properties: Any) -> None:
        """Store a contact; its properties as HubSpot holds them (strings, or None when unset)."""
        self.contacts[str(contact_id)] = properties

    def fail_with(self, status: int | None, retry_after: str | None = None) -> None:
        """Answer every request with `status` (429, 500, 404, …) until called with None."""
        self._failure = None if status is None else (status, retry_after)

    def hang_after_create(self, seconds: float) -> None:
        """The next call is stored, then its answer is held `seconds` (the client times out: an unknown fate)."""
        self._hang = seconds

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
                    "method": request.method,
                    "path": request.path,
                    "args": request.args.to_dict(),
                    "authorization": request.headers.get("Authorization"),
                    "content_type": request.headers.get("Content-Type"),
                    "json": request.get_json(silent=True),
                }
            )
        adapter = self._urls.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
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
        if endpoint == "create_call":
            return self._create_call(request)
        if endpoint == "search_calls":
            return self._search_calls(request)
        if endpoint == "update_contact":
            return self._update_contact(request, args["contact_id"])
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

    def _create_call(self, request: Request) -> Response:
        """Store a call (201 with its id); an association to an unknown contact is a 400 like HubSpot's."""
        body = request.get_json(silent=True) or {}
        properties = body.get("properties")
        if not isinstance(properties, dict) or "hs_timestamp" not in properties:
            return _json(400, {"status": "error", "category": "VALIDATION_ERROR", "message": "hs_timestamp required"})
        for association in body.get("associations") or []:
            if str(association["to"]["id"]) not in self.contacts:
                return _json(400, {"status": "error", "category": "VALIDATION_ERROR", "message": "no such contact"})
        with self._lock:
            call_id = str(next(self._ids))
            self.calls[call_id] = {"properties": dict(properties), "associations": body.get("associations") or []}
            hang, self._hang = self._hang, 0.0
        if hang:
            time.sleep(hang)  # stored, but the answer comes too late for the client
        return _json(
            201,
            {
                "id": call_id,
                "properties": {**properties, "hs_object_id": call_id},
                "createdAt": "2026-12-07T23:00:00.000Z",
                "updatedAt": "2026-12-07T23:00:00.000Z",
                "archived": False,
            },
        )

    def _search_calls(self, request: Request) -> Response:
        """Calls whose properties equal every filter of the first filter group (HubSpot's EQ)."""
        body = request.get_json(silent=True) or {}
        filters = (body.get("filterGroups") or [{}])[0].get("filters") or []
        with self._lock:
            found = [
                {"id": call_id, "properties": call["properties"]}
                for call_id, call in self.calls.items()
                if all(
                    call["properties"].get(f["propertyName"]) == f["value"] for f in filters if f["operator"] == "EQ"
                )
            ]
        return _json(200, {"total": len(found), "results": found[: int(body.get("limit") or 10)]})

    def _update_contact(self, request: Request, contact_id: str) -> Response:
        """Set contact properties (200 with the contact)."""
        if contact_id not in self.contacts:
            return _json(404, {"status": "error", "message": "Object not found.", "category": "OBJECT_NOT_FOUND"})
        properties = (request.get_json(silent=True) or {}).get("properties") or {}
        with self._lock:
            self.contacts[contact_id].update(properties)
            current = dict(self.contacts[contact_id])
        return _json(200, {"id": contact_id, "properties": current, "archived": False})


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")

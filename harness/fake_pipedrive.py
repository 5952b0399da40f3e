"""A fake Pipedrive API (v2) for fetch tests: GET /api/v2/persons/{id} behind an x-api-token header.

with FakePipedrive(token="pd-test") as api:
    api.add_person(4830, name="Ada Example", phones=[{"value": "3035550142", "primary": True}])
    api.fail_with(429, retry_after="2")   # until fail_with(None)
    api.url                               # the source's api_base_url
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from harness.served import ServedFake

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class FakePipedrive(ServedFake):
    """Persons by id, the API-token check, switchable failures; requests are recorded."""

    def __init__(self, token: str = "pd-test-token") -> None:  # noqa: S107 - the fake's own test token
        """Start empty; `token` is the API token the fake accepts."""
        self.token = token
        self.persons: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self._failure: tuple[int, str | None] | None = None
        self._lock = threading.Lock()
        self._urls = Map([Rule("/api/v2/persons/<person_id>", endpoint="person", methods=["GET"])])
        super().__init__()

    def add_person(self, person_id: int | str, **fields: Any) -> None:
        """Store a person as API v2 returns it (phones/emails arrays, custom_fields)."""
        self.persons[str(person_id)] = {"id": int(person_id), "emails": [], "phones": [], "custom_fields": {}, **fields}

    def fail_with(self, status: int | None, retry_after: str | None = None) -> None:
        """Answer every request with `status` until called with None."""
        self._failure = None if status is None else (status, retry_after)

    def wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI entry point."""
        return self.answer(Request(environ))(environ, start_response)

    def answer(self, request: Request) -> Response:
        """Route one request; Pipedrive-shaped JSON (`success`, `data` / `error`)."""
        with self._lock:
            self.requests.append({"path": request.path, "token": request.headers.get("x-api-token")})
        try:
            _, args = self._urls.bind_to_environ(request.environ).match()
        except Exception:
            return _json(404, {"success": False, "error": "Not found"})
        if request.headers.get("x-api-token") != self.token:
            return _json(401, {"success": False, "error": "unauthorized access", "errorCode": 401})
        if self._failure is not None:
            status, retry_after = self._failure
            return _json(
                status,
                {"success": False, "error": f"forced {status}"},
                {"Retry-After": retry_after} if retry_after else {},
            )
        person = self.persons.get(args["person_id"])
        if person is None:
            return _json(404, {"success": False, "error": "Person not found", "errorCode": 404})
        return _json(200, {"success": True, "data": person, "additional_data": {}})


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")

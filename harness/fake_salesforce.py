"""A fake Salesforce org for write-back tests: OAuth client credentials, Task create, SOQL lookup by CallObject.

POST /services/oauth2/token (grant_type=client_credentials) → access_token + instance_url;
POST /services/data/<version>/sobjects/Task → 201 {"id", "success", "errors"};
GET /services/data/<version>/query?q=SELECT Id FROM Task WHERE CallObject = '…' LIMIT 1.
Shapes follow Salesforce's REST API Developer Guide (tests/data/writeback/salesforce).

with FakeSalesforce(client_id="cid", client_secret="secret") as org:
    org.add_who("00Q5e00000AbCdEFGH")      # a Lead id a Task may name in WhoId
    org.fail_with(503)                      # every API request answers 503 until fail_with(None)
    org.hang_after_create(2.0)              # the next Task is stored, its answer held 2 s
    org.expire_tokens()                     # the next API call answers 401 INVALID_SESSION_ID
    org.url                                 # both the login URL and the instance URL of the org
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from harness.served import ServedFake

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_QUERY = re.compile(r"^SELECT Id FROM Task WHERE CallObject = '([^']*)' LIMIT 1$")
_TASK_PATH = re.compile(r"^/services/data/v\d+\.\d+/sobjects/Task$")
_QUERY_PATH = re.compile(r"^/services/data/v\d+\.\d+/query$")


class FakeSalesforce(ServedFake):
    """One org: its connected app's credentials, the Leads/Contacts a Task may name, the Tasks created."""

    def __init__(self, client_id: str = "fake-client-id", client_secret: str = "fake-client-secret") -> None:  # noqa: S107 - the fake's own test secret
        """Start with no records; the credentials are the ones the token endpoint accepts."""
        self.client_id, self.client_secret = client_id, client_secret
        self.who: set[str] = set()
        self.tasks: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.tokens: set[str] = set()
        self._ids = itertools.count(1)
        self._failure: tuple[int, str | None, Any] | None = None
        self._hang = 0.0
        self._lock = threading.Lock()
        super().__init__()

    # ------------------------------------------------------------------ control

    def add_who(self, record_id: str) -> None:
        """A Lead or Contact that exists in the org."""
        self.who.add(record_id)

    def fail_with(self, status: int | None, retry_after: str | None = None, body: Any = None) -> None:
        """Answer every data API request with `status` until called with None (the token endpoint keeps working)."""
        self._failure = None if status is None else (status, retry_after, body)

    def hang_after_create(self, seconds: float) -> None:
        """The next Task is stored, then its answer is held `seconds` (an unknown fate for the client)."""
        self._hang = seconds

    def expire_tokens(self) -> None:
        """Every issued token stops working (a session timeout)."""
        with self._lock:
            self.tokens.clear()

    # ------------------------------------------------------------------ HTTP

    def wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI entry point."""
        return self.answer(Request(environ))(environ, start_response)

    def answer(self, request: Request) -> Response:
        """Route one request and answer as Salesforce does."""
        with self._lock:
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "args": request.args.to_dict(),
                    "form": request.form.to_dict() if request.mimetype.endswith("urlencoded") else None,
                    "authorization": request.headers.get("Authorization"),
                    "content_type": request.headers.get("Content-Type"),
                    "json": request.get_json(silent=True),
                }
            )
        if request.path == "/services/oauth2/token" and request.method == "POST":
            return self._token(request)
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        if token not in self.tokens:
            return _json(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        if self._failure is not None:
            status, retry_after, body = self._failure
            headers = {"Retry-After": retry_after} if retry_after else {}
            return _json(status, body or [{"message": f"forced {status}", "errorCode": "SERVER_UNAVAILABLE"}], headers)
        if _TASK_PATH.match(request.path) and request.method == "POST":
            return self._create_task(request)
        if _QUERY_PATH.match(request.path) and request.method == "GET":
            return self._query(request)
        return _json(404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])

    def _token(self, request: Request) -> Response:
        """The client credentials flow: the app's id and secret → a bearer token and the instance URL."""
        form = request.form
        if form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _json(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        token = "00D" + secrets.token_hex(16)
        with self._lock:
            self.tokens.add(token)
        return _json(
            200,
            {
                "access_token": token,
                "signature": secrets.token_urlsafe(16),
                "scope": "api",
                "instance_url": self.url,
                "id": f"{self.url}/id/00D000000000001EAA/005000000000001AAA",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
            },
        )

    def _create_task(self, request: Request) -> Response:
        """Create a Task; WhoId must name an existing Lead or Contact (else 400 like Salesforce)."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _json(400, [{"message": "JSON body expected", "errorCode": "JSON_PARSER_ERROR"}])
        if body.get("WhoId") not in self.who:
            return _json(
                400,
                [
                    {
                        "message": "Name ID: id value of incorrect type",
                        "errorCode": "FIELD_INTEGRITY_EXCEPTION",
                        "fields": ["WhoId"],
                    }
                ],
            )
        with self._lock:
            task_id = f"00T5e{next(self._ids):013d}"
            self.tasks[task_id] = dict(body)
            hang, self._hang = self._hang, 0.0
        if hang:
            time.sleep(hang)
        return _json(201, {"id": task_id, "success": True, "errors": []})

    def _query(self, request: Request) -> Response:
        """The one SOQL query write-back uses: a Task by CallObject."""
        match = _QUERY.match(request.args.get("q", ""))
        if match is None:
            return _json(400, [{"message": "unsupported query in the fake", "errorCode": "MALFORMED_QUERY"}])
        with self._lock:
            found = [tid for tid, task in self.tasks.items() if task.get("CallObject") == match.group(1)]
        records = [
            {"attributes": {"type": "Task", "url": f"/services/data/v60.0/sobjects/Task/{tid}"}, "Id": tid}
            for tid in found[:1]
        ]
        # Salesforce's own answer keys, written as JSON text (its "done" is not a lead status).
        body = '{"totalSize": ' + str(len(records)) + ', "done": true, "records": ' + json.dumps(records) + "}"
        return Response(body, status=200, content_type="application/json")


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")

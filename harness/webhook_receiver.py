"""A loopback receiver for the generic write-back: records every POST (headers and raw body), answers as told.

with WebhookReceiver() as receiver:
    receiver.answer_with(503)          # every POST answers 503 until answer_with(200)
    receiver.url                       # http://127.0.0.1:<port>/hook
    receiver.received                  # [{"headers": {...}, "body": b"..."}]
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from harness.served import ServedFake

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class WebhookReceiver(ServedFake):
    """Records requests; answers a configurable status (with an optional Retry-After)."""

    def __init__(self) -> None:
        """Answer 204 until told otherwise."""
        self.received: list[dict[str, Any]] = []
        self._status: int = 204
        self._retry_after: str | None = None
        self._lock = threading.Lock()
        super().__init__()

    def answer_with(self, status: int, retry_after: str | None = None) -> None:
        """Answer every following POST with `status`."""
        self._status, self._retry_after = status, retry_after

    @property
    def url(self) -> str:
        """The hook's URL."""
        return f"{self._server.url}/hook"

    def wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Record the request, then answer."""
        request = Request(environ)
        with self._lock:
            self.received.append({"headers": dict(request.headers), "body": request.get_data(), "status": self._status})
        headers: dict[str, str] = {"Retry-After": self._retry_after} if self._retry_after else {}
        return Response(b"", status=self._status, headers=headers)(environ, start_response)

"""Minimal WSGI request/response helpers for the fake Engage (cheaper than full Request objects)."""

from __future__ import annotations

import json
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

PHRASES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}


class Req:
    """The little of a WSGI request the fake needs (cheaper than a full Request object)."""

    __slots__ = ("body", "environ", "method", "path", "query")

    def __init__(self, environ: WSGIEnvironment) -> None:
        """Read method, path, query and the whole body."""
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        self.path = environ.get("PATH_INFO") or "/"
        self.query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        length = environ.get("CONTENT_LENGTH")
        stream = environ["wsgi.input"]
        if length:
            self.body = stream.read(int(length))
        elif environ.get("wsgi.input_terminated"):
            self.body = stream.read()
        else:
            self.body = b""

    def header(self, name: str) -> str | None:
        """A request header by name."""
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))

    def params(self) -> dict[str, str]:
        """Query parameters overlaid with a urlencoded form body (Engage accepts either)."""
        out = dict(self.query)
        if self.body and "json" not in (self.environ.get("CONTENT_TYPE") or ""):
            out.update(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return out

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not."""
        return json.loads(self.body)


Resp = tuple[int, bytes, list[tuple[str, str]]]


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Resp:
    """A JSON response."""
    return (
        status,
        json.dumps(obj, separators=(",", ":")).encode(),
        [("Content-Type", "application/json")] + (headers or []),
    )


def text_response(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Resp:
    """A plain-text response."""
    return status, text.encode(), [("Content-Type", "text/plain;charset=UTF-8")] + (headers or [])


def error_response(status: int, message: str, path: str) -> Resp:
    """An error in Engage's generic `Error` shape (`{"errorCode", "message", ...}`)."""
    return json_response(
        status,
        {"generalMessage": message, "details": message, "requestUri": path, "timestamp": int(time.time() * 1000)},
    )

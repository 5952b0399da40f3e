"""The HTTP front: an event loop reads whole requests, then the WSGI app runs on a thread pool.

Why: gunicorn's gthread worker gives each connection a thread as soon as its first byte arrives,
so a few clients that trickle headers one byte a second held every thread and no webhook was
answered. Here reading costs no thread: gunicorn's asyncio HTTP/1 parser (its `asgi` worker)
buffers each request, with a deadline for the headers and one for the body and a cap on the body,
and only a complete request is handed to the Flask app, on one of `threads` threads. Blocking work
(sqlite3, parsing a batch, a WAL checkpoint) therefore never runs on the loop.

Served by `gunicorn app:app` with gunicorn.conf.py (`worker_class = "front.FrontWorker"`).
Settings (environment, read at worker start):
  REQUEST_HEADER_TIMEOUT  seconds from connect to the end of the request headers (default 10)
  REQUEST_BODY_TIMEOUT    seconds to receive the whole body once the headers are in (default 30)
The body cap is the largest `max_body` of the configuration (Flask's MAX_CONTENT_LENGTH): a body
over it is 413 without being read further, chunked or not; each source's own `max_body` is then
checked by the webhook endpoint.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_to_bytes

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.workers.base import Worker
from gunicorn.workers.gasgi import ASGIWorker

HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
SWITCH_INTERVAL = float(os.environ.get("LEADRELAY_SWITCH_INTERVAL", "0.001"))


def _seconds(name: str, default: float) -> float:
    """A positive number of seconds from the environment, or the default."""
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise SystemExit(
            f"leadrelay: {name}={raw!r} is not a number of seconds; unset it or write e.g. {default:g}"
        ) from None
    return value if value > 0 else default


class DeadlineProtocol(ASGIProtocol):
    """gunicorn's HTTP/1 protocol plus a deadline on the first request's headers.

    gunicorn times out idle kept-alive connections but not a new connection that never finishes
    its headers: without this, an idle or trickling socket would stay open for ever.
    """

    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the header clock as the connection opens."""
        super().connection_made(transport)
        self._header_timer = self.worker.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _on_headers_complete(self) -> bool | None:
        """Headers are in: stop the header clock (the body has its own deadline)."""
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None
        return super()._on_headers_complete()

    def _headers_too_slow(self) -> None:
        """408 and close: the client did not send its request headers in time."""
        self._header_timer = None
        if self._current_request is None and not self._closed:
            self._send_error_response(408, "request headers not received in time")
            self._close_transport()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the header clock with the connection."""
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)


class BufferedWSGI:
    """An ASGI app that buffers the whole request, then runs a WSGI app on a thread pool."""

    def __init__(
        self, app: Callable[..., Any], threads: int, max_body: int, body_timeout: float, multiprocess: bool
    ) -> None:
        """`max_body`: the largest body any route accepts; `body_timeout`: for the whole body."""
        self.app, self.max_body, self.body_timeout = app, max_body, body_timeout
        self.multiprocess = multiprocess
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="leadrelay-request")
        self.in_flight = 0  # requests handed to the app and not yet answered

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Serve one HTTP request (lifespan is not used: the dispatcher starts in gunicorn's hooks)."""
        if scope["type"] != "http":
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _plain(send, 413 if declared.isdigit() else 400, b"request body too large")
            return
        try:
            # asyncio.timeout, not wait_for: no extra task per request on the hot path.
            async with asyncio.timeout(self.body_timeout):
                body = await self._read_body(receive)
        except TimeoutError:
            await _plain(send, 408, b"request body not received in time")
            return
        if body is None:
            await _plain(send, 413, b"request body too large")
            return
        if not isinstance(body, bytes):  # _GONE: the client left while sending
            return
        environ = self._environ(scope, body)
        loop = asyncio.get_running_loop()
        self.in_flight += 1
        try:
            status, headers, chunks = await loop.run_in_executor(self.pool, self._call, environ)
        finally:
            self.in_flight -= 1
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": chunks})

    async def _read_body(self, receive: Callable) -> bytes | object | None:
        """The whole body; None past max_body (reading stops there); _GONE when the client left."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _GONE
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    def _environ(self, scope: dict, body: bytes) -> dict[str, Any]:
        """The WSGI environ of a buffered request (the body now has a Content-Length)."""
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        query = scope.get("query_string", b"").decode("latin-1")
        server = scope.get("server") or ("localhost", 80)
        client = scope.get("client") or ("", 0)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": scope.get("root_path", ""),
            "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": raw_path.decode("latin-1") + ("?" + query if query else ""),
            "SERVER_NAME": str(server[0]),
            "SERVER_PORT": str(server[1] if server[1] is not None else 80),
            "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
            "REMOTE_ADDR": str(client[0]),
            "REMOTE_PORT": str(client[1]),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.get("scheme", "http"),
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": self.multiprocess,
            "wsgi.run_once": False,
        }
        for name, value in scope["headers"]:
            key = name.decode("latin-1").upper().replace("-", "_")
            text = value.decode("latin-1")
            if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                continue  # the body is whole now: its length is what we hold
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = text
                continue
            key = "HTTP_" + key
            environ[key] = environ[key] + "," + text if key in environ else text
        return environ

    def _call(self, environ: dict) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Run the WSGI app on a pool thread; return status, headers and the whole body."""
        answer: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: object = None
        ) -> Callable[[bytes], None]:
            """Record the status line and headers (the body is collected below)."""
            answer[:] = [status, headers]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = self.app(environ, start_response)
        try:
            for data in result:
                if data:
                    chunks.append(data)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = answer
        encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        return int(status.split(" ", 1)[0]), encoded, b"".join(chunks)


_GONE = object()


def _header(scope: dict, name: bytes) -> str | None:
    """One request header from the ASGI scope, or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1").strip()
    return None


async def _plain(send: Callable, status: int, text: bytes) -> None:
    """A short text answer that closes the connection (the unread body must not be parsed as a request)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": text})


class FrontWorker(ASGIWorker):
    """gunicorn worker: asyncio reads requests, a thread pool of `threads` runs the Flask app."""

    @classmethod
    def check_config(cls, cfg: Config, log: Logger) -> None:
        """`threads` sizes the app's thread pool here (the ASGI worker would warn it is unused)."""

    def load_wsgi(self) -> None:
        """Load the Flask app as gunicorn's hooks expect (`worker.wsgi`) and wrap it for the loop."""
        # Every request's bytes pass through the loop thread: when it wants the GIL back from a
        # busy app thread it waits up to the switch interval (5 ms by default) each time.
        sys.setswitchinterval(SWITCH_INTERVAL)
        Worker.load_wsgi(self)
        max_body = int(getattr(self.wsgi, "config", {}).get("MAX_CONTENT_LENGTH") or 1024 * 1024)
        DeadlineProtocol.header_timeout = _seconds("REQUEST_HEADER_TIMEOUT", HEADER_TIMEOUT)
        self.asgi = BufferedWSGI(
            self.wsgi,
            threads=max(1, self.cfg.threads),
            max_body=max_body,
            body_timeout=_seconds("REQUEST_BODY_TIMEOUT", BODY_TIMEOUT),
            multiprocess=self.cfg.workers > 1,
        )

    async def _serve(self) -> None:
        """ASGIWorker._serve with the deadline protocol and without ASGI lifespan."""
        ssl_context = self._get_ssl_context()
        for sock in self.sockets:
            server = await self.loop.create_server(
                lambda: DeadlineProtocol(self), sock=sock.sock, ssl=ssl_context, reuse_address=True, start_serving=True
            )
            self.servers.append(server)
        try:
            while self.alive:
                self.notify()
                if self.ppid != os.getppid():
                    self.log.info("Parent changed, shutting down: %s", self)
                    break
                await asyncio.sleep(1.0)
        except asyncio.CancelledError:
            pass
        await self._shutdown()
        self.asgi.pool.shutdown(wait=True)

    async def _shutdown(self) -> None:
        """Stop accepting, let requests the app is serving finish, and leave.

        gunicorn's own shutdown also waits for every open connection, so a few idle or slow
        clients would hold a SIGTERM for the whole graceful_timeout (Heroku kills at 30 s, and the
        dispatcher still has to settle and release its lease after this).
        """
        for server in self.servers:
            server.close()
        deadline = self.loop.time() + self.cfg.graceful_timeout
        while self.asgi.in_flight and self.loop.time() < deadline and not self._quick_shutdown:
            await asyncio.sleep(0.05)

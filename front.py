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
  RESPONSE_WRITE_TIMEOUT  seconds an answer may sit unsent because the client does not read (default 30)
  REQUEST_BODY_BUDGET_MB  body bytes a worker holds at once, all connections together (default 64)
The body cap is the largest `max_body` of the configuration (Flask's MAX_CONTENT_LENGTH): a body
over it is 413 without being read further, chunked or not; each source's own `max_body` is then
checked by the webhook endpoint.

Strict where gunicorn is lenient (issue 18): a transfer coding other than chunked is 501 (its body
would be stored undecoded), HTTP/1.1 without Host is 400, a chunk size past the body cap is 413 as
soon as its size line is read, and error answers never quote the request. A request followed by a
half-close (shutdown(SHUT_WR)) is still answered. The access log (AccessLogger) masks configured
secrets in the path, escapes control characters, and says `aborted` for a client that left before
its request was whole.

Memory stays bounded per worker: a connection stops being read while its answer cannot be written
or more than PIPELINE_BUFFER bytes of pipelined input wait behind it; a body over SMALL_BODY that
would take the worker past its body budget is answered 503 with Retry-After, unread.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar
from urllib.parse import unquote_to_bytes

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.workers.base import Worker
from gunicorn.workers.gasgi import ASGIWorker

from redact import MASK, audit_path

HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
WRITE_TIMEOUT = 30.0
BODY_BUDGET_MB = 64
# Input read ahead of the request being answered (gunicorn's default is 256 KB, and its loop resumed
# reading after every answer whatever was buffered: a client that pipelines and never reads grew
# the worker by hundreds of MB).
PIPELINE_BUFFER = 64 * 1024
# Bodies up to this size are always admitted (still counted): an ordinary webhook is never refused
# because hostile 1 MiB bodies filled the budget. Worst case: budget + connections x SMALL_BODY.
SMALL_BODY = 64 * 1024
RETRY_AFTER = b"10"
SWITCH_INTERVAL = float(os.environ.get("LEADRELAY_SWITCH_INTERVAL", "0.001"))
# What an error answer says: fixed text per status, never the parser's message (which can quote the
# request: a bare-CR line's 400 once echoed the bytes sent).
ERROR_TEXT = {
    400: "bad request: not a valid HTTP/1.1 request",
    408: "request headers not received in time",
    413: "request body too large",
    414: "request line too long",
    431: "request header fields too large",
    501: "transfer coding not implemented: only chunked is accepted",
}
# Transfer codings this front decodes; any other (gzip, deflate, compress, unknown) is 501.
UNDERSTOOD_CODINGS = frozenset({"chunked"})


def _seconds(name: str, default: float, unit: str = "seconds") -> float:
    """A positive number (of seconds, or `unit`) from the environment, or the default."""
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise SystemExit(
            f"leadrelay: {name}={raw!r} is not a number of {unit}; unset it or write e.g. {default:g}"
        ) from None
    return value if value > 0 else default


class DeadlineProtocol(ASGIProtocol):
    """Gunicorn's HTTP/1 protocol plus a deadline on the first request's headers and on writes.

    gunicorn times out idle kept-alive connections but not a new connection that never finishes
    its headers: without this, an idle or trickling socket would stay open for ever. Nor does it
    stop reading a client that does not read its answers, or ever give up on such a client.
    """

    header_timeout = HEADER_TIMEOUT
    write_timeout = WRITE_TIMEOUT

    max_body = 1024 * 1024  # the largest body any route accepts (FrontWorker sets it from the app)

    def __init__(self, worker: Any) -> None:
        """The parent protocol with a smaller read-ahead and no write clock yet."""
        super().__init__(worker)
        self._max_buffer_size = PIPELINE_BUFFER
        self._write_timer: asyncio.TimerHandle | None = None
        self._write_mark = 0  # unsent bytes when the write clock last looked

    def _send_error_response(self, status: int, message: str, extra_headers: Any = ()) -> None:
        """Gunicorn's error answer with a fixed text: the parser's message may quote the request."""
        super()._send_error_response(status, ERROR_TEXT.get(status, "error"), extra_headers)

    def _feed_callback_parser(self, data: bytes) -> bool:
        """Parse as gunicorn does, then refuse a chunk larger than any body at once (413, not a 408 later)."""
        if not super()._feed_callback_parser(data):
            return False
        parser = self._callback_parser
        if getattr(parser, "_chunk_state", None) == "data" and getattr(parser, "_chunk_size", 0) > self.max_body:
            self._send_error_response(413, "")
            self._close_transport()
            return False
        return True

    def eof_received(self) -> bool:
        """The client half-closed (shutdown(SHUT_WR)): keep writing if a whole request waits for its answer.

        asyncio closes the transport on EOF unless this returns True; the answer was then lost (and the
        app cancelled, so once not even stored). No further request can come: close after this answer.
        """
        receiver = self._body_receiver
        whole = self._current_request is not None and (receiver is None or receiver._complete)
        if not whole:
            return False  # nothing complete to answer: the connection ends (a partial body is aborted)
        self._keepalive = 0
        return True

    def _build_environ(self, request: Any, sockname: Any, peername: Any) -> dict[str, Any]:
        """Gunicorn's access-log environ, plus whether the client had left (an aborted request, not a 500)."""
        environ: dict[str, Any] = super()._build_environ(request, sockname, peername)
        receiver = self._body_receiver
        environ["leadrelay.aborted"] = bool(self._closed and receiver is not None and not receiver._complete)
        return environ

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

    def pause_writing(self) -> None:
        """The answer is not being read: stop reading too, and start the write clock."""
        super().pause_writing()
        self._write_paused = True
        self._pause_reading()
        if self._write_timer is None:
            self._write_mark = self.transport.get_write_buffer_size()
            self._write_timer = self.worker.loop.call_later(self.write_timeout, self._write_too_slow)

    def resume_writing(self) -> None:
        """The client reads again: stop the write clock and read again if little is buffered."""
        self._cancel_write_timer()
        super().resume_writing()
        self._write_paused = False
        self._maybe_resume_reading()

    def _resume_reading(self) -> None:
        """Resume only while answers can be written and little pipelined input waits.

        gunicorn's connection loop resumes after every answer; a client that pipelines without
        reading would otherwise have up to 256 KB more read per answer the kernel accepted.
        """
        if self._write_paused:
            return
        if self._callback_parser is not None and self._http1_buffered() > self._max_buffer_size // 2:
            return
        super()._resume_reading()

    def _write_too_slow(self) -> None:
        """Abort if the client took none of its answer for the write deadline (nothing can be sent).

        A client still reading, however slowly (a big admin export), gets another period.
        """
        self._write_timer = None
        if self.transport is None or getattr(self, "_closed", True):
            return
        unsent = self.transport.get_write_buffer_size()
        if unsent < self._write_mark:
            self._write_mark = unsent
            self._write_timer = self.worker.loop.call_later(self.write_timeout, self._write_too_slow)
            return
        self.log.warning("leadrelay: answer not read for %gs, closing the connection", self.write_timeout)
        self._closed = True
        self.transport.abort()

    def _cancel_write_timer(self) -> None:
        """Stop the write clock, if it runs."""
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the clocks with the connection and release an answer waiting to be written."""
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
        self._cancel_write_timer()
        super().connection_lost(exc)
        if self._flow_control is not None:
            self._flow_control.resume_writing()  # send() sees the connection closed and returns


class BufferedWSGI:
    """An ASGI app that buffers the whole request, then runs a WSGI app on a thread pool."""

    def __init__(
        self,
        app: Callable[..., Any],
        threads: int,
        max_body: int,
        body_timeout: float,
        multiprocess: bool,
        body_budget: int = BODY_BUDGET_MB * 1024 * 1024,
    ) -> None:
        """Wrap `app`: `max_body` is the largest body any route accepts, `body_timeout` is for the whole body.

        `body_budget`: body bytes held at once by all requests of this worker.
        """
        self.app, self.max_body, self.body_timeout = app, max_body, body_timeout
        self.multiprocess = multiprocess
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="leadrelay-request")
        self.body_budget = body_budget
        self.held = 0  # body bytes reserved by requests not yet answered
        self.refused = 0  # bodies answered 503 because the budget was spent
        self.in_flight = 0  # requests from the end of their headers until their answer is written

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Serve one HTTP request (lifespan is not used: the dispatcher starts in gunicorn's hooks)."""
        if scope["type"] != "http":
            return
        # Counted from the end of the headers until the answer is written: a graceful stop waits
        # for a body still arriving and for an answer not yet sent, not only for the app call.
        self.in_flight += 1
        charge = [0]
        try:
            await self._serve(scope, receive, send, charge)
        finally:
            self.in_flight -= 1
            self.held -= charge[0]

    async def _serve(self, scope: dict, receive: Callable, send: Callable, charge: list[int]) -> None:
        """Read the body within its deadline and budget, run the app on the pool, send its answer."""
        coding = _header(scope, b"transfer-encoding")
        if coding is not None and any(c.strip().lower() not in UNDERSTOOD_CODINGS for c in coding.split(",")):
            # gzip/deflate/compress pass gunicorn's parser; the body would reach the app still encoded.
            await _plain(send, 501, ERROR_TEXT[501].encode())
            return
        if scope.get("http_version") == "1.1" and _header(scope, b"host") is None:
            await _plain(send, 400, b"bad request: HTTP/1.1 needs a Host header")  # RFC 9112 section 3.2
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _plain(send, 413 if declared.isdigit() else 400, b"request body too large")
            return
        if declared is not None and not self._reserve(charge, int(declared)):
            await _busy(send)
            return
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        try:
            body = await self._read_body(receive, charge, deadline)
        except TimeoutError:
            await _plain(send, 408, b"request body not received in time")
            return
        if body is None:
            await _plain(send, 413, b"request body too large")
            return
        if body is _FULL:
            await _busy(send)
            return
        if not isinstance(body, bytes):  # _GONE: the client left while sending
            return
        environ = self._environ(scope, body)
        loop = asyncio.get_running_loop()
        status, headers, chunks = await loop.run_in_executor(self.pool, self._call, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": chunks})

    def _reserve(self, charge: list[int], size: int) -> bool:
        """Count a request's body as `size` bytes; False if a body over SMALL_BODY would pass the budget."""
        extra = size - charge[0]
        if extra <= 0:
            return True
        if size > SMALL_BODY and self.held + extra > self.body_budget:
            self.refused += 1
            if self.refused % 1000 == 1:  # the first, then one line per thousand: an attack must not flood the log
                logging.getLogger("gunicorn.error").warning(
                    "leadrelay: request body budget (REQUEST_BODY_BUDGET_MB=%g) spent, %d bodies answered 503 so far",
                    self.body_budget / 1024 / 1024,
                    self.refused,
                )
            return False
        self.held += extra
        charge[0] = size
        return True

    async def _read_body(self, receive: Callable, charge: list[int], deadline: float) -> bytes | object | None:
        """The whole body by `deadline` (TimeoutError past it); None past max_body, _FULL past the budget.

        _GONE when the client left.

        The deadline is checked after every chunk, not only by a timeout around the whole read:
        gunicorn's receive() waits with Python 3.11's asyncio.wait_for, which returns the data and
        swallows the cancellation when a chunk and the deadline fall in one loop turn (a late loop on
        a loaded machine). A single timeout fires once, so a client trickling one byte a second then
        kept its request open for hours and held every graceful stop (tests/hostile/test_body_deadline.py).
        asyncio.timeout_at, not wait_for: no extra task per chunk on the hot path.
        """
        loop = asyncio.get_running_loop()
        parts: list[bytes] = []
        size = 0
        while True:
            if loop.time() >= deadline:
                raise TimeoutError
            async with asyncio.timeout_at(deadline):
                message = await receive()
            if message["type"] == "http.disconnect":
                return _GONE
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            if not self._reserve(charge, size):  # chunked, or longer than declared
                return _FULL
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
_FULL = object()


def _header(scope: dict, name: bytes) -> str | None:
    """One request header from the ASGI scope, or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1").strip()
    return None


async def _plain(send: Callable, status: int, text: bytes, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """A short text answer that closes the connection (the unread body must not be parsed as a request)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"connection", b"close"), *extra],
        }
    )
    await send({"type": "http.response.body", "body": text})


async def _busy(send: Callable) -> None:
    """503 with Retry-After: the worker holds its body budget; a webhook sender retries later."""
    await _plain(send, 503, b"busy: too many request bodies in progress, retry later", ((b"retry-after", RETRY_AFTER),))


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
        DeadlineProtocol.max_body = max_body
        if isinstance(self.log, AccessLogger):
            AccessLogger.secrets = _configured_secrets(self.wsgi)  # one worker process, one configuration
        DeadlineProtocol.header_timeout = _seconds("REQUEST_HEADER_TIMEOUT", HEADER_TIMEOUT)
        DeadlineProtocol.write_timeout = _seconds("RESPONSE_WRITE_TIMEOUT", WRITE_TIMEOUT)
        self.asgi = BufferedWSGI(
            self.wsgi,
            threads=max(1, self.cfg.threads),
            max_body=max_body,
            body_timeout=_seconds("REQUEST_BODY_TIMEOUT", BODY_TIMEOUT),
            multiprocess=self.cfg.workers > 1,
            body_budget=int(_seconds("REQUEST_BODY_BUDGET_MB", BODY_BUDGET_MB, "megabytes") * 1024 * 1024),
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
        """Stop accepting, let every request past its headers be read, served and answered, and leave.

        Each is bounded by REQUEST_BODY_TIMEOUT (its body) and all by graceful_timeout.

        gunicorn's own shutdown also waits for every open connection, so a few idle or slow
        clients would hold a SIGTERM for the whole graceful_timeout (Heroku kills at 30 s, and the
        dispatcher still has to settle and release its lease after this).
        """
        for server in self.servers:
            server.close()
        deadline = self.loop.time() + self.cfg.graceful_timeout
        while self.asgi.in_flight and self.loop.time() < deadline and not self._quick_shutdown:
            await asyncio.sleep(0.05)


def _configured_secrets(app: Any) -> list[str]:
    """Every secret of every configured source (masked wherever a path is logged)."""
    from redact import source_secrets

    runtime = getattr(app, "extensions", {}).get("leadrelay")
    if runtime is None:
        return []
    found = {s for source in runtime.settings.file.sources.values() for s in source_secrets(source.settings)}
    return sorted(found, key=len, reverse=True)


def printable(text: str) -> str:
    """Control characters (CR, LF, ESC, NUL, DEL…) and backslashes escaped: one log line, nothing raw."""
    return "".join(c if " " <= c < "\x7f" and c != "\\" else c.encode("unicode_escape").decode("ascii") for c in text)


class AccessLogger(Logger):
    """Gunicorn's logger; access lines mask secrets in the path, escape control characters, say `aborted`."""

    secrets: ClassVar[list[str]] = []  # set once per worker from the app's configuration

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        """Gunicorn's atoms, made safe to write to a log."""
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("U", "q", "r"):
            if isinstance(atoms.get(key), str):
                # Escaped first: urlsplit drops a raw LF, so masking must see the escaped form.
                atoms[key] = self._masked(key, printable(atoms[key]))
        for key in ("a", "f", "u", "m", "H"):
            if isinstance(atoms.get(key), str):
                atoms[key] = printable(atoms[key])
        if environ.get("leadrelay.aborted"):
            atoms["s"] = "aborted"
        return atoms

    def _masked(self, key: str, value: str) -> str:
        """The path (U), query (q) or request line (r) with credential parameters and secrets masked."""
        if key == "U":
            return audit_path(value, self.secrets)
        if key == "q":
            return audit_path("/?" + value, self.secrets)[2:] if value else value
        method, _, rest = value.partition(" ")
        target, _, version = rest.rpartition(" ")
        return f"{method} {audit_path(target, self.secrets)} {version}" if target else MASK

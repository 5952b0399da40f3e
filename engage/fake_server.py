"""Serve a WSGI app on a real loopback socket in a daemon thread; stop and restart on the same port."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class _QuietHandler(WSGIRequestHandler):
    """Request handler that logs nothing per request and tracks its connection for stop()."""

    # Small JSON answers are written as header + body: without TCP_NODELAY, Nagle plus delayed
    # ACKs can add ~40 ms per response, which would swamp the speed-to-lead measurements.
    disable_nagle_algorithm = True
    # One set per server: FakeServer.start() makes a subclass that binds its own set.
    live_connections: ClassVar[set[socket.socket]] = set()

    def setup(self) -> None:
        """Register the connection so stop() can cut keep-alive connections."""
        super().setup()
        self.live_connections.add(self.connection)

    def finish(self) -> None:
        """Forget the connection."""
        try:
            super().finish()
        finally:
            self.live_connections.discard(self.connection)

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Do not log every request (benchmarks send thousands)."""

    def log(self, type: str, message: str, *args: Any) -> None:
        """Keep only real errors."""
        if type == "error" and "Broken pipe" not in message:
            super().log(type, message, *args)


class FakeServer:
    """A threaded Werkzeug server for one WSGI app; `.url`, `.port`, `.start()`, `.stop()`."""

    def __init__(
        self, app: WSGIApplication, host: str = "127.0.0.1", port: int = 0, on_stop: Callable[[], None] | None = None
    ) -> None:
        """Remember where to listen; port 0 picks a free port on the first start."""
        self.app, self.host, self.port = app, host, port
        self._on_stop = on_stop
        self._server: BaseWSGIServer | None = None
        self._live: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """http://host:port of the running (or last) server."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._server is not None

    def start(self) -> FakeServer:
        """Bind (the same port again after a stop) and serve in a daemon thread."""
        if self._server is not None:
            return self
        # HTTPServer sets SO_REUSEADDR, so a restart can rebind while old sockets sit in TIME_WAIT.
        live = self._live = set()
        handler = type("_Handler", (_QuietHandler,), {"live_connections": live})
        # threaded=True makes a ThreadedWSGIServer, whose request threads are daemons already.
        server = make_server(self.host, self.port, self.app, threaded=True, request_handler=handler)
        self.port = server.server_port
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fake-engage-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close the socket and cut open keep-alive connections (Engage is 'down')."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        for conn in list(self._live):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._on_stop:
            self._on_stop()
        if self._thread:
            self._thread.join(timeout=2)

    def __enter__(self) -> FakeServer:
        """Start on entry."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop on exit."""
        self.stop()

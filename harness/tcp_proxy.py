"""A TCP proxy on loopback that a test can cut.

The database "goes away" for the processes behind it while the real server (shared by everyone)
keeps running untouched.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit, urlunsplit


class TcpProxy:
    """Forward 127.0.0.1:<port> to a target; `cut()` drops every connection and refuses service until `restore()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        """Listen on a free loopback port (accepting starts with `start()`)."""
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs: set[tuple[socket.socket, socket.socket]] = set()
        self.up = True
        self.closed = False
        self.cuts = 0

    def start(self) -> TcpProxy:
        """Accept connections in a daemon thread."""
        threading.Thread(target=self._accept_loop, name="tcp-proxy-accept", daemon=True).start()
        return self

    def url_for(self, url: str) -> str:
        """`url` (e.g. a PostgreSQL URL) with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{self.port}"))

    def cut(self) -> None:
        """The database is gone: close every open connection; new ones are closed at once."""
        with self.lock:
            self.up = False
            self.cuts += 1
            pairs, self.pairs = list(self.pairs), set()
        for client, server in pairs:
            _close(client)
            _close(server)

    def restore(self) -> None:
        """The database is back: new connections are forwarded again."""
        with self.lock:
            self.up = True

    def close(self) -> None:
        """Stop for good."""
        self.cut()
        self.closed = True
        _close(self.listener)

    def _accept_loop(self) -> None:
        """Accept, then forward or drop depending on the switch."""
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                up = self.up
            if not up:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self.lock:
                self.pairs.add((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst, (client, server)), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, pair: tuple[socket.socket, socket.socket]) -> None:
        """Copy bytes one way until either side closes."""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self.lock:
                self.pairs.discard(pair)
            _close(src)
            _close(dst)


def _close(sock: socket.socket) -> None:
    """Close a socket, ignoring errors (it may already be gone)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()

"""Slow clients on loopback: sockets that trickle request headers or a body one byte a second.

Used by the hostile-traffic tests and the front benchmark. A socket the server closes (a read
deadline) is reopened at once, so the server always faces `header + body` slow sockets.
"""

from __future__ import annotations

import socket
import threading
import time


class SlowClients:
    """Hold `header` header-trickling and `body` body-trickling sockets open against host:port."""

    def __init__(self, host: str, port: int, header: int, body: int, path: str = "/webhooks/slow") -> None:
        """Nothing is opened until start()."""
        self.host, self.port, self.path = host, port, path
        self.counts = {"header": header, "body": body}
        self.socks: list[tuple[str, socket.socket]] = []
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.reopened = 0
        self.open_failures = 0

    def _open(self, kind: str) -> socket.socket | None:
        """Connect and send the opening bytes of a request that never completes."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=2)
            if kind == "header":
                sock.sendall(f"POST {self.path} HTTP/1.1\r\nHost: x\r\n".encode())
            else:
                sock.sendall(
                    f"POST {self.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    f"Content-Length: 100000\r\n\r\n{{".encode()
                )
            sock.setblocking(False)
            return sock
        except OSError:
            self.open_failures += 1
            return None

    def start(self) -> SlowClients:
        """Open every socket, then trickle one byte per socket per second in a thread."""
        for kind, count in self.counts.items():
            for _ in range(count):
                sock = self._open(kind)
                if sock is not None:
                    self.socks.append((kind, sock))
        self.thread = threading.Thread(target=self._trickle, name="slow-clients", daemon=True)
        self.thread.start()
        return self

    def _trickle(self) -> None:
        """Every second: one more byte on each socket; reopen the ones the server closed."""
        while not self.stop_event.wait(1.0):
            for index, (kind, sock) in enumerate(self.socks):
                try:
                    sock.send(b"X" if kind == "header" else b" ")
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    sock.close()
                    fresh = self._open(kind)
                    if fresh is not None:
                        self.socks[index] = (kind, fresh)
                        self.reopened += 1

    def stop(self) -> None:
        """Stop trickling and close every socket."""
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(5)
        for _, sock in self.socks:
            sock.close()
        self.socks.clear()


def timed_get(url: str, timeout: float = 5.0) -> tuple[int | None, float]:
    """GET url; return (status or None on error, seconds)."""
    import requests

    started = time.perf_counter()
    try:
        status = requests.get(url, timeout=timeout).status_code
    except requests.RequestException:
        status = None
    return status, time.perf_counter() - started

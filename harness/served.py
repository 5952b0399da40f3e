"""ServedFake: the base of the harness's HTTP fakes, which serves the subclass's `wsgi` on loopback.

A subclass defines `wsgi` and calls `super().__init__()`; it gets `server`, `url`, `start()`,
`stop()` and use as a context manager:

    with FakeHubSpot() as api:     # started on 127.0.0.1:<free port>, stopped on exit
        api.url                    # http://127.0.0.1:<port>
        api.server.stop()          # an outage; api.server.start() listens again on the same port
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, Self

from engage.fake_server import FakeServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class ServedFake(ABC):
    """One FakeServer around the subclass's `wsgi`; started and stopped with the fake."""

    def __init__(self) -> None:
        """Make the server (nothing listens until start())."""
        # A bound method: the subclass's state is read per request, so it may be set after this call.
        self._server = FakeServer(self.wsgi)

    @abstractmethod
    def wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI entry point the server calls."""

    @property
    def server(self) -> FakeServer:
        """The server itself (stop/start it for an outage, on the same port)."""
        return self._server

    @property
    def url(self) -> str:
        """Base URL of the running fake."""
        return self._server.url

    def start(self) -> Self:
        """Serve on 127.0.0.1:<free port> in a thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def __enter__(self) -> Self:
        """Start on entry."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop on exit."""
        self.stop()

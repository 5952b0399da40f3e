"""The body deadline holds when a byte arrives in the same loop turn as the deadline (issue 19 item 4).

`test_sigterm_is_not_held_by_slow_clients` failed under load (25 s against 10 s): with the loop
thread late (a loaded machine), a trickled byte and the body deadline became due in one loop turn.
gunicorn's receive() waits with Python 3.11's `asyncio.wait_for`, which then returns the data and
swallows the deadline's cancellation; one `asyncio.timeout` never fires twice, so the request read
on for as long as the client trickled (hours), and a graceful stop waited for it. Here the same
receive pattern and a deliberate stall of the loop thread make that turn happen every time.
"""

from __future__ import annotations

import asyncio
import time

from front import BufferedWSGI

TIMEOUT = 0.2


def app(environ, start_response):
    """A WSGI app that must never run: the body never completes."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"read"]


async def trickled_request() -> tuple[list[dict], float]:
    """Serve one POST whose body trickles a byte every 0.1 s; the loop stalls just before the deadline."""
    loop = asyncio.get_running_loop()
    front = BufferedWSGI(app, threads=1, max_body=100_000, body_timeout=TIMEOUT, multiprocess=False)
    chunks: asyncio.Queue[bytes] = asyncio.Queue()
    waiter: list[asyncio.Future[None]] = []

    async def receive() -> dict:
        """gunicorn's pattern (asgi/protocol.py _wait_for_data): wait_for on a future the data callback sets."""
        if chunks.empty():
            waiter[:] = [loop.create_future()]
            await asyncio.wait_for(waiter[0], timeout=1)  # gunicorn: its worker timeout
        return {"type": "http.request", "body": chunks.get_nowait(), "more_body": True}

    def arrive() -> None:
        """One trickled byte, as data_received would deliver it."""
        chunks.put_nowait(b" ")
        if waiter and not waiter[0].done():
            waiter[0].set_result(None)

    sent: list[dict] = []

    async def send(message: dict) -> None:
        """Collect what the front answers."""
        sent.append(message)

    started = loop.time()
    # The loop thread is late (as on a loaded machine) just before the deadline: the byte due at
    # the deadline and the deadline itself then run in the same loop turn.
    loop.call_at(started + TIMEOUT - 0.05, time.sleep, 0.1)
    trickle = [loop.call_at(started + TIMEOUT + 0.1 * n, arrive) for n in range(20)]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webhooks/x",
        "query_string": b"",
        "headers": [(b"host", b"x"), (b"content-length", b"100000"), (b"content-type", b"application/json")],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
        "http_version": "1.1",
    }
    try:
        await front(scope, receive, send)  # bounded: the trickle stops after 2 s, receive gives up 1 s later
    finally:
        for handle in trickle:
            handle.cancel()
        front.pool.shutdown(wait=False)
    return sent, loop.time() - started


def test_a_byte_at_the_deadline_does_not_extend_it():
    """The request is answered 408 at its deadline, not read on while the client trickles."""
    sent, seconds = asyncio.run(trickled_request())
    assert sent and sent[0]["status"] == 408
    assert seconds < TIMEOUT + 0.5, f"answered after {seconds:.1f}s: the body deadline was lost"

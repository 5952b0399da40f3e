"""A tiny alert receiver on 127.0.0.1:0 (what a Slack incoming webhook would get), for tests."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Collects POSTed JSON; `fail_next` answers that many requests with 500 first."""

    def __init__(self):
        """Bind to a free loopback port and serve in a thread."""
        self.messages: list[dict] = []
        self.fail_next = 0
        self.failed = 0
        self.delay = 0.0  # seconds each answer is held back (a slow receiver)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            """Store the body; 500 while failures are requested."""

            def do_POST(self):
                """Receive one alert."""
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(outer.delay)
                with outer.lock:
                    if outer.fail_next > 0:
                        outer.fail_next -= 1
                        outer.failed += 1
                        status = 500
                    else:
                        outer.messages.append(json.loads(body))
                        status = 200
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/secret-part"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, alert: str, state: str | None = None) -> list[dict]:
        """Messages of one kind (and state)."""
        with self.lock:
            return [m for m in self.messages if m["alert"] == alert and (state is None or m["state"] == state)]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

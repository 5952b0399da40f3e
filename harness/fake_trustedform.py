"""A fake TrustedForm v4 API: retain + match on POST /<cert id>, with the real answer shapes.

with FakeTrustedForm(api_key="tf-key") as tf:
    cert = tf.add_cert(phone="3055550100", email="ada@example.com")   # → the 40-hex id
    tf.url                        # http://127.0.0.1:<port>: the consent.trustedform.api_base
    tf.latency = 0.05             # every answer 50 ms late (bench); tf.fail_with(503) / tf.down()
    tf.retains                    # every retain call: cert, reference, vendor, at (time.time())

Answers: 200 {outcome, reason, match_lead: {email, phone, result: {success, email_match,
phone_match}}, retain: {reference, vendor, result: {previously_retained, expires_at}}}; 401 for
a wrong key; 404 for an unknown certificate; 400 without api-version 4.0.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from harness.served import ServedFake

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


@dataclass
class Cert:
    """A certificate the fake knows: the phone and email its form recorded."""

    phone: str | None
    email: str | None
    created_at: float = field(default_factory=time.time)
    retained: bool = False


def _digits(phone: object) -> str:
    """The last ten digits of a phone (how the fake compares fingerprints)."""
    return "".join(c for c in str(phone or "") if c.isdigit())[-10:]


class FakeTrustedForm(ServedFake):
    """Certificates by id, a Basic-auth key check, latency and failure switches; retains recorded."""

    def __init__(self, api_key: str = "tf-test-key") -> None:
        """Start empty; `api_key` is the only key accepted."""
        self.api_key = api_key
        self.certs: dict[str, Cert] = {}
        self.retains: list[dict[str, Any]] = []  # successful or not, every POST that reached a cert
        self.requests: list[dict[str, Any]] = []
        self.latency = 0.0
        self._failure: int | None = None
        self._lock = threading.Lock()
        super().__init__()

    # ------------------------------------------------------------------ control

    def add_cert(self, phone: str | None = None, email: str | None = None, cert: str | None = None) -> str:
        """Register a certificate and return its id (random 40 hex unless given)."""
        cert = cert or secrets.token_hex(20)
        self.certs[cert] = Cert(phone, email)
        return cert

    def cert_url(self, cert: str) -> str:
        """The URL a form would post (the real host: leadrelay calls api_base, never this)."""
        return f"https://cert.trustedform.com/{cert}"

    def fail_with(self, status: int | None) -> None:
        """Answer every request with `status` (401, 429, 503, …) until called with None."""
        self._failure = status

    def down(self) -> None:
        """Stop listening (connections refused) until up()."""
        self._server.stop()

    def up(self) -> None:
        """Listen again on the same port."""
        self._server.start()

    # ------------------------------------------------------------------ HTTP

    def wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI entry point."""
        return self.answer(Request(environ))(environ, start_response)

    def answer(self, request: Request) -> Response:
        """One v4 request: auth, version, certificate, then match and retain."""
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            self.requests.append({"path": request.path, "method": request.method, "at": time.time()})
        if self._failure is not None:
            return _json(self._failure, {"outcome": "error", "reason": f"fake failure {self._failure}"})
        if request.method != "POST":
            return _json(405, {"outcome": "error", "reason": "method not allowed"})
        expected = "Basic " + base64.b64encode(f"X:{self.api_key}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return _json(401, {"outcome": "failure", "reason": "Authentication failed: invalid API key"})
        if request.headers.get("api-version") != "4.0":
            return _json(400, {"outcome": "failure", "reason": "api-version header must be 4.0"})
        cert_id = request.path.strip("/")
        cert = self.certs.get(cert_id)
        if cert is None:
            return _json(404, {"outcome": "failure", "reason": "Certificate not found"})
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return _json(400, {"outcome": "failure", "reason": "invalid JSON"})
        return _json(200, self._retain(cert_id, cert, body))

    def _retain(self, cert_id: str, cert: Cert, body: dict[str, Any]) -> dict[str, Any]:
        """Match the lead's phone and email against the recorded ones; retain on a match."""
        match = body.get("match_lead") or {}
        phone, email = match.get("phone") or "", match.get("email") or ""
        phone_match = (_digits(phone) == _digits(cert.phone)) if phone and cert.phone else (False if phone else None)
        email_match = (
            (email.lower() == (cert.email or "").lower()) if email and cert.email else (False if email else None)
        )
        success = bool(phone_match or email_match)
        answer: dict[str, Any] = {
            "outcome": "success" if success else "failure",
            "reason": None if success else "No matches were found for the provided lead data",
            "match_lead": {
                "email": email,
                "phone": phone,
                "result": {"success": success, "email_match": email_match, "phone_match": phone_match},
            },
        }
        retain = body.get("retain") or {}
        with self._lock:
            self.retains.append(
                {"cert": cert_id, "reference": retain.get("reference"), "vendor": retain.get("vendor"),
                 "matched": success, "at": time.time()}
            )  # fmt: skip
            previously, cert.retained = cert.retained, cert.retained or success
        if success:
            expires = dt.datetime.fromtimestamp(time.time(), dt.UTC) + dt.timedelta(days=5 * 365)
            answer["retain"] = {
                "reference": retain.get("reference"),
                "vendor": retain.get("vendor"),
                "result": {"previously_retained": previously, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
            }
        return answer


def _json(status: int, body: dict[str, Any]) -> Response:
    """A JSON response."""
    return Response(json.dumps(body), status=status, content_type="application/json")

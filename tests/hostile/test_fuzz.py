"""Property-based fuzzing of every sender type through the webhook endpoint (the real Flask app, real databases).

Each example takes a genuine body of the sender, mutates it (bytes, JSON values, nesting, size, Unicode),
picks how it is authenticated (validly signed, unsigned, wrongly signed, or with forged/mutated auth
headers and timestamps) and asserts:
  - never a 5xx;
  - a 401 stores nothing, and an unauthenticated request is always refused;
  - every authenticated request within max_body is stored (one new event row), whatever its content.
Two drivers: the Flask app's test client against SQLite and PostgreSQL (fast: the bulk of the inputs), and
real sockets through gunicorn and front.FrontWorker on SQLite. `make test` runs a short pass (FUZZ_EXAMPLES
per sender, default 15; FUZZ_SOCKET_EXAMPLES over sockets, default 60); `make fuzz` runs ≥ 100,000 inputs
and prints the counts (FUZZ_REPORT names a JSON file to write them to)."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.hostile.fuzzing import CONFIG, SEEDS, SIGNERS

# Hypothesis through the app, and over real sockets through gunicorn.
pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
SOCKET_EXAMPLES = int(os.environ.get("FUZZ_SOCKET_EXAMPLES", "60"))
# The three that must stay 0 are reported even when they do.
COUNTS: Counter = Counter({"5xx": 0, "unauthenticated_stored": 0, "authenticated_lost": 0})

# Leaves that once broke a parser, a mapping or PostgreSQL.
NASTY = st.one_of(
    st.sampled_from(
        [
            "",
            "\x00",
            "a\x00b",
            "\ud800",
            "\udfff",
            "²",
            "٣",
            "9" * 400,
            "1e999",
            "-0",
            "NaN",
            "/Date(99999999999999999)/",
            "/Date(-99999999999999999)/",
            "x" * 70_000,
            "+1 (303) 555-0142",
            "\u202e",
            "\ufeff",
        ]
    ),
    st.integers(min_value=-(10**50), max_value=10**50),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.none(),
    st.booleans(),
)
JSONISH = st.recursive(
    NASTY,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)


def _replace_leaf(data, path_bits: list[int], value):
    """Replace one leaf (or add a key) of parsed JSON, walking by the given choices."""
    node = data
    for bit in path_bits:
        if isinstance(node, dict) and node:
            key = list(node)[bit % len(node)]
            if not isinstance(node[key], (dict, list)):
                node[key] = value
                return data
            node = node[key]
        elif isinstance(node, list) and node:
            index = bit % len(node)
            if not isinstance(node[index], (dict, list)):
                node[index] = value
                return data
            node = node[index]
        else:
            break
    if isinstance(node, dict):
        node["fuzz"] = value
    elif isinstance(node, list):
        node.append(value)
    return data


@st.composite
def bodies(draw, seed: bytes) -> bytes:
    """A mutation of `seed`."""
    kind = draw(st.sampled_from(["same", "bytes", "json_leaf", "truncate", "random", "nest", "repeat", "json"]))
    if kind == "same":
        return seed
    if kind == "bytes":
        data = bytearray(seed)
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(data)))
            data[at : at + draw(st.integers(0, 4))] = draw(st.binary(max_size=6))
        return bytes(data)
    if kind == "json_leaf":
        try:
            parsed = json.loads(seed)
        except ValueError:
            return seed + draw(st.binary(max_size=20))
        value = draw(JSONISH)
        mutated = _replace_leaf(parsed, draw(st.lists(st.integers(0, 50), max_size=6)), value)
        return json.dumps(mutated, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if kind == "truncate":
        return seed[: draw(st.integers(0, len(seed)))]
    if kind == "random":
        return draw(st.binary(max_size=600))
    if kind == "nest":
        depth = draw(st.integers(30, 4000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        return opener * depth + b"1" + closer * depth
    if kind == "repeat":
        count = draw(st.integers(2, 1500))
        return (
            b"[" + b",".join([b'{"id":"r' + str(i).encode() + b'","phone":"3035550100"}' for i in range(count)]) + b"]"
        )
    return json.dumps(draw(JSONISH)).encode("utf-8", "surrogatepass")


HEADER_NOISE = st.dictionaries(
    st.sampled_from(
        [
            "X-HubSpot-Request-Timestamp",
            "x-webflow-timestamp",
            "webhook-timestamp",
            "webhook-id",
            "webhook-signature",
            "X-HubSpot-Signature-v3",
            "X-HubSpot-Signature",
            "Typeform-Signature",
            "X-Hub-Signature-256",
            "X-Form-Signature",
            "Authorization",
            "X-Sig",
            "X-Leadrelay-Token",
            "Content-Type",
            "X-HubSpot-Signature-Version",
        ]
    ),
    st.one_of(
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=60),
        st.sampled_from(["9" * 400, "²", "v1,", "Basic", "Basic !!!", "sha256=", "0", "-1"]),
    ),
    max_size=4,
)


def _max_event_id(engine) -> int:
    """The newest event id (0 when none)."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM events")).scalar()


@pytest.fixture
def fuzz_app(make_app, db_url):
    """One app per database (SQLite, PostgreSQL) with a source of every sender type."""
    return make_app(CONFIG, db_url)


@pytest.fixture(scope="module", autouse=True)
def report():
    """Print (and optionally write) the counts once every sender has been fuzzed."""
    yield
    summary = dict(sorted(COUNTS.items()))
    print("\nfuzz counts:", json.dumps(summary, indent=1))
    if os.environ.get("FUZZ_REPORT"):
        with Path(os.environ["FUZZ_REPORT"]).open("w") as out:
            json.dump(summary, out, indent=1)


def draw_request(data, sender: str) -> tuple[str, bytes, dict, str, bool]:
    """One fuzzed request for `sender`: (query, body, headers, mode, authenticated)."""
    seed = data.draw(st.sampled_from(SEEDS[sender]))
    body = data.draw(bodies(seed.body))
    mode = data.draw(st.sampled_from(["signed", "signed", "signed", "unsigned", "forged"]))
    query = data.draw(st.sampled_from(["", "src=x", "a=%00b", "token=wrong", "list=hot%3Aleads"]))
    content_type = data.draw(
        st.one_of(
            st.just(seed.content_type),
            st.sampled_from(
                [
                    "application/json",
                    "text/plain",
                    "multipart/form-data; boundary=x",
                    "application/x-www-form-urlencoded",
                    "text/xml",
                    "",
                    "application/json; charset=utf-16",
                ]
            ),
        )
    )
    headers = {"Content-Type": content_type}
    authenticated = False
    if mode in ("signed", "forged"):
        signed = SIGNERS[sender](body, query.replace("token=wrong", "src=y"))
        if signed is not None:
            extra, query = signed
            headers.update(extra)
            authenticated = mode == "signed" and sender != "salesforce"
    if mode == "forged":
        headers.update(data.draw(HEADER_NOISE))
    return query, body, headers, mode, authenticated


def judge(
    sender: str, mode: str, authenticated: bool, body: bytes, max_body: int, status: int, answer: bytes, stored: int
) -> None:
    """Count one outcome and assert the three properties."""
    COUNTS["inputs"] += 1
    COUNTS[f"status_{status}"] += 1
    COUNTS["stored"] += stored
    COUNTS["5xx"] += status >= 500
    assert status < 500, (sender, mode, body[:200], answer[:300])
    if status == 401:
        COUNTS["refused_401"] += 1
        assert stored == 0, "a 401 stored something"
    if mode == "unsigned" and sender != "salesforce":
        COUNTS["unauthenticated"] += 1
        if stored:
            COUNTS["unauthenticated_stored"] += 1
        assert status == 401 and stored == 0, (sender, status, answer[:200])
    if authenticated and len(body) <= max_body:
        COUNTS["authenticated"] += 1
        if stored != 1:
            COUNTS["authenticated_lost"] += 1
        assert status != 401, (sender, answer[:200])
        assert stored == 1, (sender, status, answer[:300])


def _settings(examples: int):
    """Hypothesis settings for a fuzz run (derandomized in make test, random in make fuzz)."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=not os.environ.get("FUZZ_RANDOM"),
        suppress_health_check=list(HealthCheck),
    )


@pytest.mark.parametrize("sender", sorted(SEEDS))
def test_fuzz_sender(fuzz_app, sender):
    """No 5xx, nothing unauthenticated stored, every authenticated request within max_body stored."""
    client = fuzz_app.test_client()
    engine = fuzz_app.extensions["leadrelay"].engine
    source = fuzz_app.extensions["leadrelay"].settings.file.sources[sender]

    @_settings(EXAMPLES)
    @given(data=st.data())
    def run(data):
        query, body, headers, mode, authenticated = draw_request(data, sender)
        before = _max_event_id(engine)
        # input_stream, not data=: the test client would rebuild an empty multipart body itself.
        response = client.post(
            f"/webhooks/{sender}" + (f"?{query}" if query else ""),
            input_stream=io.BytesIO(body),
            content_length=len(body),
            headers=headers,
        )
        judge(
            sender,
            mode,
            authenticated,
            body,
            source.max_body,
            response.status_code,
            response.data,
            _max_event_id(engine) - before,
        )

    run()


def _sendable(headers: dict[str, str]) -> dict[str, str]:
    """The headers a real client library will put on the wire (requests refuses some values, e.g. " ")."""
    import requests

    out = {}
    for name, value in headers.items():
        value = value.encode("utf-8").decode("latin-1")
        try:
            requests.utils.check_header_validity((name, value))
        except requests.exceptions.InvalidHeader:
            continue
        out[name] = value
    return out


@pytest.fixture
def live(tmp_path):
    """The service under gunicorn (the real front) on SQLite with every sender type configured."""
    from harness.processes import ServiceProcess
    from tests.hostile import fuzzing

    (tmp_path / "leadrelay.yml").write_text(CONFIG)
    proc = ServiceProcess(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'lr.db'}",
            "ENGAGE_MODE": "sandbox",
            "LEADRELAY_CONFIG": str(tmp_path / "leadrelay.yml"),
        },
        tmp_path / "service.log",
    ).start()
    fuzzing.BASE_URL[0] = proc.url
    yield proc, tmp_path / "lr.db"
    fuzzing.BASE_URL[0] = "http://localhost"
    proc.kill9()


def test_fuzz_over_real_sockets(live):
    """The same properties through gunicorn and front.FrontWorker: real sockets, every sender type."""
    import sqlite3

    import requests

    proc, path = live
    session = requests.Session()

    def newest() -> int:
        """The newest event id, read-only."""
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
        finally:
            conn.close()

    @_settings(SOCKET_EXAMPLES)
    @given(data=st.data())
    def run(data):
        sender = data.draw(st.sampled_from(sorted(SEEDS)))
        query, body, headers, mode, authenticated = draw_request(data, sender)
        before = newest()
        response = session.post(
            f"{proc.url}/webhooks/{sender}" + (f"?{query}" if query else ""),
            data=body,
            headers=_sendable(headers),
            timeout=30,
        )
        COUNTS["over_sockets"] += 1
        judge(sender, mode, authenticated, body, 1024 * 1024, response.status_code, response.content, newest() - before)

    run()
    session.close()

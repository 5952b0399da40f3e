"""Property-based fuzzing of every sender type through the webhook endpoint (the real Flask app, real databases).

Each example takes a genuine body of the sender, mutates it (bytes, JSON values, nesting, size, Unicode),
picks how it is authenticated (validly signed, unsigned, wrongly signed, or with forged/mutated auth
headers and timestamps) and asserts:
  - never a 5xx;
  - a 401 stores nothing, and an unauthenticated request is always refused;
  - every authenticated request within max_body is stored (one new event row), whatever its content.
`make test` runs a short pass (FUZZ_EXAMPLES per sender, default 15); `make fuzz` runs ≥ 100,000 inputs
and prints the counts (FUZZ_REPORT names a JSON file to write them to)."""
from __future__ import annotations

import io
import json
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.hostile.fuzzing import CONFIG, SEEDS, SIGNERS

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
# The three that must stay 0 are reported even when they do.
COUNTS: Counter = Counter({"5xx": 0, "unauthenticated_stored": 0, "authenticated_lost": 0})

# Leaves that once broke a parser, a mapping or PostgreSQL.
NASTY = st.one_of(
    st.sampled_from(["", "\x00", "a\x00b", "\ud800", "\udfff", "²", "٣", "9" * 400, "1e999", "-0", "NaN",
                     "/Date(99999999999999999)/", "/Date(-99999999999999999)/", "x" * 70_000,
                     "+1 (303) 555-0142", "\u202e", "\ufeff"]),
    st.integers(min_value=-(10 ** 50), max_value=10 ** 50),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.none(), st.booleans(),
)
JSONISH = st.recursive(NASTY, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                       max_leaves=12)


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
            data[at:at + draw(st.integers(0, 4))] = draw(st.binary(max_size=6))
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
        return b"[" + b",".join([b'{"id":"r' + str(i).encode() + b'","phone":"3035550100"}' for i in range(count)]) + b"]"
    return json.dumps(draw(JSONISH)).encode("utf-8", "surrogatepass")


HEADER_NOISE = st.dictionaries(
    st.sampled_from(["X-HubSpot-Request-Timestamp", "x-webflow-timestamp", "webhook-timestamp", "webhook-id",
                     "webhook-signature", "X-HubSpot-Signature-v3", "X-HubSpot-Signature", "Typeform-Signature",
                     "X-Hub-Signature-256", "X-Form-Signature", "Authorization", "X-Sig", "X-Leadrelay-Token",
                     "Content-Type", "X-HubSpot-Signature-Version"]),
    st.one_of(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=60),
              st.sampled_from(["9" * 400, "²", "v1,", "Basic", "Basic !!!", "sha256=", "0", "-1"])),
    max_size=4)


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
        with open(os.environ["FUZZ_REPORT"], "w") as out:
            json.dump(summary, out, indent=1)


@pytest.mark.parametrize("sender", sorted(SEEDS))
def test_fuzz_sender(fuzz_app, sender):
    """No 5xx, nothing unauthenticated stored, every authenticated request within max_body stored."""
    client = fuzz_app.test_client()
    engine = fuzz_app.extensions["leadrelay"].engine
    source = fuzz_app.extensions["leadrelay"].settings.file.sources[sender]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not os.environ.get("FUZZ_RANDOM"),
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data):
        seed = data.draw(st.sampled_from(SEEDS[sender]))
        body = data.draw(bodies(seed.body))
        mode = data.draw(st.sampled_from(["signed", "signed", "signed", "unsigned", "forged"]))
        query = data.draw(st.sampled_from(["", "src=x", "a=%00b", "token=wrong", "list=hot%3Aleads"]))
        content_type = data.draw(st.one_of(st.just(seed.content_type), st.sampled_from(
            ["application/json", "text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
             "text/xml", "", "application/json; charset=utf-16"])))
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
        before = _max_event_id(engine)
        # input_stream, not data=: the test client would rebuild an empty multipart body itself.
        response = client.post(f"/webhooks/{sender}" + (f"?{query}" if query else ""), input_stream=io.BytesIO(body),
                               content_length=len(body), headers=headers)
        stored = _max_event_id(engine) - before
        COUNTS["inputs"] += 1
        COUNTS[f"status_{response.status_code}"] += 1
        COUNTS["stored"] += stored
        COUNTS["5xx"] += response.status_code >= 500
        assert response.status_code < 500, (sender, mode, body[:200], response.data[:300])
        if response.status_code == 401:
            COUNTS["refused_401"] += 1
            assert stored == 0, "a 401 stored something"
        if mode == "unsigned" and sender != "salesforce":
            COUNTS["unauthenticated"] += 1
            if stored:
                COUNTS["unauthenticated_stored"] += 1
            assert response.status_code == 401 and stored == 0, (sender, response.status_code, response.data[:200])
        if authenticated and len(body) <= source.max_body:
            COUNTS["authenticated"] += 1
            if stored != 1:
                COUNTS["authenticated_lost"] += 1
            assert response.status_code != 401, (sender, response.data[:200])
            assert stored == 1, (sender, response.status_code, response.data[:300])

    run()

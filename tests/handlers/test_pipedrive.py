"""Tests for handlers/pipedrive.py: Basic auth, v1/v2 bodies, keys, deletes, and the person fetch over a socket."""

import base64
import json

import pytest
import requests
from marshmallow import ValidationError

from handlers.base import AuthFailure, FetchError, Malformed, SourceSettings, type_of
from handlers.pipedrive import Pipedrive, PipedriveOptions, basic_credentials, values_primary_first
from harness.fake_pipedrive import FakePipedrive
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound
from tests.lanes import process_fixture

DATA = TEST_DATA / "pipedrive"
V1 = (DATA / "v1_added_person.json").read_bytes()
V2 = (DATA / "v2_create_person.json").read_bytes()
META = json.loads((DATA / "v1_added_person.meta.json").read_text())
USER, PASSWORD = META["auth"]["user"], META["auth"]["password"]
_REGISTERED = type_of("pipedrive")
assert isinstance(_REGISTERED, Pipedrive)  # the fetching type itself, so its fetch() is typed
PD = _REGISTERED
API_TOKEN = "pd-api-token-1"


def inbound(body, authorization=META["auth"]["authorization_header"]):
    """A POST as Pipedrive sends it."""
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return build_inbound(body, url=META["url"], headers=headers, content_type="application/json", query={})


def source(url="https://api.pipedrive.com", password=PASSWORD):
    """A Pipedrive source with Basic auth and an API token."""
    return SourceSettings(
        name="pd",
        type="pipedrive",
        options={
            "basic_auth": {"username": USER, "password": [password] if isinstance(password, str) else password},
            "api_token": [API_TOKEN],
            "api_base_url": url,
        },
    )


def basic(user, password):
    """A Basic Authorization header."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def v2_body(entity="person", action="create", data=None, event_id="e-1", previous=None):
    """A v2 webhook body."""
    return json.dumps(
        {
            "data": data,
            "previous": previous,
            "meta": {
                "action": action,
                "entity": entity,
                "entity_id": str((data or {}).get("id", 1)),
                "id": event_id,
                "version": "2.0",
                "webhook_id": "771299",
                "attempt": 1,
            },
        }
    ).encode()


# --- auth ----------------------------------------------------------------------------


def test_fixture_credentials_verify():
    """The fixture's Authorization header matches its user and password."""
    PD.verify(source(), inbound(V1), 0)
    assert basic(USER, PASSWORD) == META["auth"]["authorization_header"]


def test_password_rotation():
    """Either of two passwords passes."""
    PD.verify(source(password=["new-pass", PASSWORD]), inbound(V1), 0)


@pytest.mark.parametrize(
    "authorization,reason",
    [
        (None, "missing_credentials"),
        ("Bearer abc", "missing_credentials"),
        ("Basic !!!not-base64", "missing_credentials"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "missing_credentials"),
        (basic(USER, "wrong"), "invalid_credentials"),
        (basic("someone", PASSWORD), "invalid_credentials"),
        (basic(USER, PASSWORD + "x"), "invalid_credentials"),
        (basic(USER.upper(), PASSWORD), "invalid_credentials"),
    ],
)
def test_auth_failures(authorization, reason):
    """Failure table: missing, unreadable, wrong password, wrong user."""
    with pytest.raises(AuthFailure) as info:
        PD.verify(source(), inbound(V1, authorization), 0)
    assert info.value.reason == reason


def test_password_with_colon():
    """Only the first colon separates user from password."""
    assert basic_credentials(basic("u", "a:b:c")) == ("u", "a:b:c")


def test_options_schema():
    """basic_auth needs both keys; the API base defaults to Pipedrive's."""
    loaded = PipedriveOptions().load({"basic_auth": {"username": "u", "password": "p"}, "api_token": "t"})
    assert loaded["basic_auth"] == {"username": "u", "password": ["p"]}
    assert loaded["api_base_url"] == "https://api.pipedrive.com" and loaded["api_token"] == ["t"]
    with pytest.raises(ValidationError):
        PipedriveOptions().load({"basic_auth": {"username": "u"}})


# --- parse ---------------------------------------------------------------------------


def test_v1_person():
    """v1: key webhook_id:meta.id:timestamp_micro; the person flat; phone/email values primary first."""
    [record] = PD.parse(source(), inbound(V1))
    assert record.key == "771234:4821:1768496645123456"
    assert record.event == "added.person" and record.fetch is None
    assert record.fields["phone_values"] == ["(303) 555-0142", "+1-720-555-0117"]
    assert record.fields["email_values"] == ["ada.example@example.com"]
    assert record.get("8f3d2c1b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c") == "27"
    assert record.get("label") == 5 and record.get("meta.webhook_id") == "771234"


def test_v1_retry_keeps_the_key():
    """`retry` is a counter: never part of the key."""
    body = json.loads(V1)
    body["retry"] = 2
    [again] = PD.parse(source(), inbound(json.dumps(body).encode()))
    assert again.key == PD.parse(source(), inbound(V1))[0].key


def test_v2_person():
    """v2: key meta.id; event create.person; custom fields reduced to values, by hash at the top too."""
    [record] = PD.parse(source(), inbound(V2))
    assert record.key == "7d6c5b4a-3928-4716-a5b4-c3d2e1f0a9b8"
    assert record.event == "create.person" and record.fields["action"] == "create"
    assert record.fields["phone_values"] == ["+44 20 7946 0958", "(212) 555-0123"]
    assert record.get("custom_fields.8f3d2c1b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c") == 88
    assert record.get("8f3d2c1b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c") == 88
    assert record.get("custom_fields.0f9e8d7c6b5a49382716050f4e3d2c1b0a998877") == 42  # enum → its id


def test_v2_attempt_keeps_the_key():
    """meta.attempt does not change the key."""
    body = json.loads(V2)
    body["meta"]["attempt"] = 3
    assert PD.parse(source(), inbound(json.dumps(body).encode()))[0].key == json.loads(V2)["meta"]["id"]


def test_primary_moves_first_and_blanks_drop():
    """The primary entry leads even when listed last; empty values are dropped."""
    items = [{"value": "1", "primary": False}, {"value": ""}, {"value": "2", "primary": True}, {"value": "3"}]
    assert values_primary_first(items) == ["2", "1", "3"]
    assert values_primary_first(None) == [] and values_primary_first("x") == ["x"]


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(
            {
                "meta": {"action": "deleted", "object": "person", "id": 4821, "webhook_id": "1", "timestamp_micro": 5},
                "current": None,
                "previous": json.loads(V1)["current"],
                "event": "deleted.person",
            }
        ).encode(),
        v2_body(
            action="delete", data=None, previous={"id": 4822, "phones": [{"value": "3035550142", "primary": True}]}
        ),
        v2_body(entity="deal", action="delete", data=None, previous={"id": 9, "person_id": 4822}),
    ],
)
def test_delete_events_carry_no_person_and_no_fetch(body):
    """A delete never fetches and exposes no phone at the top level."""
    [record] = PD.parse(source(), inbound(body))
    assert record.fetch is None and record.fields["action"] in ("deleted", "delete")
    assert "phone_values" not in record.fields and "phone" not in record.fields
    assert record.event is not None and record.event.startswith("delete")


@pytest.mark.parametrize(
    "entity,data,fetch_id",
    [
        ("deal", {"id": 77, "title": "Big deal", "value": 5000, "person_id": 4830}, "4830"),
        ("deal", {"id": 78, "title": "Orphan", "person_id": None}, None),
        ("lead", {"id": "a1b2", "title": "Lead", "person_id": 4831}, "4831"),
        ("organization", {"id": 3, "name": "Org"}, None),
    ],
)
def test_v2_objects_nested_and_person_fetch(entity, data, fetch_id):
    """Non-person objects sit under their name; deals and leads with a person fetch it."""
    [record] = PD.parse(source(), inbound(v2_body(entity, "change", data)))
    assert record.get(f"{entity}.title", record.get(f"{entity}.name")) == data.get("title", data.get("name"))
    assert (record.fetch or {}).get("id") == fetch_id
    if fetch_id:
        assert record.fetch is not None
        assert record.fetch["object"] == "person" and record.fetch["via"] == entity


def test_v1_deal_with_person_object():
    """v1 deals may carry person_id as `{value, name}`."""
    body = json.dumps(
        {
            "meta": {"action": "updated", "object": "deal", "id": 77, "webhook_id": "1", "timestamp_micro": 1},
            "current": {"id": 77, "person_id": {"value": 4830, "name": "A"}},
            "previous": {},
            "event": "updated.deal",
        }
    ).encode()
    [record] = PD.parse(source(), inbound(body))
    assert record.fetch is not None
    assert record.fetch["id"] == "4830" and record.event == "updated.deal" and record.key == "1:77:1"


@pytest.mark.parametrize(
    "body,message",
    [
        (b"", "empty body"),
        (b"{nope", "invalid JSON"),
        (b"[1]", "no meta"),
        (b'{"data": {}}', "no meta"),
    ],
)
def test_parse_malformed(body, message):
    """Empty, broken and non-Pipedrive bodies are Malformed."""
    with pytest.raises(Malformed, match=message):
        PD.parse(source(), inbound(body))


# --- fetch ---------------------------------------------------------------------------


@pytest.fixture
@process_fixture
def api():
    """The fake Pipedrive API with one person."""
    with FakePipedrive(token=API_TOKEN) as fake:
        fake.add_person(
            4830,
            name="Ada Example",
            first_name="Ada",
            last_name="Example",
            phones=[
                {"value": "+1 720 555 0117", "primary": False, "label": "mobile"},
                {"value": "(303) 555-0142", "primary": True, "label": "work"},
            ],
            emails=[{"value": "Ada@Example.com", "primary": True, "label": "work"}],
            custom_fields={"8f3d2c1b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c": 88},
        )
        yield fake


@pytest.fixture
def session():
    """A real requests session (loopback only)."""
    with requests.Session() as s:
        yield s


def deal_record(person_id=4830):
    """A v2 change.deal record pointing at a person."""
    body = v2_body("deal", "change", {"id": 77, "title": "Big deal", "value": 5000, "person_id": person_id})
    return PD.parse(source(), inbound(body))[0]


def test_fetch_person_behind_a_deal(api, session):
    """The person flat, the deal nested, key/event kept; the token goes in x-api-token."""
    record = deal_record()
    fetched = PD.fetch(source(api.url), record, session)
    assert fetched.key == record.key == "e-1" and fetched.event == "change.deal" and fetched.fetch is None
    assert fetched.fields["id"] == 4830 and fetched.fields["phone_values"] == ["(303) 555-0142", "+1 720 555 0117"]
    assert fetched.get("deal.value") == 5000 and fetched.get("meta.entity") == "deal"
    assert fetched.get("8f3d2c1b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c") == 88
    assert api.requests[-1] == {"path": "/api/v2/persons/4830", "token": API_TOKEN}


@pytest.mark.parametrize(
    "status,retry_after,retryable",
    [
        (404, None, False),
        (401, None, False),
        (429, "2", True),
        (500, None, True),
        (502, None, True),
    ],
)
def test_fetch_failures(api, session, status, retry_after, retryable):
    """404/401 final; 429 (Retry-After in the message) and 5xx retried."""
    api.fail_with(status, retry_after)
    with pytest.raises(FetchError) as info:
        PD.fetch(source(api.url), deal_record(), session)
    assert info.value.retryable is retryable
    if retry_after:
        assert f"Retry-After: {retry_after}" in str(info.value)


def test_fetch_unknown_person_and_wrong_token(api, session):
    """A person deleted since the event: 404 final; a wrong token: 401 final."""
    with pytest.raises(FetchError) as info:
        PD.fetch(source(api.url), deal_record(999), session)
    assert info.value.retryable is False
    src = source(api.url)
    src.options["api_token"] = ["wrong"]
    with pytest.raises(FetchError, match="401"):
        PD.fetch(src, deal_record(), session)


@pytest.mark.process  # a real connection to a closed port
def test_fetch_connection_refused_is_retryable(session):
    """Nothing listening: retried."""
    with FakePipedrive() as fake:
        url = fake.url
    with pytest.raises(FetchError) as info:
        PD.fetch(source(url), deal_record(), session)
    assert info.value.retryable is True

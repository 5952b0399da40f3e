"""Tests for HubSpot Webhooks-API batches: one record per event, keys, fetch targets, and fetch() over a real socket."""

import json

import pytest
import requests

from handlers.base import FetchError, Record, SourceSettings, type_of
from handlers.hubspot import HubSpot, HubSpotOptions, event_record, fetch_properties
from harness.fake_hubspot import FakeHubSpot
from mappings import MappingError, map_record
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound
from tests.lanes import process_fixture

DATA = TEST_DATA / "hubspot"
BATCH = (DATA / "webhooks_api_batch.json").read_bytes()
META = json.loads((DATA / "webhooks_api_batch.meta.json").read_text())
_REGISTERED = type_of("hubspot")
assert isinstance(_REGISTERED, HubSpot)  # the fetching type itself, so its fetch() is typed
HUBSPOT = _REGISTERED
TOKEN = "pat-na1-test-0000"


def inbound(body):
    """A POST as intake would build it."""
    return build_inbound(body, url=META["url"], headers=META["headers"], content_type="application/json", query={})


def source(url="https://api.hubapi.com", **options):
    """A HubSpot source with a private-app token pointing at `url`."""
    return SourceSettings(
        name="hs",
        type="hubspot",
        options={"client_secret": META["signature"]["secret"], "access_token": [TOKEN], "api_base_url": url, **options},
    )


@pytest.fixture
@process_fixture
def api():
    """The fake HubSpot CRM API with the fixture's contacts."""
    with FakeHubSpot(token=TOKEN) as fake:
        fake.add_contact(
            "51234567",
            firstname="Ada",
            lastname="Example",
            email=" Ada.Example@Example.com ",
            phone="(303) 555-0142 ext. 12",
            mobilephone="+1 720 555 0117",
            zip="80202",
            hubspotscore="91",
            lifecyclestage="salesqualifiedlead",
            hs_lead_status="OPEN",
            lastmodifieddate="2026-01-15T17:04:03.123Z",
            favorite_color="teal",
        )
        fake.add_contact("51234890", firstname="Grace", lastname="Hopper", phone="+1 (415) 555-0188")
        fake.add_contact("777", firstname="Olu", phone="+44 20 7946 0958", mobilephone="020 7946 0958")
        yield fake


@pytest.fixture
def session():
    """A real requests session (loopback only)."""
    with requests.Session() as s:
        yield s


# --- parse ---------------------------------------------------------------------------


def test_batch_is_one_record_per_event_with_fixture_keys():
    """Keys portalId:subscriptionId:eventId, events, and a contact fetch for each."""
    records = HUBSPOT.parse(source(), inbound(BATCH))
    assert [r.key for r in records] == [e["idempotencyKey"] for e in META["expected"]["events"]]
    assert [r.event for r in records] == ["contact.creation", "contact.propertyChange", "contact.propertyChange"]
    assert [(r.fetch or {}).get("id") for r in records] == [e["externId"] for e in META["expected"]["events"]]
    assert all((r.fetch or {}).get("object") == "contact" for r in records)


def test_property_change_value_is_a_field_before_the_fetch():
    """hs_lead_status: OPEN is routable at intake; the phone change is there too (but still fetched)."""
    records = HUBSPOT.parse(source(), inbound(BATCH))
    assert records[1].get("hs_lead_status") == "OPEN"
    assert records[2].get("phone") == "+1 (415) 555-0188" and records[2].fetch is not None


def test_retry_keeps_the_key():
    """attemptNumber is a retry counter: never part of the key."""
    events = json.loads(BATCH)
    for event in events:
        event["attemptNumber"] = 3
    again = HUBSPOT.parse(source(), inbound(json.dumps(events).encode()))
    assert [r.key for r in again] == [r.key for r in HUBSPOT.parse(source(), inbound(BATCH))]


@pytest.mark.parametrize(
    "event,fetched",
    [
        ({"subscriptionType": "contact.creation", "objectId": 1}, True),
        (
            {"eventType": "contact.propertyChange", "objectId": 1, "propertyName": "email", "propertyValue": "a@b.c"},
            True,
        ),
        ({"subscriptionType": "object.creation", "objectTypeId": "0-1", "objectId": 1}, True),
        ({"subscriptionType": "object.creation", "objectTypeId": "0-3", "objectId": 1}, False),  # a deal
        ({"subscriptionType": "contact.deletion", "objectId": 1}, False),
        ({"subscriptionType": "contact.privacyDeletion", "objectId": 1}, False),
        ({"subscriptionType": "object.deletion", "objectTypeId": "0-1", "objectId": 1}, False),
        ({"subscriptionType": "company.creation", "objectId": 1}, False),
        ({"subscriptionType": "contact.associationChange", "fromObjectId": 1, "toObjectId": 2}, False),
    ],
)
def test_which_events_are_fetched(event, fetched):
    """Only events about an existing contact are fetched; deletions never are."""
    record = event_record({"eventId": 1, "subscriptionId": 2, "portalId": 3, **event})
    assert (record.fetch is not None) is fetched
    assert record.event == event.get("subscriptionType", event.get("eventType"))


def test_bad_event_does_not_lose_its_siblings():
    """A non-object element and an event without ids still become records; the good one keeps its fetch."""
    body = json.dumps(
        [
            42,
            {"subscriptionType": "contact.creation"},
            {"eventId": 9, "subscriptionId": 8, "portalId": 7, "subscriptionType": "contact.creation", "objectId": 5},
        ]
    ).encode()
    bad, no_ids, good = HUBSPOT.parse(source(), inbound(body))
    assert bad.fetch is None and bad.key is None
    assert no_ids.fetch is None and no_ids.key is None
    assert good.key == "7:8:9" and good.fetch is not None and good.fetch["id"] == "5"
    with pytest.raises(MappingError):
        map_record(source(), bad)


def test_unfetched_record_cannot_dial():
    """A deletion event stays id-only: no phone, so mapping refuses it."""
    record = event_record(
        {"eventId": 1, "subscriptionId": 2, "portalId": 3, "subscriptionType": "contact.deletion", "objectId": 1}
    )
    with pytest.raises(MappingError) as info:
        map_record(source(), record)
    assert "leadPhone" in info.value.errors


def test_options_schema_defaults_and_token_list():
    """api_base_url defaults to HubSpot; access_token takes a list; properties extend the fetch."""
    loaded = HubSpotOptions().load({"access_token": "pat-1", "properties": ["favorite_color"]})
    assert loaded["api_base_url"] == "https://api.hubapi.com"
    assert loaded["access_token"] == ["pat-1"]


def test_fetch_properties_include_options_and_plain_field_names():
    """Defaults + options.properties + flat names of `fields:` (dotted paths are event fields)."""
    src = source(properties=["favorite_color"])
    src.fields = {
        "auxData1": "favorite_food",
        "auxData2": "event.changeSource",
        "leadPhone": ["phone", "work_phone"],
        "extendedLeadData": {"budget": "monthly_budget"},
    }
    names = fetch_properties(src)
    for name in (
        "firstname",
        "lastname",
        "email",
        "phone",
        "mobilephone",
        "address",
        "city",
        "state",
        "zip",
        "country",
        "hubspotscore",
        "lifecyclestage",
        "hs_lead_status",
        "lastmodifieddate",
        "favorite_color",
        "favorite_food",
        "work_phone",
        "monthly_budget",
    ):
        assert name in names
    assert "event.changeSource" not in names and len(names) == len(set(names))


def test_fetch_reads_the_properties_the_sources_own_lifecycle_rules_test(tmp_path):
    """`opt_out_when: {do_not_call: true}` on a Webhooks-API source: the fetch asks for do_not_call, so the
    rule can match the fetched contact (HubSpot returns only the properties asked for); the type's default
    deletion rules test the event, not the contact, and add nothing."""
    from config import load_file

    path = tmp_path / "leadrelay.yml"
    path.write_text(
        "sources:\n  hs:\n    type: hubspot\n    token: hs-token-long-enough\n"
        "    opt_out_when: [{do_not_call: true}, {event.propertyName: hs_do_not_call}]\n"
        "  plain:\n    type: hubspot\n    token: hs-token-long-enough\n"
    )
    sources = load_file(path, environ={}).sources
    assert sources["hs"].settings.rule_fields == ("do_not_call",)
    assert "do_not_call" in fetch_properties(sources["hs"].settings)
    assert sources["plain"].settings.rule_fields == ()


# --- fetch ---------------------------------------------------------------------------


def test_fetch_returns_properties_flat_and_event_fields(api, session):
    """The contact's properties flat, `id`, the event under `event.`; key and event unchanged."""
    record = HUBSPOT.parse(source(api.url), inbound(BATCH))[1]
    fetched = HUBSPOT.fetch(source(api.url), record, session)
    assert fetched.key == record.key and fetched.event == "contact.propertyChange" and fetched.fetch is None
    assert fetched.fields["id"] == "51234567"
    assert fetched.fields["hubspotscore"] == "91" and fetched.get("lifecyclestage") == "salesqualifiedlead"
    assert fetched.get("event.subscriptionType") == "contact.propertyChange"
    assert fetched.get("event.propertyValue") == "OPEN" and fetched.get("event.portalId") == 4412345
    assert "favorite_color" not in fetched.fields  # not requested
    sent = api.requests[-1]
    assert sent["path"] == "/crm/v3/objects/contacts/51234567"
    assert sent["authorization"] == f"Bearer {TOKEN}"
    assert "hs_lead_status" in sent["args"]["properties"].split(",")


def test_fetched_record_maps_to_the_lead(api, session):
    """Phones primary first, extension kept, email lower-cased, zip a string, externId the contact id."""
    record = HUBSPOT.parse(source(api.url), inbound(BATCH))[0]
    lead = map_record(source(api.url), HUBSPOT.fetch(source(api.url), record, session))
    assert lead["externId"] == "51234567"
    assert lead["leadPhone"] == "3035550142|7205550117"
    assert lead["extendedLeadData"] == {"phoneExtension": "12"}
    assert (lead["firstName"], lead["lastName"], lead["email"], lead["zip"]) == (
        "Ada",
        "Example",
        "ada.example@example.com",
        "80202",
    )


def test_phone_change_event_fetches_the_names_too(api, session):
    """The phone propertyChange is fetched: names come from the API, the number is the fixture's."""
    record = HUBSPOT.parse(source(api.url), inbound(BATCH))[2]
    lead = map_record(source(api.url), HUBSPOT.fetch(source(api.url), record, session))
    assert lead["leadPhone"].split("|") == META["expected"]["events"][2]["phones"]
    assert (lead["externId"], lead["firstName"]) == ("51234890", "Grace")


def test_fetch_international_numbers(api, session):
    """A UK contact: E.164, the national form of the same number deduplicated."""
    record = event_record(
        {"eventId": 1, "subscriptionId": 2, "portalId": 3, "subscriptionType": "contact.creation", "objectId": 777}
    )
    src = source(api.url)
    src.default_region = "GB"
    lead = map_record(src, HUBSPOT.fetch(src, record, session))
    assert lead["leadPhone"] == "+442079460958" and lead["leadPhoneE164"] == "+442079460958"


def test_extra_properties_are_requested(api, session):
    """options.properties are fetched and reachable for routes."""
    src = source(api.url, properties=["favorite_color"])
    record = HUBSPOT.parse(src, inbound(BATCH))[0]
    assert HUBSPOT.fetch(src, record, session).get("favorite_color") == "teal"


@pytest.mark.parametrize(
    "status,retry_after,retryable,text",
    [
        (404, None, False, "HTTP 404"),
        (429, "2", True, "Retry-After: 2"),
        (429, None, True, "HTTP 429"),
        (500, None, True, "HTTP 500"),
        (503, "30", True, "Retry-After: 30"),
        (403, None, False, "HTTP 403"),
    ],
)
def test_fetch_failures(api, session, status, retry_after, retryable, text):
    """404 and other 4xx are final; 429/5xx are retried (Retry-After in the message)."""
    api.fail_with(status, retry_after)
    record = HUBSPOT.parse(source(api.url), inbound(BATCH))[0]
    with pytest.raises(FetchError, match=text.replace("(", r"\(")) as info:
        HUBSPOT.fetch(source(api.url), record, session)
    assert info.value.retryable is retryable


def test_fetch_unknown_contact_is_final(api, session):
    """A contact deleted since the event: 404, not retried."""
    record = event_record(
        {"eventId": 1, "subscriptionId": 2, "portalId": 3, "subscriptionType": "contact.creation", "objectId": 404404}
    )
    with pytest.raises(FetchError) as info:
        HUBSPOT.fetch(source(api.url), record, session)
    assert info.value.retryable is False


def test_fetch_wrong_token_is_final(api, session):
    """401 from a bad token: fixing needs a person, so it is not retried."""
    src = source(api.url)
    src.options["access_token"] = ["wrong"]
    with pytest.raises(FetchError, match="HTTP 401") as info:
        HUBSPOT.fetch(src, HUBSPOT.parse(src, inbound(BATCH))[0], session)
    assert info.value.retryable is False


@pytest.mark.process  # a real connection to a closed port
def test_fetch_connection_refused_is_retryable(session):
    """Nothing listening: retried later."""
    with FakeHubSpot() as fake:
        url = fake.url
    record = HUBSPOT.parse(source(url), inbound(BATCH))[0]
    with pytest.raises(FetchError) as info:
        HUBSPOT.fetch(source(url), record, session)
    assert info.value.retryable is True


def test_fetch_without_token_is_final(session):
    """No access_token configured: a config error, not retried."""
    src = SourceSettings(name="hs", type="hubspot", options={"client_secret": "x"})
    with pytest.raises(FetchError, match="access_token") as info:
        HUBSPOT.fetch(src, Record(key="k", fields={}, fetch={"object": "contact", "id": "1"}), session)
    assert info.value.retryable is False


def test_fetch_rate_is_declared():
    """The fetch pool reads the private-app limit: 100 requests / 10 s."""
    assert HUBSPOT.fetch_rate == (100, 10.0)

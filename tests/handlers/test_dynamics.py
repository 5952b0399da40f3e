"""Tests for handlers/dynamics.py: the three Dataverse auth schemes, the execution context → one record, the key."""

import copy
import json

import pytest
from marshmallow import ValidationError

from handlers.base import AuthFailure, Malformed, SourceSettings, type_of
from handlers.dynamics import DynamicsOptions, plain
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound
from tests.mappings.crm_helpers import update_context

DATA = TEST_DATA / "dynamics365"
BODY = (DATA / "lead_create.json").read_bytes()
META = json.loads((DATA / "lead_create.meta.json").read_text())
KEY = META["auth"]["webhook_key"]
DYN = type_of("dynamics")
BASE_URL = "https://leads.example.com/webhooks/dynamics"


def inbound(body=BODY, url=META["url"], headers=None):
    """A POST as Dataverse sends it."""
    return build_inbound(body, url=url, headers={**META["headers"], **(headers or {})}, content_type="application/json")


def source(**options):
    """A Dynamics source; the fixture's WebhookKey unless told otherwise."""
    return SourceSettings(name="dyn", type="dynamics", options=options or {"webhook_key": [KEY]})


# --- auth ----------------------------------------------------------------------------


def test_fixture_webhook_key():
    """The fixture's ?code= passes."""
    DYN.verify(source(), inbound(), 0)


def test_header_and_query_schemes():
    """HttpHeader and HttpQueryString key/value pairs; rotation lists."""
    DYN.verify(
        source(header={"name": "x-leadrelay-key", "value": ["old", "new"]}),
        inbound(url=BASE_URL, headers={"X-Leadrelay-Key": "new"}),
        0,
    )
    DYN.verify(source(query={"name": "k", "value": ["q-secret"]}), inbound(url=BASE_URL + "?k=q-secret"), 0)


def test_any_configured_scheme_passes():
    """With several schemes configured, one match is enough."""
    src = source(webhook_key=[KEY], header={"name": "x-key", "value": ["h"]})
    DYN.verify(src, inbound(url=BASE_URL, headers={"x-key": "h"}), 0)
    DYN.verify(src, inbound(), 0)


@pytest.mark.parametrize(
    "options,url,headers,reason",
    [
        ({"webhook_key": [KEY]}, BASE_URL, None, "missing_token"),
        ({"webhook_key": [KEY]}, BASE_URL + "?code=wrong", None, "invalid_token"),
        ({"webhook_key": [KEY]}, BASE_URL + "?code=" + KEY.upper(), None, "invalid_token"),
        ({"webhook_key": [KEY]}, BASE_URL + "?token=" + KEY, None, "missing_token"),
        ({"header": {"name": "x-key", "value": ["h"]}}, BASE_URL, None, "missing_token"),
        ({"header": {"name": "x-key", "value": ["h"]}}, BASE_URL, {"x-key": "H"}, "invalid_token"),
        ({"query": {"name": "k", "value": ["q"]}}, BASE_URL + "?k=", None, "invalid_token"),
        ({"query": {"name": "k", "value": ["q"]}}, BASE_URL + "?code=q", None, "missing_token"),
    ],
)
def test_auth_failures(options, url, headers, reason):
    """Failure table per scheme: missing, wrong, wrong case, wrong place."""
    with pytest.raises(AuthFailure) as info:
        DYN.verify(source(**options), inbound(url=url, headers=headers), 0)
    assert info.value.reason == reason


def test_options_schema():
    """Each scheme loads; a header without a value is refused."""
    loaded = DynamicsOptions().load({"webhook_key": KEY, "header": {"name": "x", "value": "v"}})
    assert loaded == {"webhook_key": [KEY], "header": {"name": "x", "value": ["v"]}}
    with pytest.raises(ValidationError):
        DynamicsOptions().load({"header": {"name": "x"}})
    assert DYN.has_own_auth(source()) and not DYN.has_own_auth(SourceSettings(name="d", type="dynamics"))


# --- parse ---------------------------------------------------------------------------


def test_fixture_record():
    """Attributes by logical name, option sets → numbers, lookups → ids, dates → ISO, labels under FormattedValues."""
    [record] = DYN.parse(source(), inbound())
    f = record.fields
    assert record.event == "Create"
    assert record.key == "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a:c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f:Create"
    assert (f["firstname"], f["telephone1"], f["address1_postalcode"]) == ("Ada", "(303) 555-0142", "80202")
    assert f["leadqualitycode"] == 1 and record.get("FormattedValues.leadqualitycode") == "Hot"
    assert f["ownerid"] == "09eb2446-db10-ef11-9f8a-6045bdd4c6be" and f["ownerid.LogicalName"] == "systemuser"
    assert f["createdon"] == "2026-01-15T17:04:04.123Z"
    assert f["PrimaryEntityId"] == "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f" and f["PrimaryEntityName"] == "lead"
    assert f["OperationCreatedOn"] == "2026-01-15T17:04:05.123Z"


def test_key_ignores_what_changes_between_deliveries():
    """Same RequestId, entity and message → same key, whatever else differs (e.g. Depth, timestamps)."""
    context = json.loads(BODY)
    context["Depth"] = 2
    context["OperationCreatedOn"] = "\\/Date(1768496999999)\\/"
    [again] = DYN.parse(source(), inbound(json.dumps(context).encode()))
    assert again.key == DYN.parse(source(), inbound())[0].key


def test_key_falls_back_to_operation_id():
    """No RequestId (or the empty GUID): OperationId stands in; neither → None."""
    context = json.loads(BODY)
    context["RequestId"] = "00000000-0000-0000-0000-000000000000"
    [record] = DYN.parse(source(), inbound(json.dumps(context).encode()))
    assert record.key is not None and record.key.startswith(context["OperationId"] + ":")
    del context["RequestId"], context["OperationId"]
    assert DYN.parse(source(), inbound(json.dumps(context).encode()))[0].key is None


def test_update_merges_the_post_image():
    """The PostImage's whole row is laid over the Target's changed columns."""
    [record] = DYN.parse(source(), inbound(json.dumps(update_context()).encode()))
    f = record.fields
    assert record.event == "Update"
    assert (f["firstname"], f["mobilephone"], f["address1_postalcode"]) == ("Olu", "07700 900123", "SW1A 1AA")
    assert f["creditlimit"] == 2500.5 and f["preferredcontactmethodcode"] == 3
    assert record.get("FormattedValues.preferredcontactmethodcode") == "Phone"


def test_update_without_image_has_only_changed_columns():
    """No PostImage: only the Target's columns (the docs say to register one)."""
    context = update_context()
    context["PostEntityImages"] = []
    [record] = DYN.parse(source(), inbound(json.dumps(context).encode()))
    assert "firstname" not in record.fields and record.fields["telephone1"] == "+44 20 7946 0958"


def test_delete_target_is_a_reference():
    """Delete: the Target is an EntityReference, so no attributes arrive."""
    context = json.loads(BODY)
    context["MessageName"] = "Delete"
    context["InputParameters"] = [
        {
            "key": "Target",
            "value": {
                "__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts",
                "Id": context["PrimaryEntityId"],
                "LogicalName": "lead",
                "Name": None,
            },
        }
    ]
    [record] = DYN.parse(source(), inbound(json.dumps(context).encode()))
    assert record.event == "Delete" and "telephone1" not in record.fields


@pytest.mark.parametrize(
    "value,expected",
    [
        ("\\/Date(0)\\/".replace("\\/", "/"), "1970-01-01T00:00:00.000Z"),
        ("/Date(1768496644123+0000)/", "2026-01-15T17:04:04.123Z"),
        ({"__type": "OptionSetValue:x", "Value": 7}, 7),
        ({"Value": 9}, 9),
        ({"__type": "EntityReference:x", "Id": "g", "LogicalName": "team"}, "g"),
        ([{"__type": "OptionSetValue:x", "Value": 1}, {"__type": "OptionSetValue:x", "Value": 2}], [1, 2]),
        ("plain text", "plain text"),
        (None, None),
    ],
)
def test_plain_values(value, expected):
    """DataContract encodings to plain values."""
    assert plain(value) == expected


def test_bom_is_tolerated():
    """A UTF-8 byte-order mark before the JSON is skipped."""
    assert DYN.parse(source(), inbound(b"\xef\xbb\xbf" + BODY))[0].event == "Create"


@pytest.mark.parametrize(
    "body,message",
    [
        (b"", "empty body"),
        (b"{broken", "invalid JSON"),
        (b"[]", "RemoteExecutionContext"),
        (b'{"PrimaryEntityId": "x"}', "RemoteExecutionContext"),
    ],
)
def test_parse_malformed(body, message):
    """Broken and foreign bodies are Malformed."""
    with pytest.raises(Malformed, match=message):
        DYN.parse(source(), inbound(body))


def test_malformed_attribute_list_keeps_the_record():
    """Odd attribute entries are skipped, the rest still maps."""
    context = copy.deepcopy(json.loads(BODY))
    context["InputParameters"][0]["value"]["Attributes"].insert(0, "junk")
    assert DYN.parse(source(), inbound(json.dumps(context).encode()))[0].fields["firstname"] == "Ada"

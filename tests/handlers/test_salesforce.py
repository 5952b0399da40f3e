"""Tests for handlers/salesforce.py: the OrganizationId check, safe XML, notifications → records, the Ack."""

import json

import pytest
from werkzeug.datastructures import Headers

from handlers.base import AuthFailure, Inbound, Malformed, SourceSettings, type_of
from handlers.salesforce import ACK, SalesforceOptions, org_matches
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound
from tests.mappings.crm_helpers import CONTACT_BATCH, envelope, notification

DATA = TEST_DATA / "salesforce"
BODY = (DATA / "outbound_lead_hot.xml").read_bytes()
META = json.loads((DATA / "outbound_lead_hot.meta.json").read_text())
ORG18 = META["auth"]["expected_org_id"]
ORG15 = ORG18[:15]
SF = type_of("salesforce")


def inbound(body=BODY):
    """A POST as Salesforce sends it."""
    return build_inbound(body, url=META["url"], headers=META["headers"], content_type=META["content_type"], query={})


def source(org=ORG18):
    """A Salesforce source for one org id (or several)."""
    return SourceSettings(
        name="sf", type="salesforce", options={"organization_id": [org] if isinstance(org, str) else org}
    )


# --- auth ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "configured,given,ok",
    [
        (ORG18, ORG18, True),
        (ORG15, ORG18, True),  # 15-char config, 18-char message
        (ORG18, ORG15, True),  # 18-char config, 15-char message
        (ORG15, ORG15, True),
        (ORG18, ORG18.lower(), False),  # 15-char ids are case-sensitive
        (ORG18, "00D5e000000ZZZZEAK", False),
        (ORG18, ORG18[:14], False),
        (ORG18, "", False),
        (ORG18[:16], ORG18, False),  # a configured id of an impossible length never matches
    ],
)
def test_org_matches(configured, given, ok):
    """Either form, either way round; anything else fails."""
    assert org_matches([configured], given) is ok


def test_fixture_verifies_and_several_orgs():
    """The fixture's org passes; a list (sandbox + production) passes when one matches."""
    SF.verify(source(), inbound(), 0)
    SF.verify(source(["00D000000000001", ORG15]), inbound(), 0)


@pytest.mark.parametrize(
    "body,org,reason",
    [
        (BODY, "00D5e000000ZZZZ", "invalid_organization"),  # wrong org
        (envelope(notification("1", "Lead", Id="x"), org="00D5e000000ZZZZEAK"), ORG18, "invalid_organization"),
        (envelope(notification("1", "Lead", Id="x"), org=""), ORG18, "missing_organization"),
        (b"<not xml", ORG18, "missing_organization"),  # unreadable: no org to check
        (b"", ORG18, "missing_organization"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>', ORG18, "missing_organization"),
    ],
)
def test_auth_failures(body, org, reason):
    """Failure table: wrong org, forged org in the body, missing org, unreadable body."""
    with pytest.raises(AuthFailure) as info:
        SF.verify(source(org), inbound(body), 0)
    assert info.value.reason == reason


@pytest.mark.parametrize("query,reason", [({}, "missing_token"), ({"token": ["wrong"]}, "invalid_token")])
def test_configured_token_is_required(query, reason):
    """With a token configured, the right org id alone does not let a request in."""
    src = source()
    src.tokens = ["sf-url-token"]
    request = Inbound(
        "POST", META["url"], "/webhooks/salesforce", query, Headers(META["headers"]), BODY, META["content_type"]
    )
    with pytest.raises(AuthFailure) as info:
        SF.verify(src, request, 0)
    assert info.value.reason == reason


def test_has_own_auth_only_with_an_org():
    """The org id is the type's own scheme."""
    assert SF.has_own_auth(source()) is True
    assert SF.has_own_auth(SourceSettings(name="sf", type="salesforce", tokens=["t"])) is False


def test_options_schema():
    """One org id or a list."""
    assert SalesforceOptions().load({"organization_id": ORG18}) == {"organization_id": [ORG18]}


# --- parse ---------------------------------------------------------------------------


def test_fixture_record():
    """Every sf: field by API name, entity decoded, sObjectType, org and action ids; key = Notification Id."""
    [record] = SF.parse(source(), inbound())
    assert record.key == META["expected"]["idempotencyKey"]
    assert record.event == "Lead"
    f = record.fields
    assert f["Id"] == "00Q5e00000AbCdEFGH" and f["sObjectType"] == "Lead"
    assert f["Company"] == "Example Widgets & Co"
    assert (f["OrganizationId"], f["ActionId"], f["NotificationId"]) == (ORG18, "04k5e000000AbCdAAK", record.key)
    for name, value in META["expected"]["hotSignals"].items():
        assert record.get(name) == value


def test_contact_batch_one_record_each():
    """Two notifications → two records, each with its own key; unicode kept."""
    first, second = SF.parse(source(), inbound(CONTACT_BATCH))
    assert (first.key, second.key) == ("04l5e00000AbCdEAA1", "04l5e00000AbCdEAA2")
    assert first.event == second.event == "Contact"
    assert first.fields["LastName"] == "Adébáyọ̀" and second.fields["Email"] == "no.phone@example.com"
    assert "SessionId" not in first.fields  # a live session token never lands in a record


def test_hundred_notifications():
    """The documented maximum batch."""
    body = envelope(
        "".join(notification(f"04l{i:015d}", "Lead", Id=f"00Q{i:015d}", Phone="3035550142") for i in range(100))
    )
    records = SF.parse(source(), inbound(body))
    assert len(records) == 100 and len({r.key for r in records}) == 100


def test_nil_and_empty_fields_are_none():
    """xsi:nil and empty elements read as None."""
    body = envelope(
        '<Notification><Id>n1</Id><sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        '<sf:Id>00Q1</sf:Id><sf:Email xsi:nil="true"/><sf:Phone></sf:Phone></sObject></Notification>'
    )
    [record] = SF.parse(source(), inbound(body))
    assert record.fields["Email"] is None and record.fields["Phone"] is None


def test_notification_without_sobject_keeps_its_siblings():
    """A broken notification is still a record (it will be invalid); the good one is intact."""
    body = envelope(
        "<Notification><Id>n1</Id></Notification>" + notification("n2", "Lead", Id="00Q2", Phone="3035550142")
    )
    broken, good = SF.parse(source(), inbound(body))
    assert broken.key == "n1" and "Id" not in broken.fields
    assert good.fields["Id"] == "00Q2"


@pytest.mark.parametrize(
    "body,message",
    [
        (b"", "empty body"),
        (b"<not xml", "invalid XML"),
        (
            b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'><soapenv:Body/></soapenv:Envelope>",
            "no notifications",
        ),
        (envelope(""), "no Notification"),
        # XXE: an external entity reading a local file
        (
            b'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            b"<notifications>&xxe;</notifications>",
            "refused XML",
        ),
        # billion laughs
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            b"<notifications>&lol2;</notifications>",
            "refused XML",
        ),
        # a bare DTD, even without entities
        (
            b'<?xml version="1.0"?><!DOCTYPE notifications SYSTEM "http://evil.example/x.dtd"><notifications/>',
            "refused XML",
        ),
    ],
)
def test_parse_malformed(body, message):
    """Unreadable, non-Salesforce, DTD/XXE/entity-bomb bodies are Malformed."""
    with pytest.raises(Malformed, match=message):
        SF.parse(source(), inbound(body))


def test_parse_refuses_another_org_when_a_token_let_it_in():
    """With a token passing auth, a message from another org is stored malformed, never dialed."""
    with pytest.raises(Malformed, match="OrganizationId"):
        SF.parse(source("00D000000000001"), inbound())


def test_parse_without_org_config_accepts_any_org():
    """A token-only source does not check the org."""
    src = SourceSettings(name="sf", type="salesforce", tokens=["t"])
    assert len(SF.parse(src, inbound())) == 1


# --- reply ---------------------------------------------------------------------------


def test_ack_is_the_fixture_byte_for_byte():
    """The Ack body equals fixtures/salesforce/ack_response.xml."""
    assert (DATA / "ack_response.xml").read_bytes() == ACK


@pytest.mark.parametrize(
    "status,body",
    [
        (202, {"event_id": 1, "leads": []}),
        (202, {"event_id": 1, "leads": [{"status": "invalid"}]}),
        (200, {"event_id": 1, "duplicate": True}),
        (202, {"event_id": 1, "status": "malformed", "leads": []}),
        (422, {"error": "unmappable", "event_id": 1, "records": []}),  # reject_invalid: still stored → Ack
        (400, {"error": "malformed", "event_id": 1}),
    ],
)
def test_reply_acks_whenever_stored(status, body):
    """Stored in any state → 200 with the SOAP Ack and text/xml."""
    reply = SF.reply(source(), inbound(), status, body)
    meta = json.loads((DATA / "ack_response.meta.json").read_text())
    assert reply is not None
    assert reply.status == 200 and reply.body == ACK and reply.content_type == meta["content_type"]


@pytest.mark.parametrize(
    "status,body",
    [
        (401, {"error": "invalid_organization"}),
        (429, {"error": "rate_limited"}),
    ],
)
def test_reply_keeps_failures(status, body):
    """Nothing stored → intake's own answer (a 401 stays a 401, so Salesforce retries)."""
    assert SF.reply(source(), inbound(), status, body) is None

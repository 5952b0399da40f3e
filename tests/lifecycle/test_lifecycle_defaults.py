"""Every sender type's default lifecycle rule against a recorded fixture of that sender's own event.

Each fixture in tests/data is parsed by the type's real handler, the rules come from a source
configured with no lifecycle keys (so the type's defaults, through config), and the record's
identity (externId, numbers in E.164) comes from the source's field map as intake reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.datastructures import Headers

import mappings
import routing
from config import ConfigError, load_file
from handlers.base import Inbound, Record, type_of

DATA = Path(__file__).resolve().parents[1] / "data"

CONFIG = """
sources:
  salesforce: {type: salesforce, organization_id: 00D5e000000AbCdEAK}
  dynamics: {type: dynamics, webhook_key: dyn-webhook-key-1f9a}
  hubspot: {type: hubspot, client_secret: hs-client-secret-3c9e, access_token: pat-na1-test}
  pipedrive: {type: pipedrive, basic_auth: {username: leadrelay, password: pd-basic-pass-77e1}}
"""


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The configured sources, every lifecycle rule left to its type's default."""
    path = tmp_path_factory.mktemp("cfg") / "leadrelay.yml"
    path.write_text(CONFIG)
    return load_file(path, environ={}).sources


def records(name: str, source_name: str, sources) -> tuple[list[Record], dict]:
    """Parse a fixture with its type's real handler; return the records and the fixture's meta."""
    meta = json.loads((DATA / f"{name.rsplit('.', 1)[0]}.meta.json").read_text())
    parts = urlsplit(meta["url"])
    request = Inbound(
        "POST",
        meta["url"],
        parts.path,
        parse_qs(parts.query, keep_blank_values=True),
        Headers(meta["headers"]),
        (DATA / name).read_bytes(),
        meta["content_type"],
    )
    source = sources[source_name]
    return type_of(source.type).parse(source.settings, request), meta


def matched(rules, fields: dict) -> routing.Change:
    """The change a rule set finds in these fields (the test fails when none matched)."""
    change = routing.lifecycle(rules, Record(key=None, fields=fields))
    assert change is not None
    return change


def kind(change: routing.Change | None) -> str | None:
    """The strongest thing a change asks for, as the fixtures name it."""
    if change is None:
        return None
    return "opt_out" if change.opt_out else "erase" if change.erase else "cancel"


SINGLE = [
    ("salesforce/outbound_lead_donotcall.xml", "salesforce"),
    ("salesforce/outbound_contact_donotcall.xml", "salesforce"),
    ("dynamics365/contact_update_donotphone.json", "dynamics"),
    ("dynamics365/lead_delete.json", "dynamics"),
    ("pipedrive/v1_deleted_person.json", "pipedrive"),
    ("pipedrive/v2_delete_deal.json", "pipedrive"),
]


@pytest.mark.parametrize("name, source_name", SINGLE, ids=[s[0] for s in SINGLE])
def test_default_rule_matches_the_senders_event(sources, name, source_name):
    """The type's default rule says what the fixture's `expected.lifecycle` says, for the right person."""
    (record,), meta = records(name, source_name, sources)
    source = sources[source_name]
    change = routing.lifecycle(source.lifecycle, record)
    assert kind(change) == meta["expected"]["lifecycle"]
    who = mappings.identify(source.settings, record)
    assert who.extern_id == meta["expected"]["externId"]
    if "e164" in meta["expected"]:
        assert who.phones == meta["expected"]["e164"]


def test_hubspot_batch_cancels_contacts_and_erases_privacy_deletions(sources):
    """contact.deletion and a contact's object.deletion cancel; privacyDeletion also erases; a deal's does nothing."""
    recs, meta = records("hubspot/webhooks_api_deletions.json", "hubspot", sources)
    source = sources["hubspot"]
    got = [
        {
            "lifecycle": kind(routing.lifecycle(source.lifecycle, r)),
            "externId": mappings.identify(source.settings, r).extern_id,
        }
        for r in recs
    ]
    assert got == meta["expected"]["records"]
    # A deletion never asks the CRM for the record (it is gone): no fetch.
    assert all(r.fetch is None for r in recs[:3])


@pytest.mark.parametrize(
    "name, source_name",
    [
        ("salesforce/outbound_lead_hot.xml", "salesforce"),
        ("dynamics365/lead_create.json", "dynamics"),
        ("pipedrive/v1_added_person.json", "pipedrive"),
        ("hubspot/webhooks_api_batch.json", "hubspot"),
    ],
)
def test_ordinary_records_match_no_default_rule(sources, name, source_name):
    """A new lead from the same senders is not an opt-out or a cancel."""
    recs, _ = records(name, source_name, sources)
    assert all(routing.lifecycle(sources[source_name].lifecycle, r) is None for r in recs)


def test_donotcall_false_is_not_an_opt_out(sources):
    """Salesforce sends `false` for an unticked box: that is no opt-out."""
    body = (DATA / "salesforce/outbound_lead_donotcall.xml").read_bytes().replace(b">true<", b">false<")
    record = Record(key="x", fields={"DoNotCall": "false", "Id": "00Q"})
    assert b">false<" in body
    assert routing.lifecycle(sources["salesforce"].lifecycle, record) is None


def write(tmp_path, body: str) -> str:
    """A config file with this body."""
    path = tmp_path / "leadrelay.yml"
    path.write_text(body)
    return str(path)


def test_own_rules_replace_the_default_and_false_turns_it_off(tmp_path):
    """`opt_out_when:` written on a source replaces its type's default; `false` leaves none."""
    sources = load_file(
        write(
            tmp_path,
            """
sources:
  sf: {type: salesforce, organization_id: 00D5e000000AbCdEAK, opt_out_when: {Status: {in: [Do Not Contact]}}}
  sf2: {type: salesforce, organization_id: 00D5e000000AbCdEAK, opt_out_when: false}
  form:
    type: generic
    token: t0k3n-long-enough-1234
    opt_out_when: [{reply: {stop_word: true}}, {status: opted_out}]
    cancel_when: {event: deleted}
""",
        ),
        environ={},
    ).sources
    dnc = Record(key=None, fields={"DoNotCall": "true", "Status": "Open"})
    assert routing.lifecycle(sources["sf"].lifecycle, dnc) is None
    assert routing.lifecycle(sources["sf2"].lifecycle, dnc) is None
    assert matched(sources["sf"].lifecycle, {"Status": "Do Not Contact"}).opt_out
    form = sources["form"].lifecycle
    assert matched(form, {"reply": "  Opt Out! "}).rule == "opt_out_when[0]"
    assert matched(form, {"status": "opted_out"}).rule == "opt_out_when[1]"
    change = matched(form, {"event": "deleted"})
    assert change.cancel and not change.opt_out and not change.erase


@pytest.mark.parametrize(
    "rule, problem",
    [
        ("opt_out_when: {Body: {stop_wrd: true}}", "did you mean `stop_word`?"),
        ("opt_out_when: {Body: {stop_word: yes please}}", "stop_word: must be true or false"),
        ("cancel_when: [deleted]", "cancel_when[0]: must be a non-empty mapping"),
        ("cancel_when: {}", "cancel_when: must be a non-empty mapping"),
        ("erase_when: {x: {matches: '('}}", "bad regular expression"),
    ],
)
def test_bad_rules_fail_at_start_naming_the_key(tmp_path, rule, problem):
    """A malformed lifecycle rule is a ConfigError naming file, key and what is wrong."""
    path = write(tmp_path, f"sources:\n  form:\n    type: generic\n    token: t0k3n-long-enough-1234\n    {rule}\n")
    with pytest.raises(ConfigError) as caught:
        load_file(path, environ={})
    text = str(caught.value)
    assert path in text and "sources.form" in text and problem in text

"""The DNC list and lead-action client against the fake Engage on a real socket."""

from __future__ import annotations

import pytest

from engage.errors import LookupUnsupported, Throttled, Unavailable
from engage.lists import EngageLists, dnc_number, search_criteria


@pytest.fixture
def lists(client) -> EngageLists:
    """The lists client over an EngageClient with its own token."""
    return EngageLists(client)


def load(client, campaign, *leads):
    """Load (extern, phone) leads into a campaign through the real loader call."""
    client.load_leads(
        campaign,
        [{"externId": e, "leadPhone": p} for e, p in leads],
        dial_priority="IMMEDIATE",
        description="t",
    )


def test_numbers_are_split_into_national_digits_and_country():
    """Engage keys the DNC list by national digits and an alpha-3 country id."""
    assert dnc_number("+13035550142") == dnc_number("+1 303 555 0142")
    assert (dnc_number("+13035550142").phone, dnc_number("+13035550142").country) == ("3035550142", "USA")
    assert dnc_number("+442079460958").country == "GBR"
    with pytest.raises(ValueError, match=r"E\.164"):
        dnc_number("not a phone")


def test_add_then_search_then_add_again(lists, fake):
    """One POST lists the number under the tag; search finds it; a second add is a 409 that counts as added."""
    entry = lists.dnc_add("+13035550142", "GLOBAL", "asked by SMS")
    assert entry["phone"] == "3035550142" and entry["dncTag"]["dncTagLabel"] == "GLOBAL" and entry["addedDate"]
    assert lists.dnc_search(["+13035550142", "+13035550143"]) == {"+13035550142"}
    assert lists.dnc_search(["+13035550142"], tag="OTHER") == set()
    assert lists.dnc_add("+13035550142")["already"] is True
    assert [e["duplicate"] for e in fake.dnc_log()] == [False, True]


def test_upload_lists_many_numbers_in_one_call(lists, fake):
    """uploadDncFile carries a CSV of national numbers; every one is listed once."""
    numbers = [f"+1720555{i:04d}" for i in range(120)]
    answers = lists.dnc_upload(numbers, "IMPORT")
    assert answers["USA"]["recordsAdded"] == 120
    assert fake.stats()["dnc_uploads"] == 1 and len(fake.dnc_entries("IMPORT")) == 120


def test_cancel_names_externids_campaigns_and_numbers(lists, client, fake, hot):
    """CANCEL_LEADS by criteria: only the lead matching externId AND campaign AND number is cancelled."""
    other = fake.campaign_id("Inbound Leads")
    load(client, hot, ("E1", "3035550001"), ("E2", "3035550002"))
    load(client, other, ("E1", "3035559999"))  # the same externId from another source
    lists.lead_action("CANCEL_LEADS", search_criteria(["E1"], [hot], ["3035550001"]))
    rows = lists.lead_states(search_criteria(["E1", "E2"], [hot, other], []))
    states = {(r["externId"], r["campaignId"]): r["leadState"] for r in rows}
    assert states == {("E1", hot): "CANCELLED", ("E2", hot): "READY", ("E1", other): "READY"}
    assert sorted(lead["extern_id"] for lead in fake.dialable()) == ["E1", "E2"]


def test_delete_removes_the_lead_from_search(lists, client, fake, hot):
    """DELETE_LEADS: the lead is gone from leadSearch (call data would stay in Engage)."""
    load(client, hot, ("E1", "3035550001"))
    lists.lead_action("DELETE_LEADS", search_criteria(["E1"], [hot], ["3035550001"]))
    assert lists.lead_states(search_criteria(["E1"], [hot], [])) == []


def test_a_lead_action_never_goes_without_criteria(lists):
    """Empty criteria would act on every lead of the account: refused before sending."""
    with pytest.raises(ValueError, match="never every lead"):
        lists.lead_action("CANCEL_LEADS", {"campaignIds": [1]})


def test_faults_map_to_the_dispatchers_errors(lists, fake):
    """429 carries Retry-After; 503 is an outage; a refused search is LookupUnsupported."""
    fake.set_fault(lists_status=429, lists_status_count=1, retry_after=2)
    with pytest.raises(Throttled) as throttled:
        lists.dnc_add("+13035550142")
    assert throttled.value.retry_after == 2.0
    fake.set_fault(lists_status=503, lists_status_count=1)
    with pytest.raises(Unavailable) as down:
        lists.dnc_add("+13035550142")
    assert down.value.fate_unknown is False
    fake.set_fault(lists_status=403, lists_status_count=1)
    with pytest.raises(LookupUnsupported):
        lists.dnc_search(["+13035550142"])


def test_the_dnc_endpoints_have_their_own_window(lists, fake):
    """The fake enforces 120 / 60 s on dncLists (undocumented limit; the admin APIs' usual one)."""
    for i in range(120):
        lists.dnc_search([f"+1303555{i:04d}"])
    with pytest.raises(Throttled):
        lists.dnc_search(["+13035550142"])
    assert fake.stats()["dnc_429"] == 1

"""CampaignDirectory: ids pass through, names resolve from one cached enumeration, refresh on demand."""

from __future__ import annotations

import pytest

from engage.campaigns import CampaignDirectory, as_campaign_id
from engage.errors import CampaignError


def enumerations(fake) -> int:
    """How many dial-group listings the fake has served."""
    return fake.stats()["api_calls"]


@pytest.mark.parametrize("value, expected", [(42, 42), ("42", 42), (" 7 ", 7), ("Hot", None), (True, None)])
def test_as_campaign_id(value, expected):
    assert as_campaign_id(value) == expected


def test_ids_resolve_without_calling_engage(client, fake):
    directory = CampaignDirectory(client)
    assert directory.resolve(136999) == 136999
    assert directory.resolve("136998") == 136998
    assert enumerations(fake) == 0


def test_names_exact_then_case_insensitive_and_cached(client, fake):
    directory = CampaignDirectory(client)
    hot = fake.campaign_id("Hot Inbound")
    assert directory.resolve("Hot Inbound") == hot
    assert directory.resolve("hot inbound") == hot
    assert directory.resolve("Inbound Leads") == fake.campaign_id("Inbound Leads")
    assert enumerations(fake) == 2  # one dialGroups + one campaigns call, then the cache


def test_exact_case_wins_over_case_insensitive(client, fake):
    exact = fake.add_campaign("hot inbound", dial_group="Other")
    directory = CampaignDirectory(client)
    assert directory.resolve("hot inbound") == exact
    assert directory.resolve("Hot Inbound") == fake.campaign_id("Hot Inbound")
    with pytest.raises(CampaignError, match="ambiguous"):
        directory.resolve("HOT INBOUND")


def test_unknown_name_lists_known_names(client, fake):
    directory = CampaignDirectory(client, min_refresh_interval=3600)
    with pytest.raises(CampaignError) as info:
        directory.resolve("Nope")
    assert "'Hot Inbound'" in info.value.message and "'Inbound Leads'" in info.value.message
    assert info.value.campaign == "Nope"


def test_new_campaign_found_after_refresh(client, fake):
    directory = CampaignDirectory(client, min_refresh_interval=3600)
    directory.resolve("Hot Inbound")
    new = fake.add_campaign("Webinar")
    with pytest.raises(CampaignError):
        directory.resolve("Webinar")  # cache is recent: no re-enumeration per unknown lead
    directory.refresh()
    assert directory.resolve("Webinar") == new


def test_unknown_name_triggers_one_refresh_when_cache_is_old(client, fake):
    directory = CampaignDirectory(client, min_refresh_interval=0)
    directory.resolve("Hot Inbound")
    new = fake.add_campaign("Late Campaign")
    assert directory.resolve("Late Campaign") == new


def test_refresh_after_campaign_removed(client, fake):
    directory = CampaignDirectory(client, min_refresh_interval=3600)
    hot = directory.resolve("Hot Inbound")
    fake.remove_campaign(hot)
    moved = fake.add_campaign("Hot Inbound", dial_group="Hot")
    assert directory.resolve("Hot Inbound") == hot  # stale until told
    directory.refresh()
    assert directory.resolve("Hot Inbound") == moved

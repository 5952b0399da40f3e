"""EngageClient.load_leads and enumeration against the fake on a real socket, one case per scope."""

from __future__ import annotations

import email.utils
import time

import pytest

from engage.errors import AuthError, BatchRejected, CampaignError, Throttled, Unavailable


def lead(extern_id: str, phone: str = "4155550100", **extra) -> dict:
    """A minimal Engage lead."""
    return {"externId": extern_id, "leadPhone": phone, **extra}


def load(client, campaign_id, leads, **kw):
    """load_leads with the options every test would repeat."""
    kw.setdefault("dial_priority", "IMMEDIATE")
    kw.setdefault("description", "leadrelay test")
    return client.load_leads(campaign_id, leads, **kw)


def test_success_records_the_lead(client, fake, hot):
    before = time.time()
    result = load(client, hot, [lead("A1", firstName="Ada"), lead("A2", "4155550101|+442071838750")])
    assert result.status == 200 and result.ok and not result.general_failure
    assert result.accepted_extern_ids == ["A1", "A2"] and result.rejected == {}
    assert result.raw["processingStatus"] == "DEFAULT_NOT_A_FAILURE" and result.raw["leadsAccepted"] == 2
    assert 0 < result.elapsed < 2
    leads = fake.leads()
    assert [x["extern_id"] for x in leads] == ["A1", "A2"]
    first = leads[0]
    assert first["campaign_id"] == hot and first["dial_priority"] == "IMMEDIATE"
    assert first["duplicate_handling"] == "REMOVE_FROM_LIST" and first["description"] == "leadrelay test"
    assert first["request_no"] == 1 and first["lead"]["firstName"] == "Ada"
    assert before <= first["received_at"] <= time.time()


def test_rejected_rows_matched_by_extern_id(client, fake, hot):
    fake.set_fault(reject_extern_ids=["B2"], reject_phones=["4155550199"])
    leads = [lead("B1"), lead("B2"), lead("B3", "555"), lead("B4", "4155550199"), lead("B5")]
    result = load(client, hot, leads)
    assert result.accepted_extern_ids == ["B1", "B5"]
    assert set(result.rejected) == {"B2", "B3", "B4"}
    assert "leadPhone" in result.rejected["B3"]
    assert result.unmatched_rejections == []
    assert [x["extern_id"] for x in fake.leads()] == ["B1", "B5"]


def test_no_leads_passed_validation(client, hot):
    result = load(client, hot, [lead("C1", "12"), lead("C2", "")])
    assert result.processing_status == "NO_LEADS_PASSED_VALIDATION" and result.processing_result == "Failed"
    assert result.accepted_extern_ids == [] and set(result.rejected) == {"C1", "C2"}


def test_general_failure(client, fake, hot):
    fake.set_fault(general_failure=1)
    result = load(client, hot, [lead("D1")])
    assert result.general_failure and not result.ok
    assert result.accepted_extern_ids == [] and result.rejected == {}
    assert fake.leads() == []
    assert load(client, hot, [lead("D1")]).accepted_extern_ids == ["D1"]


def test_created_with_empty_body_is_success(client, fake, hot):
    fake.set_fault(created_empty=1)
    result = load(client, hot, [lead("E1"), lead("E2")])
    assert result.status == 201 and result.raw is None
    assert result.accepted_extern_ids == ["E1", "E2"]


def test_whole_batch_400(client, fake, hot):
    fake.set_fault(batch_400=1)
    with pytest.raises(BatchRejected) as info:
        load(client, hot, [lead("F1")])
    assert info.value.status == 400 and "rejected" in info.value.body


def test_bad_enum_is_a_batch_400(client, hot):
    with pytest.raises(BatchRejected) as info:
        load(client, hot, [lead("F2")], dial_priority="URGENT")
    assert "dialPriority" in info.value.body


def test_unknown_campaign_404(client, fake):
    with pytest.raises(CampaignError) as info:
        load(client, 999999, [lead("G1")])
    assert (info.value.status, info.value.campaign_id) == (404, 999999)


def test_campaign_403(client, fake, hot):
    fake.set_fault(campaign_status={hot: 403})
    with pytest.raises(CampaignError) as info:
        load(client, hot, [lead("G2")])
    assert (info.value.status, info.value.campaign_id) == (403, hot)


@pytest.mark.parametrize("header, expected", [(None, None), (7, 7.0)])
def test_429(client, fake, hot, header, expected):
    fake.set_fault(rate_limits=[[1, 10]], retry_after=header)
    load(client, hot, [lead("H1")])
    with pytest.raises(Throttled) as info:
        load(client, hot, [lead("H2")])
    assert info.value.status == 429 and info.value.retry_after == expected
    assert fake.stats()["loader_429"] == 1


def test_429_with_http_date(client, fake, hot):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    fake.set_fault(rate_limits=[[0, 10]], retry_after=when)
    with pytest.raises(Throttled) as info:
        load(client, hot, [lead("H3")])
    assert info.value.retry_after is not None and 25 <= info.value.retry_after <= 31


def test_500_is_unavailable(client, fake, hot):
    fake.set_fault(force_status=500)
    with pytest.raises(Unavailable) as info:
        load(client, hot, [lead("I1")])
    assert info.value.status == 500


def test_forced_status_for_next_n_calls(client, fake, hot):
    fake.set_fault(force_status=503, force_status_count=2)
    for _ in range(2):
        with pytest.raises(Unavailable):
            load(client, hot, [lead("I2")])
    assert load(client, hot, [lead("I2")]).accepted_extern_ids == ["I2"]
    assert fake.stats()["loader_status_counts"] == {"200": 1, "503": 2}


def test_connection_refused_then_back(client, server, hot):
    assert load(client, hot, [lead("J1")]).ok  # leaves a pooled keep-alive connection
    server.stop()
    with pytest.raises(Unavailable) as info:
        load(client, hot, [lead("J2")])
    assert info.value.status is None
    server.start()  # same port again
    assert load(client, hot, [lead("J3")]).accepted_extern_ids == ["J3"]


def test_read_timeout(make_client, fake, hot):
    client = make_client(read_timeout=0.3)
    client.auth.headers()  # log in first so only the loader call can time out
    fake.set_fault(hang=5)
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        load(client, hot, [lead("K1")])
    assert time.monotonic() - started < 2
    assert "timeout" in info.value.message
    fake.clear_faults()
    assert load(client, hot, [lead("K2")]).ok


def test_hang_after_recording_means_the_lead_landed(make_client, fake, hot):
    client = make_client(read_timeout=0.3)
    client.auth.headers()
    fake.set_fault(hang=5, hang_after=True, hang_count=1)
    with pytest.raises(Unavailable):
        load(client, hot, [lead("K3")])
    assert [x["extern_id"] for x in fake.leads()] == ["K3"]  # at-least-once: a resend would duplicate


def test_401_refreshes_once_and_retries(client, fake, hot):
    load(client, hot, [lead("M0")])
    fake.set_fault(force_401=1)
    result = load(client, hot, [lead("M1")])
    assert result.accepted_extern_ids == ["M1"]
    stats = fake.stats()
    assert (stats["loader_calls"], stats["refreshes"], stats["exchanges"]) == (3, 1, 1)


def test_expired_token_on_the_server(client, fake, hot):
    load(client, hot, [lead("M2")])
    fake.expire_tokens()  # the client still believes its token is fresh
    assert load(client, hot, [lead("M3")]).ok
    assert fake.stats()["status_counts"]["401"] == 1


def test_two_401s_is_an_auth_error(client, fake, hot):
    client.auth.headers()
    fake.set_fault(force_401=2)
    with pytest.raises(AuthError) as info:
        load(client, hot, [lead("M4")])
    assert info.value.status == 401 and "expired" in info.value.body
    assert fake.stats()["loader_calls"] == 2


def test_enumeration_shapes(client, fake):
    accounts = client.accounts()
    assert accounts[0]["accountId"] == fake.account_id
    groups = client.dial_groups()
    assert groups[0]["dialGroupName"] == "Inbound" and groups[0]["isActive"] is True
    campaigns = client.campaigns(groups[0]["dialGroupId"])
    assert [c["campaignName"] for c in campaigns] == ["Inbound Leads", "Hot Inbound"]
    assert campaigns[0]["isActive"] == 1 and campaigns[0]["dialGroup"]["id"] == groups[0]["dialGroupId"]
    fake.add_campaign("Outbound Renewals", dial_group="Outbound")
    every = client.all_campaigns()
    assert [(c["campaignName"], c["dialGroupName"]) for c in every] == [
        ("Inbound Leads", "Inbound"),
        ("Hot Inbound", "Inbound"),
        ("Outbound Renewals", "Outbound"),
    ]


def test_wrong_account_is_an_account_error(make_client, make_auth, server, fake):
    from engage.client import EngageClient

    client = EngageClient(server.url, "99999", make_auth())
    with pytest.raises(AuthError) as info:
        client.dial_groups()
    assert info.value.status == 404


def test_tilde_account_is_refused(make_auth, server):
    from engage.client import EngageClient

    with pytest.raises(ValueError):
        EngageClient(server.url, "~", make_auth())

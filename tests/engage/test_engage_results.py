"""Pure parsing: rejected-row matching, GENERAL_FAILURE, Retry-After, error text."""

from __future__ import annotations

import email.utils

import pytest

from engage.errors import CampaignError, EngageError, Throttled, parse_retry_after
from engage.results import parse_load_result

SENT = [
    {"externId": "a", "leadPhone": "4155550100"},
    {"externId": "b", "leadPhone": "4155550101"},
    {"externId": "c", "leadPhone": "4155550102"},
]


def test_empty_body_means_all_accepted():
    result = parse_load_result(201, None, SENT)
    assert result.accepted_extern_ids == ["a", "b", "c"] and result.raw is None and result.ok


def test_extern_id_found_anywhere_in_row_data():
    body = {
        "processingStatus": "DEFAULT_NOT_A_FAILURE",
        "rejectedRows": [{"message": "bad phone", "rowData": ["Ada", "4155550101", "b"]}],
    }
    result = parse_load_result(200, body, SENT)
    assert result.rejected == {"b": "bad phone"} and result.accepted_extern_ids == ["a", "c"]


def test_unmatched_rejection_is_noted_and_leads_stay_accepted():
    body = {
        "processingStatus": "DEFAULT_NOT_A_FAILURE",
        "rejectedRows": [{"message": "dnc", "rowData": ["zzz", "5555555555"]}],
    }
    result = parse_load_result(200, body, SENT)
    assert result.accepted_extern_ids == ["a", "b", "c"] and result.rejected == {}
    assert result.unmatched_rejections == [{"message": "dnc", "rowData": ["zzz", "5555555555"]}]


def test_general_failure_without_rows():
    result = parse_load_result(200, {"processingStatus": "GENERAL_FAILURE", "rejectedRows": []}, SENT)
    assert result.general_failure and result.accepted_extern_ids == [] and result.rejected == {}


def test_general_failure_with_rows_is_per_row():
    body = {"processingStatus": "GENERAL_FAILURE", "rejectedRows": [{"message": "x", "rowData": ["a"]}]}
    result = parse_load_result(200, body, SENT)
    assert not result.general_failure and result.rejected == {"a": "x"}


def test_no_leads_passed_rejects_unreported_leads():
    body = {"processingStatus": "NO_LEADS_PASSED_VALIDATION", "rejectedRows": [{"message": "x", "rowData": ["a"]}]}
    result = parse_load_result(200, body, SENT)
    assert result.accepted_extern_ids == [] and set(result.rejected) == {"a", "b", "c"}


def test_numeric_row_values_match_string_extern_ids():
    body = {"rejectedRows": [{"message": "x", "rowData": [17, None]}]}
    result = parse_load_result(200, body, [{"externId": "17", "leadPhone": "4155550100"}])
    assert result.rejected == {"17": "x"}


@pytest.mark.parametrize(
    "value, expected", [(None, None), ("", None), ("5", 5.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None)]
)
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    assert parse_retry_after(email.utils.formatdate(1_000_060, usegmt=True), now=1_000_000) == pytest.approx(60)


def test_error_fields_and_truncation():
    err = Throttled("slow down", status=429, body="x" * 2000, retry_after=3)
    assert err.status == 429 and err.retry_after == 3 and len(err.body) <= 501 and "429" in str(err)
    assert isinstance(CampaignError("gone", campaign_id=5, status=404), EngageError)
    assert CampaignError("gone", campaign_id=5).campaign == 5

"""Routing: first match wins, operator table, numbers compared as numbers, lead.<field> lookups."""

from __future__ import annotations

import pytest

from config import Route
from handlers.base import Record
from routing import choose, holds_all

FIELDS = {
    "hubspotscore": "87",
    "lifecyclestage": "salesqualifiedlead",
    "tags": ["vip", "webinar"],
    "nested": {"score": 12},
    "empty": "",
    "country": "United States",
}
LEAD = {"zip": "80202", "leadPhone": "3035550142"}


@pytest.mark.parametrize(
    "cond, expected",
    [
        ({"hubspotscore": 87}, True),
        ({"hubspotscore": "87.0"}, True),
        ({"hubspotscore": {"gte": 80}}, True),
        ({"hubspotscore": {"gt": 87}}, False),
        ({"hubspotscore": {"lt": 100, "gt": 50}}, True),
        ({"lifecyclestage": {"in": ["salesqualifiedlead", "opportunity"]}}, True),
        ({"lifecyclestage": {"not_in": ["customer"]}}, True),
        ({"lifecyclestage": {"ne": "customer"}}, True),
        ({"lifecyclestage": {"eq": "customer"}}, False),
        ({"lifecyclestage": {"matches": "^sales"}}, True),
        ({"country": {"contains": "States"}}, True),
        ({"tags": {"contains": "vip"}}, True),
        ({"missing": {"exists": False}}, True),
        ({"empty": {"exists": True}}, False),
        ({"missing": {"gte": 1}}, False),
        ({"lifecyclestage": {"gte": 1}}, False),  # not a number → false, never an error
        ({"nested.score": {"lte": 12}}, True),
        ({"lead.zip": "80202"}, True),
        ({"lead.leadPhone": {"matches": "^303"}}, True),
        ({"hubspotscore": {"gte": 80}, "lifecyclestage": "customer"}, False),  # all must hold
    ],
)
def test_conditions(cond, expected):
    """Each operator behaves as documented."""
    routes = [
        Route(when=cond, priority="IMMEDIATE", campaign="Hot"),
        Route(when={}, priority="NORMAL", campaign="Cold"),
    ]
    decision = choose(routes, Record(key=None, fields=FIELDS), LEAD)
    assert (decision.priority == "IMMEDIATE") is expected


def test_first_match_wins_and_drop():
    """Order matters, and a drop route drops."""
    routes = [
        Route(when={"lifecyclestage": "salesqualifiedlead"}, priority="NORMAL", campaign="A", drop=True),
        Route(when={"hubspotscore": {"gte": 80}}, priority="IMMEDIATE", campaign="B"),
        Route(when={}, priority="NORMAL", campaign="C"),
    ]
    decision = choose(routes, Record(key=None, fields=FIELDS), LEAD)
    assert decision.drop and decision.campaign == "A" and decision.route_index == 0


@pytest.mark.parametrize(
    "value, expected",
    [
        ("STOP", True),
        ("stop", True),
        (" Stop. ", True),
        ("opt out", True),
        ("OptOut", True),
        ("o p t-o u t", True),
        ("Unsubscribe!", True),
        ("quit", True),
        ("END", True),
        ("revoke", True),
        ("cancel", True),
        ("stop calling me", False),
        ("stopp", False),
        ("", False),
        (None, False),
        (["STOP"], False),
        (True, False),
    ],
)
def test_stop_word(value, expected):
    """`stop_word: true` holds for the FCC's revocation words only; `false` is its negation."""
    fields = {} if value is None else {"Body": value}
    record = Record(key=None, fields=fields)
    assert holds_all({"Body": {"stop_word": True}}, record) is expected
    assert holds_all({"Body": {"stop_word": False}}, record) is (not expected)

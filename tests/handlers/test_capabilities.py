"""Optional sender capabilities are declared on the source type (handlers/base.py), not guessed."""

import pytest

from handlers import base as handler_base
from handlers.base import Inbound, SourceSettings, SourceType

# The product's own types (other test modules register throw-away types of their own).
TYPES = {name: t for name, t in handler_base.load_all().items() if type(t).__module__.startswith("handlers.")}


def test_fetching_types_are_declared():
    """`fetches` is what callers read; a type that says it fetches overrides the base's `fetch`."""
    declared = {name for name, t in TYPES.items() if t.fetches}
    defined = {name for name, t in TYPES.items() if type(t).fetch is not SourceType.fetch}
    assert declared == defined == {"facebook", "hubspot", "pipedrive"}


def test_the_base_fetch_refuses():
    """A type without the capability cannot be asked to fetch by mistake."""
    with pytest.raises(NotImplementedError, match="does not fetch"):
        TYPES["generic"].fetch(None, None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(TYPES))
def test_fetch_rate_only_on_fetching_types(name):
    stype = TYPES[name]
    rate = stype.fetch_rate
    assert (rate is not None) == stype.fetches
    if rate is not None:
        assert rate[0] > 0 and rate[1] > 0


def test_defaults_of_a_type_without_capabilities():
    stype = TYPES["generic"]
    source = SourceSettings(name="g", type="generic")
    request = Inbound(
        method="GET",
        url="http://127.0.0.1/webhooks/g",
        path="/webhooks/g",
        query={},
        headers={},
        body=b"",
        remote_addr="203.0.113.9",
    )
    assert stype.handshake(source, request) is None
    assert stype.reply(source, request, 200, {"status": "accepted"}) is None
    assert stype.client_address(source, request) == "203.0.113.9"
    assert stype.shared_limits(source, request, []) == []


def test_overridden_capabilities():
    overridden = {
        name
        for name, t in TYPES.items()
        for hook in ("handshake", "reply", "client_address", "shared_limits")
        if getattr(type(t), hook) is not getattr(SourceType, hook)
    }
    assert {"facebook", "html_form", "salesforce"} <= overridden


def test_only_dialer_event_types_make_no_leads():
    """`makes_leads` is False exactly for the dialer's own events: intake records those as attempts."""
    assert {name for name, t in TYPES.items() if not t.makes_leads} == {"ringcx"}

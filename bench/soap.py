"""Salesforce outbound messages with many Notifications, built from the fixture's one notification."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from bench.payloads import phone_number

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "data" / "salesforce" / "outbound_lead_hot.xml"
OPEN, CLOSE = "   <Notification>", "</Notification>\n"
# Values of the fixture's notification that change per lead (each must occur exactly once in it).
NOTE_ID, RECORD_ID = "<Id>04l5e00000AbCdEAAX</Id>", "<sf:Id>00Q5e00000AbCdEFGH</sf:Id>"
PHONE, MOBILE = "<sf:Phone>(303) 555-0142 ext. 12</sf:Phone>", "<sf:MobilePhone>+1 720 555 0117</sf:MobilePhone>"
RATING, SCORE = "<sf:Rating>Hot</sf:Rating>", "<sf:Lead_Score__c>91</sf:Lead_Score__c>"
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}  # as the fixture's meta says
ACK_MARK = b"<Ack>true</Ack>"


def _split_fixture() -> tuple[str, str, str]:
    """(envelope head, one Notification element, envelope tail) of the fixture, as text."""
    text = FIXTURE.read_text()
    start = text.index(OPEN)
    end = text.index(CLOSE, start) + len(CLOSE)
    note = text[start:end]
    for marker in (NOTE_ID, RECORD_ID, PHONE, MOBILE, RATING, SCORE):
        if note.count(marker) != 1:
            raise RuntimeError(f"fixture changed: {marker!r} is not in its Notification exactly once")
    return text[:start], note, text[end:]


def _dial(number: str) -> str:
    """A ten-digit number written the way Salesforce users type it: (720) 201-0042."""
    return f"({number[:3]}) {number[3:6]}-{number[6:]}"


class MessageFactory:
    """Builds messages of `per_message` notifications; ids are 18 characters and new per lead."""

    def __init__(self, per_message: int, hot_every: int | None = 10) -> None:
        """Split the fixture once; a per-run base keeps ids distinct across runs as well."""
        self.head, self.note, self.tail = _split_fixture()
        self.per_message, self.hot_every = per_message, hot_every
        self.base = int(time.time()) % 100_000

    def notification(self, n: int) -> str:
        """Notification number `n`: own Notification Id (the idempotency key), sf:Id (externId) and phones."""
        hot = self.hot_every is None or n % self.hot_every == 0
        return (
            self.note.replace(NOTE_ID, f"<Id>04l{self.base:05d}{n:010d}</Id>")
            .replace(RECORD_ID, f"<sf:Id>00Q{self.base:05d}{n:010d}</sf:Id>")
            .replace(PHONE, f"<sf:Phone>{_dial(phone_number(n))} ext. 12</sf:Phone>")
            .replace(MOBILE, f"<sf:MobilePhone>+1 {_dial(phone_number(n + 4_000_000))}</sf:MobilePhone>")
            # One in `hot_every` routes IMMEDIATE (Rating: Hot), like the HubSpot ack scenario.
            .replace(RATING, RATING if hot else "<sf:Rating>Warm</sf:Rating>")
            .replace(SCORE, SCORE if hot else "<sf:Lead_Score__c>35</sf:Lead_Score__c>")
        )

    def message(self, number: int) -> bytes:
        """Message number `number`: notifications number × per_message … + per_message − 1."""
        first = number * self.per_message
        notes = "".join(self.notification(n) for n in range(first, first + self.per_message))
        return (self.head + notes + self.tail).encode()

    def batch(self, start: int, count: int) -> list[bytes]:
        """`count` messages from message number `start`."""
        return [self.message(m) for m in range(start, start + count)]


def is_ack(response: requests.Response) -> bool:
    """Salesforce's success test: HTTP 200 with `<Ack>true</Ack>` in the SOAP body."""
    return response.status_code == 200 and ACK_MARK in response.content

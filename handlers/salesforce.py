"""Salesforce Outbound Messages: SOAP 1.1 `notifications`, OrganizationId check, and the SOAP Ack.

Parsed with defusedxml: a DTD, an entity declaration or an external reference is refused
(Malformed), so XXE and entity bombs never expand. One Record per `Notification` (up to 100):
fields = every `sf:<Field>` child of the sObject by API name (`xsi:nil` → None), plus
`sObjectType` (from `xsi:type`, e.g. "Lead"), `OrganizationId`, `ActionId` and
`NotificationId`. Key: the Notification `Id` (the delivery id Salesforce repeats on retry);
event: the sObject type. externId (mapping) is `sf:Id`.

Auth: the message's OrganizationId must match the configured `organization_id` (15- or
18-character form, either way round). An org id is not a secret, so a `token` in the URL is
recommended too. When a token is configured it is required (the public org id never stands in
for it) and the org id is still checked by parse (a mismatch is stored malformed, never
dialed); a malformed body with the right token is stored (and acknowledged).

Answer: once stored, always HTTP 200 with `<Ack>true</Ack>` — a non-Ack makes Salesforce
retry for 24 hours, which gains nothing for a stored message. A 401 stays a 401.
"""

from __future__ import annotations

from typing import Any, ClassVar
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from marshmallow import Schema

from handlers.auth import TOKEN_HEADER, TOKEN_QUERY, Secrets
from handlers.base import (
    AuthFailure,
    Inbound,
    Malformed,
    Record,
    Reply,
    SourceSettings,
    SourceType,
    register,
    secrets_equal,
)

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
ACK_CONTENT_TYPE = "text/xml; charset=utf-8"
# Byte for byte the notificationsResponse of Salesforce's outbound-message WSDL.
ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">\n'
    b" <soapenv:Body>\n"
    b'  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">\n'
    b"   <Ack>true</Ack>\n"
    b"  </notificationsResponse>\n"
    b" </soapenv:Body>\n"
    b"</soapenv:Envelope>"
)
ORG_ID_LENGTHS = (15, 18)


class SalesforceOptions(Schema):
    """Salesforce's own config keys: the org id(s) messages must come from."""

    organization_id = Secrets()  # a list is allowed (sandbox + production on one endpoint)


def local(tag: Any) -> str:
    """An element's name without its namespace."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def child(element: Element, name: str) -> Element | None:
    """The first direct child with this local name."""
    return next((c for c in element if local(c.tag) == name), None)


def text_of(element: Element | None) -> str | None:
    """An element's text, stripped; None when absent, nil or empty."""
    if element is None or element.get(XSI_NIL) == "true":
        return None
    text = (element.text or "").strip()
    return text or None


def read_envelope(body: bytes) -> Element:
    """Parse the SOAP body safely and return its `notifications` element; raise Malformed."""
    if not body.strip():
        raise Malformed("empty body")
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise Malformed(f"refused XML: {type(exc).__name__}") from exc
    except (ParseError, ValueError) as exc:
        raise Malformed(f"invalid XML: {exc}") from exc
    found = next((e for e in root.iter() if local(e.tag) == "notifications"), None)
    if found is None:
        raise Malformed("not a Salesforce outbound message (no notifications element)")
    return found


def org_matches(configured: list[str], given: str | None) -> bool:
    """Compare on the case-sensitive 15-character id, whichever form each side uses."""
    if not given or len(given) not in ORG_ID_LENGTHS:
        return False
    matched = False
    for org in configured:
        # Checked for every configured id so the time taken does not say which one matched.
        matched |= len(org) in ORG_ID_LENGTHS and secrets_equal(org[:15], given[:15])
    return matched


def sobject_fields(sobject: Element | None) -> dict[str, Any]:
    """Every field of the sObject by API name; nested elements (rare) become dicts."""
    fields: dict[str, Any] = {}
    if sobject is None:
        return fields
    kind = sobject.get(XSI_TYPE) or ""
    fields["sObjectType"] = kind.split(":", 1)[-1] or None
    for element in sobject:
        name = local(element.tag)
        fields[name] = sobject_fields_nested(element) if len(element) else text_of(element)
    return fields


def sobject_fields_nested(element: Element) -> dict[str, Any]:
    """A nested element (e.g. a relationship) as a dict of its children."""
    return {local(c.tag): (sobject_fields_nested(c) if len(c) else text_of(c)) for c in element}


@register
class Salesforce(SourceType):
    """Salesforce Outbound Messages (workflow rules and flows), answered with the SOAP Ack."""

    name = "salesforce"
    # Lead and Contact both have the standard boolean `DoNotCall` ("Do Not Call"; Salesforce field
    # reference); an Outbound Message sends it as "true"/"false" when the message selects it.
    lifecycle_defaults: ClassVar[dict[str, list[dict[str, Any]]]] = {"opt_out_when": [{"DoNotCall": True}]}
    retries = True
    max_records = 100  # Outbound Messaging sends at most 100 notifications per message
    options_schema = SalesforceOptions

    def has_own_auth(self, source: SourceSettings) -> bool:
        """Whether an organization id is configured."""
        return bool(source.options.get("organization_id"))

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """The message's OrganizationId must be the configured org; raise AuthFailure."""
        if source.tokens:
            # Reached only when the token check failed. The org id is public, so it must not
            # stand in for a configured token; with a token, parse() still checks the org.
            offered = request.header(TOKEN_HEADER) is not None or request.query_value(TOKEN_QUERY) is not None
            raise AuthFailure("invalid_token" if offered else "missing_token")
        configured = source.options.get("organization_id") or []
        if not configured:
            raise AuthFailure("invalid_organization", "no organization_id configured")
        try:
            notifications = read_envelope(request.body)
        except Malformed as exc:
            # Without a token the org id is the only credential: an unreadable body cannot show it.
            raise AuthFailure("missing_organization", str(exc)) from exc
        given = text_of(child(notifications, "OrganizationId"))
        if given is None:
            raise AuthFailure("missing_organization", "OrganizationId is missing")
        if not org_matches(configured, given):
            raise AuthFailure("invalid_organization", "OrganizationId does not match organization_id")

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """One Record per Notification; raise Malformed for anything that is not an outbound message."""
        notifications = read_envelope(request.body)
        org = text_of(child(notifications, "OrganizationId"))
        configured = source.options.get("organization_id") or []
        if configured and not org_matches(configured, org):
            # Reached only when a `token` let the request in: keep it (stored, acked) but never dial it.
            raise Malformed("OrganizationId does not match organization_id")
        common = {"OrganizationId": org, "ActionId": text_of(child(notifications, "ActionId"))}
        records = []
        for note in (n for n in notifications if local(n.tag) == "Notification"):
            note_id = text_of(child(note, "Id"))
            fields = sobject_fields(child(note, "sObject"))
            fields.update(common)
            fields["NotificationId"] = note_id
            records.append(Record(key=note_id, fields=fields, event=fields.get("sObjectType")))
        if not records:
            raise Malformed("the message holds no Notification")
        return records

    def reply(self, source: SourceSettings, request: Inbound, status: int, body: dict[str, Any]) -> Reply | None:
        """The SOAP Ack whenever the message was stored (body names an event); otherwise intake's answer."""
        if "event_id" not in body:
            return None  # 401, 429 …: nothing stored, Salesforce should retry
        return Reply(200, ACK, ACK_CONTENT_TYPE)

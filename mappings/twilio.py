"""Twilio inbound SMS → who sent it (a twilio record is never a lead: only its lifecycle rules act on it).

Default field map:

    externId   MessageSid      (Twilio's id of the message)
    leadPhone  From            (the number that texted, E.164)

`Body` (the text) stays a field by its name: the default `opt_out_when: {Body: {stop_word: true}}`
reads it.
"""

from __future__ import annotations

from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {"externId": "MessageSid", "leadPhone": "From"}


class TwilioSchema(LeadMappingSchema):
    """The shared gathering (used only to name the sender; twilio records never become leads)."""


Schema = TwilioSchema

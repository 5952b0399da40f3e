"""Lead loader semantics for the fake Engage: request validation, row checks, the answer body."""

from __future__ import annotations

import re
from typing import Any

DIAL_PRIORITIES = {"IMMEDIATE", "NORMAL"}
DUPLICATE_HANDLING = {"RETAIN_ALL", "REMOVE_ALL_EXISTING", "REMOVE_FROM_LIST"}
LIST_STATES = {
    "ACTIVE",
    "PAUSED",
    "PENDING_DNC",
    "LOADING",
    "DELETED",
    "READY",
    "CALLBACKS",
    "CALLBACKS_AGENT",
    "DUPLICATES_NOT_MERGED",
    "DUPLICATES_NOT_MOVED",
    "ARCHIVED",
}
TIME_ZONE_OPTIONS = {"NPA_NXX", "ZIPCODE", "EXPLICIT", "COUNTRY", "NOT_APPLICABLE"}
ENUMS = {
    "dialPriority": DIAL_PRIORITIES,
    "duplicateHandling": DUPLICATE_HANDLING,
    "listState": LIST_STATES,
    "timeZoneOption": TIME_ZONE_OPTIONS,
}
OK_MESSAGE = "Your uploaded lead list has successfully completed processing"
FAILED_MESSAGE = "Your uploaded lead list file processing has failed"
_NANP = re.compile(r"\d{10}")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


class BadRequest(Exception):
    """The whole call is invalid (answered 400)."""


def check_request(body: Any) -> dict[str, Any]:
    """Validate the call-level fields; return the options to record or raise BadRequest."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object (LeadListProcessingRequest)")
    for name, allowed in ENUMS.items():
        value = body.get(name)
        if value is not None and value not in allowed:
            raise BadRequest(f"Invalid value {value!r} for {name}; expected one of {sorted(allowed)}")
    leads = body.get("uploadLeads")
    if leads is None:
        leads = []
    if not isinstance(leads, list):
        raise BadRequest("uploadLeads must be an array of CampaignLead")
    return {
        "dial_priority": body.get("dialPriority") or "NORMAL",
        "duplicate_handling": body.get("duplicateHandling"),
        "list_state": body.get("listState") or "ACTIVE",
        "time_zone_option": body.get("timeZoneOption"),
        "description": body.get("description"),
        "leads": leads,
    }


def dialable(phone: object) -> bool:
    """Every pipe-delimited part is 10 digits (NANP) or E.164 (`+` and digits)."""
    if not isinstance(phone, str) or not phone:
        return False
    return all(_NANP.fullmatch(p) or _E164.fullmatch(p) for p in phone.split("|"))


def row_problem(lead: Any) -> str | None:
    """Why Engage would reject this row, or None when it passes validation."""
    if not isinstance(lead, dict):
        return "Lead must be an object"
    extern_id = lead.get("externId")
    if not isinstance(extern_id, str) or not extern_id:
        return "externId is required and must be a string"
    if not dialable(lead.get("leadPhone")):
        return "Invalid or missing leadPhone"
    e164 = lead.get("leadPhoneE164")
    if e164 is not None and not (isinstance(e164, str) and _E164.fullmatch(e164)):
        return "Invalid leadPhoneE164"
    return None


def row_data(lead: Any) -> list[str]:
    """The rejected row as strings, externId first (as a file row would show it)."""
    if not isinstance(lead, dict):
        return [str(lead)]
    first = ["" if lead.get("externId") is None else str(lead.get("externId"))]
    rest = ["" if v is None else str(v) for k, v in lead.items() if k != "externId" and not isinstance(v, dict)]
    return first + rest


def inserted_count(leads: list[dict], duplicate_handling: str | None) -> int:
    """Leads inserted after in-upload de-duplication by leadPhone (REMOVE_FROM_LIST)."""
    if duplicate_handling != "REMOVE_FROM_LIST":
        return len(leads)
    return len({lead["leadPhone"] for lead in leads})


def result_body(options: dict, supplied: int, accepted: list[dict], rejected_rows: list[dict]) -> dict:
    """A LeadListProcessingResult as the documented example shows it."""
    ok = bool(accepted)
    inserted = inserted_count(accepted, options["duplicate_handling"])
    return {
        "leadsSupplied": supplied,
        "leadsAccepted": len(accepted),
        "leadsInserted": inserted,
        "leadsConverted": inserted,
        "dncReturnedCount": 0,
        "dncUploadCount": 0,
        "internalDncCount": 0,
        "whitelistCount": 0,
        "quotaCount": 0,
        "deletedCount": 0,
        "hasDeletedLeads": False,
        "failedAgentAssignment": 0,
        "listState": options["list_state"],
        "timeZoneOption": options["time_zone_option"],
        "processingResult": "OK" if ok else "Failed",
        "processingStatus": "DEFAULT_NOT_A_FAILURE" if ok else "NO_LEADS_PASSED_VALIDATION",
        "message": OK_MESSAGE if ok else FAILED_MESSAGE,
        "rejectedRows": rejected_rows,
        "uploadFileName": None,
    }


def general_failure_body(options: dict, supplied: int) -> dict:
    """A 200 GENERAL_FAILURE answer with no rows (nothing loaded, nobody to blame)."""
    body = result_body(options, supplied, [], [])
    body.update(processingStatus="GENERAL_FAILURE", leadsAccepted=0, leadsInserted=0, leadsConverted=0)
    return body

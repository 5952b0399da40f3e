"""Salesforce write-back: a completed Task (a logged call) on the Lead or Contact, through the REST sObjects API.

Requests (Salesforce REST API Developer Guide; recorded in tests/data/writeback/salesforce/):
- token: `POST {login_url}/services/oauth2/token` with `grant_type=client_credentials`,
  `client_id`, `client_secret` (the OAuth 2.0 client credentials flow of an External Client App /
  connected app with a run-as user) → `{"access_token", "instance_url", "token_type"}`;
- create: `POST {instance_url}/services/data/{version}/sobjects/Task` → `201 {"id", "success", "errors"}`;
  `WhoId` is the lead's externId (a Lead `00Q…` or Contact `003…` id), `Status: Completed`,
  `TaskSubtype: Call`, `CallType: Outbound`, `CallDurationInSeconds`, `CallDisposition`, and
  `CallObject` = leadrelay's id for the attempt;
- find again: `GET …/query?q=SELECT Id FROM Task WHERE CallObject = '<that id>' LIMIT 1` before
  any retry, so a Task created although its answer was lost is not created twice.
A 401 (expired session) drops the cached token and retries; Salesforce answers an exhausted API
allowance with 403 `REQUEST_LIMIT_EXCEEDED`, retried after `limit_wait` (default 1 h).
The JWT bearer flow is not implemented (it needs an RS256 signing library): use client credentials.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import requests

from crm.base import Outcome, done, failed, judge, retry, send, timeout_of, unknown
from crm.payload import Payload, external_id, outcome_text, summary

DEFAULT_LOGIN = "https://login.salesforce.com"
DEFAULT_VERSION = "v60.0"
# A Lead (00Q) or Contact (003) id, 15 or 18 characters: what a Task's WhoId may name.
_WHO = re.compile(r"^(00Q|003)[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")

_TOKENS: dict[tuple[str, str], dict[str, Any]] = {}
_TOKENS_LOCK = threading.Lock()


def _token(settings: dict[str, Any], session: requests.Session) -> dict[str, Any] | Outcome:
    """The cached access token and instance URL, or a fresh one from the client credentials flow."""
    key = (str(settings.get("login_url") or DEFAULT_LOGIN), str(settings["client_id"]))
    with _TOKENS_LOCK:
        cached = _TOKENS.get(key)
    if cached is not None:
        return cached
    response = send(
        session,
        timeout_of(settings),
        "POST",
        f"{key[0].rstrip('/')}/services/oauth2/token",
        "salesforce token",
        data={
            "grant_type": "client_credentials",
            "client_id": settings["client_id"],
            "client_secret": settings["client_secret"],
        },
    )
    if isinstance(response, Outcome):
        return response if response.state != "unknown" else Outcome("retry", response.detail, cause="down")
    if response.status_code in (400, 401):
        # invalid_client / invalid_grant: a person must fix the credentials; the job waits, it is not lost.
        return retry(f"salesforce token: {response.status_code} {response.text[:200]}", after=300.0)
    verdict = judge(response, "salesforce token")
    if verdict is not None:
        return verdict
    token = response.json()
    state = {"access_token": token["access_token"], "instance_url": token["instance_url"].rstrip("/")}
    with _TOKENS_LOCK:
        _TOKENS[key] = state
    return state


def forget_tokens() -> None:
    """Drop every cached token (tests; a credentials change)."""
    with _TOKENS_LOCK:
        _TOKENS.clear()


def _drop(settings: dict[str, Any]) -> None:
    """Forget this org's token after a 401."""
    with _TOKENS_LOCK:
        _TOKENS.pop((str(settings.get("login_url") or DEFAULT_LOGIN), str(settings["client_id"])), None)


def task_body(payload: Payload) -> dict[str, Any]:
    """The Task to create for this attempt."""
    attempt = payload["attempt"]
    body: dict[str, Any] = {
        "WhoId": payload["lead"]["externId"],
        "Subject": f"Call: {outcome_text(payload)}"[:255],
        "Status": "Completed",
        "TaskSubtype": "Call",
        "CallType": "Outbound",
        "ActivityDate": time.strftime("%Y-%m-%d", time.gmtime(attempt["attempt_at"])),
        "CallObject": external_id(payload),
        "Description": summary(payload),
    }
    if attempt["duration"] is not None:
        body["CallDurationInSeconds"] = attempt["duration"]
    if attempt["disposition"] or attempt["system_disposition"]:
        body["CallDisposition"] = outcome_text(payload)[:255]
    return body


def _limit(response: requests.Response, settings: dict[str, Any]) -> Outcome | None:
    """403 REQUEST_LIMIT_EXCEEDED: the org's API allowance is spent; wait, do not fail."""
    if response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in response.text:
        return retry(
            "salesforce: REQUEST_LIMIT_EXCEEDED", after=float(settings.get("limit_wait") or 3600.0), cause="throttled"
        )
    return None


def _call(
    settings: dict[str, Any], session: requests.Session, method: str, path: str, what: str, **kwargs: Any
) -> requests.Response | Outcome:
    """One authenticated REST call; a 401 drops the token and asks for a prompt retry."""
    token = _token(settings, session)
    if isinstance(token, Outcome):
        return token
    version = settings.get("api_version") or DEFAULT_VERSION
    url = f"{token['instance_url']}/services/data/{version}/{path}"
    headers = {"Authorization": f"Bearer {token['access_token']}", "Content-Type": "application/json"}
    response = send(session, timeout_of(settings), method, url, what, headers=headers, **kwargs)
    if isinstance(response, Outcome):
        return response
    if response.status_code == 401:
        _drop(settings)
        return retry(f"{what}: 401 session expired; a new token next try", after=1.0)
    limited = _limit(response, settings)
    return limited if limited is not None else response


def find_task(payload: Payload, settings: dict[str, Any], session: requests.Session) -> str | Outcome | None:
    """The id of this attempt's Task if Salesforce has it, None if not, or the outcome of a failed query."""
    soql = f"SELECT Id FROM Task WHERE CallObject = '{external_id(payload)}' LIMIT 1"  # noqa: S608 - our own id: letters, digits, dashes
    response = _call(settings, session, "GET", "query", "salesforce query", params={"q": soql})
    if isinstance(response, Outcome):
        return response if response.state != "unknown" else Outcome("retry", response.detail, cause="down")
    verdict = judge(response, "salesforce query")
    if verdict is not None:
        return verdict
    records = response.json().get("records") or []
    return str(records[0]["Id"]) if records else None


def deliver(payload: Payload, settings: dict[str, Any], session: requests.Session, look_first: bool = False) -> Outcome:
    """One try: find the Task (after an earlier try) or create it."""
    who = payload["lead"]["externId"]
    if not who or not _WHO.match(str(who)):
        return failed(f"salesforce: the lead's externId {who!r} is not a Lead or Contact id")
    if look_first:
        found = find_task(payload, settings, session)
        if isinstance(found, Outcome):
            return found
        if found is not None:
            return done(f"salesforce: task {found} (found again)", task_id=found)
    response = _call(settings, session, "POST", "sobjects/Task", "salesforce create task", json=task_body(payload))
    if isinstance(response, Outcome):
        return response
    verdict = judge(response, "salesforce create task")
    if verdict is not None:
        return verdict
    try:
        task_id = str(response.json()["id"])
    except (ValueError, KeyError, TypeError):
        return unknown(f"salesforce create task: {response.status_code} without an id")
    return done(f"salesforce: task {task_id}", task_id=task_id)

"""The do-not-call list in the console and the admin API: search, add, remove with a reason (audited),
the phone never in a path, OpenAPI documents it — on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from store import dnc
from tests.admin.helpers import CONFIG, TOKEN

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(make_app, db_url):
    """The app with ADMIN_TOKEN."""
    return make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)


def csrf(client) -> str:
    """Log in through the form and read the session's CSRF token from the Do-not-call page."""
    assert client.post("/admin/login", data={"token": TOKEN, "next": "/admin/dnc"}).status_code == 302
    html = client.get("/admin/dnc").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match
    return match.group(1)


def test_api_add_list_remove(app):
    """POST adds (E.164, idempotent), GET searches by digits, removal takes the phone and a reason in the body."""
    client = app.test_client()
    answer = client.post(
        "/admin/api/dnc", json={"phone": "(303) 555-0142", "reason": "asked on a call"}, headers=BEARER
    )
    assert answer.status_code == 200 and answer.json == {"phone": "+13035550142", "changed": True}
    assert client.post("/admin/api/dnc", json={"phone": "+13035550142"}, headers=BEARER).json["changed"] is False
    bad = client.post("/admin/api/dnc", json={"phone": "tomorrow"}, headers=BEARER)
    assert bad.status_code == 400 and bad.json["detail"] == "phone: not a phone number"

    page = client.get("/admin/api/dnc?q=555-0142", headers=BEARER).json
    assert page["total"] == 1
    (entry,) = page["numbers"]
    assert (entry["phone"], entry["reason"], entry["source"], entry["added_by"]) == (
        "+13035550142",
        "asked on a call",
        "api",
        "token",
    )

    no_reason = client.post("/admin/api/dnc/remove", json={"phone": "3035550142"}, headers=BEARER)
    assert no_reason.status_code == 400 and "reason" in no_reason.json["detail"]
    gone = client.post("/admin/api/dnc/remove", json={"phone": "3035550142", "reason": "wrong number"}, headers=BEARER)
    assert gone.status_code == 200 and gone.json == {"phone": "+13035550142", "changed": True}
    again = client.post("/admin/api/dnc/remove", json={"phone": "3035550142", "reason": "x"}, headers=BEARER)
    assert again.status_code == 404
    log = dnc.history(app.extensions["leadrelay"].engine, "+13035550142")
    assert [(r["action"], r["actor"], r["reason"]) for r in log] == [
        ("remove", "token", "wrong number"),
        ("add", "token", "asked on a call"),
    ]


def test_api_needs_the_bearer_to_change_and_documents_itself(app):
    """No token: 401; a console cookie cannot change the list through the API; OpenAPI lists both paths."""
    client = app.test_client()
    assert client.get("/admin/api/dnc").status_code == 401
    assert client.post("/admin/api/dnc", json={"phone": "3035550142"}).status_code == 401
    csrf(client)
    assert client.get("/admin/api/dnc").status_code == 200
    assert client.post("/admin/api/dnc", json={"phone": "3035550142"}).status_code == 401
    spec = client.get("/admin/api/openapi.json", headers=BEARER).json
    assert {"get", "post"} <= set(spec["paths"]["/admin/api/dnc"])
    assert set(spec["paths"]["/admin/api/dnc/remove"]) == {"post"}
    # No path of the API carries a phone number: it would land in access logs.
    assert not any("phone" in path for path in spec["paths"])


def test_console_search_add_remove_audited(app):
    """The page adds (CSRF), finds by digits, shows the history, and refuses a removal without a reason."""
    client = app.test_client()
    token = csrf(client)
    added = client.post(
        "/admin/dnc/add", data={"csrf_token": token, "phone": "720.555.0117", "reason": "STOP by email"}
    )
    assert added.status_code == 302
    html = client.get(added.headers["Location"]).get_data(as_text=True)
    assert " added" in html and "0117" in html and "STOP by email" in html and "session:" in html
    # Masked like every phone in the console; the full number is only in form fields (the search box
    # holds what the operator searched for, the removal form the number it removes).
    assert "7205550117" not in re.sub(r'name="(phone|q)" value="[^"]*"', "", html)
    assert 'id="dnc-history"' in html

    forged = client.post("/admin/dnc/add", data={"phone": "3035550142"})
    assert forged.status_code == 403
    refused = client.post("/admin/dnc/remove", data={"csrf_token": token, "phone": "+17205550117", "reason": " "})
    assert refused.status_code == 400 and dnc.count(app.extensions["leadrelay"].engine) == 1
    removed = client.post("/admin/dnc/remove", data={"csrf_token": token, "phone": "+17205550117", "reason": "mistake"})
    assert removed.status_code == 302
    html = client.get("/admin/dnc").get_data(as_text=True)
    assert "removed from leadrelay" in client.get(removed.headers["Location"]).get_data(as_text=True)
    assert "The list is empty." in html
    log = dnc.history(app.extensions["leadrelay"].engine, "+17205550117")
    assert [r["action"] for r in log] == ["remove", "add"] and all(r["actor"].startswith("session:") for r in log)

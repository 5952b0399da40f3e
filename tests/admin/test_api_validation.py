"""Admin JSON API input is validated (issue 8 item 5): 400 with the reason, never every row, never a 500."""

from __future__ import annotations

import pytest

from tests.admin.helpers import CONFIG, TOKEN, post_lead

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(make_app, db_url):
    """An app on SQLite and on PostgreSQL with three leads."""
    app = make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)
    client = app.test_client()
    for n in range(3):
        post_lead(client, n)
    return client


def test_negative_limit_is_refused_not_every_row(client):
    """limit=-1 used to return every row (a 63 MB answer at scale)."""
    response = client.get("/admin/api/leads?limit=-1", headers=AUTH)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_argument" and "limit" in response.json["detail"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=501",
        "limit=0",
        "before=abc",
        "before=-5",
        "before=123456789012345678901234567890",
        "status=nonsense",
        "q=" + "x" * 201,
        "source=%00",
        "q=ab%00cd",
    ],
)
def test_bad_query_arguments_are_400_with_the_reason(client, query):
    """Types, ranges and a maximum page size: each bad argument is named in the answer."""
    response = client.get(f"/admin/api/leads?{query}", headers=AUTH)
    assert response.status_code == 400, response.data
    assert response.json["error"] == "invalid_argument"
    assert query.split("=")[0] in response.json["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/api/leads/123456789012345678901234567890",
        "/admin/api/events/123456789012345678901234567890",
        "/admin/leads/123456789012345678901234567890",
    ],
)
def test_thirty_digit_ids_are_400_not_500(client, path):
    """A 30-digit id used to reach PostgreSQL as an out-of-range BIGINT and answer 500."""
    assert client.get(path, headers=AUTH).status_code == 400


def test_replay_thirty_digit_id(client):
    """The replay endpoint checks the id the same way."""
    assert client.post("/admin/api/leads/123456789012345678901234567890/replay", headers=AUTH).status_code == 400


def test_page_size_and_paging(client):
    """limit caps the page; before pages backwards; q finds an externId; unknown ids are 404."""
    page = client.get("/admin/api/leads?limit=2", headers=AUTH).json["leads"]
    assert len(page) == 2 and page[0]["id"] > page[1]["id"]
    older = client.get(f"/admin/api/leads?limit=2&before={page[1]['id']}", headers=AUTH).json["leads"]
    assert len(older) == 1 and older[0]["id"] < page[1]["id"]
    found = client.get(f"/admin/api/leads?q={page[0]['extern_id']}", headers=AUTH).json["leads"]
    assert [lead["id"] for lead in found] == [page[0]["id"]]
    by_phone = client.get("/admin/api/leads?q=0001", headers=AUTH).json["leads"]
    assert len(by_phone) == 1
    missing = client.get("/admin/api/leads/999999", headers=AUTH)
    assert missing.status_code == 404 and missing.json["error"] == "not_found"


def test_openapi_document(client):
    """The OpenAPI document is served (behind admin auth) and describes the validated arguments."""
    assert client.get("/admin/api/openapi.json").status_code == 401
    spec = client.get("/admin/api/openapi.json", headers=AUTH).json
    params = {p["name"]: p for p in spec["paths"]["/admin/api/leads"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 500 and params["limit"]["schema"]["minimum"] == 1
    assert "/admin/api/leads/{lead_id}/replay" in spec["paths"]


def test_metrics_token(make_app, sqlite_url):
    """METRICS_TOKEN set: /metrics needs it as a bearer token; unset: open (as before)."""
    closed = make_app(CONFIG, sqlite_url, METRICS_TOKEN="m-secret").test_client()
    assert closed.get("/metrics").status_code == 401
    assert closed.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scrape = closed.get("/metrics", headers={"Authorization": "Bearer m-secret"})
    assert scrape.status_code == 200 and b"leadrelay_leads{" in scrape.data

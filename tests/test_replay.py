"""Replay: dead/rejected/held leads re-queue; invalid leads re-map with the current config."""

from __future__ import annotations

import json

CONFIG = """
sources:
  api:
    type: generic
    token: t
    fields: {externId: id, leadPhone: phone}
"""


def post(client, body):
    """POST one JSON record to the generic source."""
    return client.post(
        "/webhooks/api", data=json.dumps(body), headers={"X-Leadrelay-Token": "t", "Content-Type": "application/json"}
    )


def test_invalid_lead_is_remapped_after_a_config_fix(make_app, db_url):
    """The sender used `cell` for the phone: stored invalid; after `fields` is fixed a replay queues it."""
    app = make_app(CONFIG, db_url, ADMIN_TOKEN="adm")
    client = app.test_client()
    response = post(client, {"id": "r1", "cell": "303-555-0142"})
    assert response.status_code == 422
    lead_id = app.extensions["leadrelay"].queue.list(status="invalid")[0]["id"]
    auth = {"Authorization": "Bearer adm"}
    still = client.post(f"/admin/api/leads/{lead_id}/replay", headers=auth)
    assert still.status_code == 422 and "leadPhone" in json.dumps(still.json)
    # The operator fixes the config (here in place; normally an edit of leadrelay.yml and a restart).
    app.extensions["leadrelay"].settings.file.sources["api"].settings.fields["leadPhone"] = "cell"
    fixed = client.post(f"/admin/api/leads/{lead_id}/replay", headers=auth)
    assert fixed.status_code == 200 and fixed.json["status"] == "queued"
    lead = app.extensions["leadrelay"].queue.get(lead_id)
    assert lead["lead"]["leadPhone"] == "3035550142" and lead["extern_id"] == "r1" and lead["errors"] is None


def test_cli_replays_invalid_by_source(make_app, sqlite_url):
    """`flask leads replay --status invalid --source api` re-maps every invalid lead of the source."""
    app = make_app(CONFIG, sqlite_url)
    client = app.test_client()
    post(client, {"id": "a", "cell": "303-555-0142"})
    post(client, {"id": "b", "cell": "303-555-0143"})
    app.extensions["leadrelay"].settings.file.sources["api"].settings.fields["leadPhone"] = ["phone", "cell"]
    result = app.test_cli_runner().invoke(args=["leads", "replay", "--status", "invalid", "--source", "api"])
    assert result.exit_code == 0 and "Re-mapped 2 invalid leads: " in result.output
    assert app.extensions["leadrelay"].queue.counts() == {"queued": 2}

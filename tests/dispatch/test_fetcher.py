"""The fetch pool: id-only records are completed from the sender's API off the request path."""

from __future__ import annotations

import json

import pytest
import requests
from werkzeug.wrappers import Request, Response

from app import start_dispatcher
from engage.fake_server import FakeServer
from handlers.base import FetchError, Record, SourceType, register
from harness.processes import wait_for
from tests.lanes import process_fixture


class ContactsAPI:
    """A tiny sender API: contacts by id, with switchable failures."""

    url = ""  # set once it is served

    def __init__(self):
        """Two contacts and no faults."""
        self.contacts = {
            "1": {"id": "1", "phone": "303-555-0142", "name": "Ada Example"},
            "2": {"id": "2", "phone": "303-555-0143", "name": "Grace Hopper"},
        }
        self.fail_next = 0
        self.calls = 0

    def __call__(self, environ, start_response):
        """GET /contacts/<id>."""
        request = Request(environ)
        self.calls += 1
        if self.fail_next:
            self.fail_next -= 1
            return Response("busy", status=503)(environ, start_response)
        contact = self.contacts.get(request.path.rsplit("/", 1)[-1])
        if contact is None:
            return Response("{}", status=404)(environ, start_response)
        return Response(json.dumps(contact), mimetype="application/json")(environ, start_response)


@register
class IdsOnly(SourceType):
    """A test sender that posts {"ids": [...]} and needs each contact fetched."""

    name = "test_ids_only"
    fetches = True
    fetch_rate = (50, 1.0)

    def parse(self, source, request):
        """One id-only record per id."""
        body = json.loads(request.body)
        return [Record(key=f"evt-{i}", fields={"id": i}, fetch={"id": i}) for i in body["ids"]]

    def fetch(self, source, record, session):
        """GET the contact from the API named in the options."""
        try:
            response = session.get(f"{source.options['api']}/contacts/{record.fetch['id']}", timeout=2)
        except requests.RequestException as exc:
            raise FetchError(str(exc)) from exc
        if response.status_code == 404:
            raise FetchError("contact not found", retryable=False)
        if response.status_code != 200:
            raise FetchError(f"API answered {response.status_code}")
        return Record(key=None, fields=response.json())


@pytest.fixture
@process_fixture
def api():
    """The sender API on a real socket."""
    app = ContactsAPI()
    server = FakeServer(app).start()
    app.url = server.url
    yield app
    server.stop()


def config():
    """A source of the test type (its API URL is set on the source's options by each test)."""
    return """
dispatch:
  backoff_base: 0.1
  backoff_cap: 0.3
sources:
  ids:
    type: test_ids_only
    token: t
    priority: IMMEDIATE
"""


def test_id_only_records_are_fetched_mapped_and_delivered(db_url, make_app, api):
    """202 `fetching` at once; the pool fetches (retrying a 503), maps, queues and the lead is delivered;
    an unknown id settles `invalid` with the reason."""
    app = make_app(config(), db_url)
    app.extensions["leadrelay"].settings.file.sources["ids"].settings.options = {"api": api.url}
    api.fail_next = 1
    client = app.test_client()
    response = client.post(
        "/webhooks/ids",
        data=json.dumps({"ids": ["1", "2", "404"]}),
        headers={"X-Leadrelay-Token": "t", "Content-Type": "application/json"},
    )
    assert response.status_code == 202
    assert [e["status"] for e in response.json["leads"]] == ["fetching"] * 3
    assert api.calls == 0  # nothing fetched on the request path
    start_dispatcher(app)
    queue = app.extensions["leadrelay"].queue
    wait_for(lambda: queue.counts() == {"delivered": 2, "invalid": 1}, 15, message="fetched and delivered")
    delivered = {lead["extern_id"]: lead for lead in queue.list(status="delivered")}
    assert delivered["1"]["lead"]["firstName"] == "Ada" and delivered["1"]["lead"]["leadPhone"] == "3035550142"
    invalid = queue.list(status="invalid")[0]
    assert "contact not found" in json.dumps(invalid["errors"])


def test_replay_fetches_a_failed_id_only_record_again(db_url, make_app, api):
    """A fetch that failed for good (unknown contact) is re-fetched by a replay once the sender has it."""
    app = make_app(config(), db_url)
    app.extensions["leadrelay"].settings.file.sources["ids"].settings.options = {"api": api.url}
    client = app.test_client()
    client.post(
        "/webhooks/ids",
        data=json.dumps({"ids": ["3"]}),
        headers={"X-Leadrelay-Token": "t", "Content-Type": "application/json"},
    )
    start_dispatcher(app)
    queue = app.extensions["leadrelay"].queue
    wait_for(lambda: queue.counts() == {"invalid": 1}, 10, message="fetch failed for good")
    api.contacts["3"] = {"id": "3", "phone": "303-555-0144", "name": "Katherine Johnson"}
    result = app.test_cli_runner().invoke(args=["leads", "replay", "--status", "invalid"])
    assert result.exit_code == 0 and "(now fetching)" in result.output
    wait_for(lambda: queue.counts() == {"delivered": 1}, 15, message="re-fetched and delivered")


def test_a_fetched_record_the_lifecycle_rules_match_is_never_loaded(db_url, make_app, api):
    """An id-only webhook carries no fields for `opt_out_when`, so the rules judge the fetched record: a
    contact marked do-not-call is stored `opted_out` (never loaded), its number goes on the do-not-call
    list with its Engage job; the other contact is delivered."""
    from sqlalchemy import select

    from store import dnc, outbox
    from store.schema import jobs

    app = make_app(config() + "    opt_out_when: {do_not_call: true}\n", db_url)
    runtime = app.extensions["leadrelay"]
    runtime.settings.file.sources["ids"].settings.options = {"api": api.url}
    api.contacts["1"]["do_not_call"] = True
    response = app.test_client().post(
        "/webhooks/ids",
        data=json.dumps({"ids": ["1", "2"]}),
        headers={"X-Leadrelay-Token": "t", "Content-Type": "application/json"},
    )
    assert [e["status"] for e in response.json["leads"]] == ["fetching"] * 2  # the ids alone match no rule
    start_dispatcher(app)
    queue = runtime.queue
    wait_for(lambda: queue.counts() == {"opted_out": 1, "delivered": 1}, 15, message="fetched, one opted out")
    assert [lead["extern_id"] for lead in queue.list(status="delivered")] == ["2"]
    with runtime.engine.connect() as conn:
        assert dnc.listed(conn, ["+13035550142", "+13035550143"]) == {"+13035550142"}
        kinds = conn.execute(select(jobs.c.kind)).scalars().all()
    assert outbox.ENGAGE_DNC_ADD in kinds

"""An optional field that cannot be mapped is dropped with a warning, never the lead (issue 19 item 3).

The generic docs' own example is run as written (config and curl read from the page); the warning
is stored on the lead and shown by the admin API and the console; real SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex

from config.paths import ROOT

ADMIN = "admin-test-token"
BEARER = {"Authorization": f"Bearer {ADMIN}"}
DOC = (ROOT / "docs" / "sources" / "generic.md").read_text()


def doc_block(language: str) -> str:
    """The first fenced block of a language in the generic source page."""
    match = re.search(rf"```{language}\n(.*?)```", DOC, re.S)
    assert match, f"no ```{language} block in docs/sources/generic.md"
    return match.group(1)


def doc_curl() -> tuple[str, dict[str, str], bytes]:
    """The page's curl example as (path, headers, body), the shell variables filled in."""
    words = shlex.split(doc_block("sh").replace("\\\n", " ").replace("$WEBSITE_TOKEN", "site-token"))
    headers, body = {}, b""
    for flag, value in itertools.pairwise(words):
        if flag == "-H":
            name, _, val = value.partition(":")
            headers[name.strip()] = val.strip()
        elif flag == "-d":
            body = value.encode()
    url = next(w for w in words if w.startswith("https://"))
    return url.split("<your-host>", 1)[1], headers, body


def documented_lead() -> dict[str, str]:
    """The Engage lead the page says the curl produces."""
    return json.loads(doc_block("json"))


def test_generic_docs_example_works_as_written(make_app, db_url):
    """The page's config and curl, unchanged: 202, queued, and Engage gets exactly the documented lead."""
    app = make_app(doc_block("yaml"), db_url, WEBSITE_TOKEN="site-token")
    path, headers, body = doc_curl()
    response = app.test_client().post(path, data=body, headers=headers)
    assert response.status_code == 202, response.json
    [entry] = response.json["leads"]
    assert entry["status"] == "queued"
    stored = app.extensions["leadrelay"].queue.get(entry["lead_id"])
    assert stored["lead"] == documented_lead() and stored["warnings"] is None


CONFIG_DEFAULT_MAP = """
sources:
  website:
    type: generic
    token: site-token
    routes:
      - name: hot
        when: {score: {gte: 90}}
        priority: IMMEDIATE
"""


def test_docs_body_on_the_default_map_loads_without_the_address(make_app, db_url):
    """The curl body on a source with the default map (`address1: address`, an object): the lead is
    loaded without address1, and the warning names the field, why, and is shown in the API and the console."""
    app = make_app(CONFIG_DEFAULT_MAP, db_url, ADMIN_TOKEN=ADMIN)
    client = app.test_client()
    path, headers, body = doc_curl()
    response = client.post(path, data=body, headers=headers)
    assert response.status_code == 202, response.json
    [entry] = response.json["leads"]
    assert entry["status"] == "queued"

    answer = client.get(f"/admin/api/leads/{entry['lead_id']}", headers=BEARER).json
    assert answer["status"] == "queued" and answer["lead"]["leadPhone"] == "3035550142"
    assert "address1" not in answer["lead"] and answer["lead"]["email"] == "ada@example.com"
    assert answer["warnings"] == {
        "address1": ["address is an object, not text: map a scalar path instead (e.g. address.street, address.zip)"]
    }
    assert answer["route_position"] == 0 and answer["route_name"] is None  # score 72: the fallback

    page = client.get(f"/admin/leads/{entry['lead_id']}", headers=BEARER).get_data(as_text=True)
    warning = re.search(r'<div id="warnings">(.*?)</div>', page, re.S)
    assert warning and "<code>address1</code>: address is an object, not text" in warning.group(1)


def test_a_full_width_email_reaches_engage_normalised(make_app, db_url):
    """ＡＤＡ@ＥＸＡＭＰＬＥ.ＣＯＭ is stored and loaded as ada@example.com (issue 18 item 11)."""
    app = make_app(CONFIG_DEFAULT_MAP, db_url, ADMIN_TOKEN=ADMIN)
    body = {"id": "L-7", "phone": "3035550142", "email": "ＡＤＡ@ＥＸＡＭＰＬＥ.ＣＯＭ"}
    response = app.test_client().post("/webhooks/website", json=body, headers={"X-Leadrelay-Token": "site-token"})
    assert response.status_code == 202, response.json
    stored = app.extensions["leadrelay"].queue.get(response.json["leads"][0]["lead_id"])
    assert stored["lead"]["email"] == "ada@example.com" and stored["warnings"] is None


def test_an_overlong_email_is_dropped_and_the_lead_stays(make_app, db_url):
    """A 65-character local part: the lead is queued without the email, the warning says why."""
    app = make_app(CONFIG_DEFAULT_MAP, db_url, ADMIN_TOKEN=ADMIN)
    body = {"id": "L-8", "phone": "3035550142", "email": "a" * 65 + "@example.com", "score": 95}
    response = app.test_client().post("/webhooks/website", json=body, headers={"X-Leadrelay-Token": "site-token"})
    assert response.status_code == 202, response.json
    [entry] = response.json["leads"]
    assert entry["status"] == "queued" and entry["priority"] == "IMMEDIATE"
    stored = app.extensions["leadrelay"].queue.get(entry["lead_id"])
    assert "email" not in stored["lead"]
    assert stored["warnings"] == {"email": ["local part longer than 64 characters (RFC 5321): left out"]}
    assert (stored["route_name"], stored["route_position"]) == ("hot", 1)

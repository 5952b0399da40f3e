"""docs/sources/generic.md's own example maps to exactly the lead the page shows."""

import json
import re
from pathlib import Path

import yaml

from handlers.base import Record, SourceSettings
from mappings import map_record

DOC = Path(__file__).resolve().parents[2] / "docs" / "sources" / "generic.md"


def section(pattern: str, text: str) -> str:
    """The first group of `pattern` in the page; the test fails naming it when the page changed shape."""
    found = re.search(pattern, text, re.S)
    assert found is not None, f"docs/sources/generic.md no longer has {pattern!r}"
    return found.group(1)


def test_generic_doc_example_sends_what_the_page_says():
    """The configured fields, applied to the curl body, give the JSON the page promises (no `{…}` text)."""
    text = DOC.read_text(encoding="utf-8")
    config = yaml.safe_load(section(r"```yaml\n(.*?)```", text))
    fields = config["sources"]["website"]["fields"]
    body = json.loads(section(r"-d '(.*?)'", text))
    expected = json.loads(section(r"For the curl above Engage gets:\s*```json\n(.*?)```", text))
    lead = map_record(SourceSettings(name="website", type="generic", fields=fields), Record(key=None, fields=body))
    assert lead == expected
    assert not any("{" in str(value) for value in lead.values())

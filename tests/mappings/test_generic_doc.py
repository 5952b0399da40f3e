"""docs/sources/generic.md's own example maps to exactly the lead the page shows."""
import json
import re
from pathlib import Path

import yaml

from handlers.base import Record, SourceSettings
from mappings import map_record

DOC = Path(__file__).resolve().parents[2] / "docs" / "sources" / "generic.md"


def test_generic_doc_example_sends_what_the_page_says():
    """The configured fields, applied to the curl body, give the JSON the page promises (no `{…}` text)."""
    text = DOC.read_text(encoding="utf-8")
    config = yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))
    fields = config["sources"]["website"]["fields"]
    body = json.loads(re.search(r"-d '(.*?)'", text, re.S).group(1))
    expected = json.loads(re.search(r"For the curl above Engage gets:\s*```json\n(.*?)```", text, re.S).group(1))
    lead = map_record(SourceSettings(name="website", type="generic", fields=fields), Record(key=None, fields=body))
    assert lead == expected
    assert not any("{" in str(value) for value in lead.values())

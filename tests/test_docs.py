"""The docs a new user follows (issue 19): the wrapper everywhere, going-live linked from the first screen."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_docs_use_the_wrapper_and_link_going_live():
    """Source pages and operations.md say `./leadrelay …` (flask is not on a new user's PATH); `flask --app app`
    stays only where the Procfile or Heroku runs it; the README's first screen links docs/going-live.md."""
    pages = [*sorted((ROOT / "docs" / "sources").glob("*.md")), ROOT / "docs" / "operations.md"]
    for page in pages:
        for line in page.read_text().splitlines():
            if "flask --app app" in line:
                assert "Procfile" in line or "Heroku" in line, f"{page.name}: {line}"
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:12])
    assert "(docs/going-live.md)" in first_screen
    going_live = (ROOT / "docs" / "going-live.md").read_text()
    for step in ("JWT auth flow", "ReadAccounts", "engage accounts", "engage check", "first live lead", "sandbox"):
        assert step in going_live, step

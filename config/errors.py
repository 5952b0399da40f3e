"""ConfigError (file, key, problem, fix) and the helpers that phrase a fix: did-you-mean and the doc page."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from config.paths import ROOT

SOURCE_DOCS = "docs/sources"


class ConfigError(Exception):
    """A configuration problem, phrased as file + key + what to do about it."""

    def __init__(self, where: str, key: str, problem: str, fix: str = "") -> None:
        self.where, self.key, self.problem, self.fix = where, key, problem, fix
        text = f"{where}: {key}: {problem}"
        if fix:
            text += f" — fix: {fix}"
        super().__init__(text)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The accepted name closest to a typo, when one is close enough to be what was meant."""
    found = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_key_fix(word: str, choices: Iterable[str], doc: str) -> str:
    """`did you mean …?` (or the list of accepted keys) and where they are documented."""
    choices = sorted(choices)
    guess = closest(word, choices)
    lead = f"did you mean `{guess}`?" if guess else f"use one of {', '.join(choices)}"
    return f"{lead} (every key: {doc})"


def source_doc(type_name: Any) -> str:
    """The page documenting a source type's keys, or the example config for an unknown type."""
    page = ROOT / SOURCE_DOCS / f"{type_name}.md"
    return f"{SOURCE_DOCS}/{type_name}.md" if isinstance(type_name, str) and page.exists() else "leadrelay.example.yml"

"""Where the project's own files are: the repository root the defaults are relative to."""

from __future__ import annotations

from pathlib import Path

# config/ sits one level below the repository root (leadrelay.yml, instance/, docs/ live there).
ROOT = Path(__file__).resolve().parent.parent

"""Where cli.py still looks for phone normalization; the code lives in lead/ (remove at merge)."""

from __future__ import annotations

from lead.phones import normalize_phones

__all__ = ["normalize_phones"]

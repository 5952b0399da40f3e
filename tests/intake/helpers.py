"""Helpers for the intake tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select


def count(app: Any, table: Any, **where: Any) -> int:
    """Rows in a table matching equality filters."""
    engine = app.extensions["leadrelay"].engine
    query = select(func.count()).select_from(table)
    for key, value in where.items():
        query = query.where(table.c[key] == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)

"""The operator's view: the console (/admin, HTML) and the JSON API (/admin/api, OpenAPI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """Mount the console and the API on the app."""
    from admin import api, console

    app.register_blueprint(console.bp)
    api.register(app)

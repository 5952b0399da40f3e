"""The operator's view: the console (/admin, HTML) and the JSON API (/admin/api, OpenAPI)."""

from __future__ import annotations


def register(app) -> None:
    """Mount the console and the API on the app."""
    from admin import api, console

    app.register_blueprint(console.bp)
    api.register(app)

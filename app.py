"""The application factory: it only wires the parts together (`app = create_app()` for gunicorn)."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from flask import Flask, Response, jsonify, request
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

import logs
from config import ConfigError, Settings, load_settings
from dispatch.wakeup import Waker
from intake import Intake
from metrics import SANDBOX

# start/stop_dispatcher live in runtime.py (below the CLI and admin); gunicorn.conf.py and the tests
# reach them through the app module, as before.
from runtime import Runtime, compliance_parts, retain_stored
from runtime import start_dispatcher as start_dispatcher
from runtime import stop_dispatcher as stop_dispatcher
from store import db
from store.queue import Queue

logger = logging.getLogger("leadrelay")


def create_app(
    environ: Mapping[str, str] | None = None, settings: Settings | None = None, *, wait_for_database: bool = True
) -> Flask:
    """Build the Flask app from the environment (or given settings); never starts the dispatcher.

    `wait_for_database=False` (one-shot CLI commands): an unreachable database raises at once
    instead of being retried in the background, since nobody is waiting for a 503.
    """
    settings = settings or load_settings(environ)
    app = Flask(__name__)
    logs.configure(settings.log_level)
    app.config["MAX_CONTENT_LENGTH"] = max(
        [settings.file.defaults["max_body"]] + [s.max_body for s in settings.file.sources.values()]
    )
    register_store(app, settings, wait_for_database=wait_for_database)
    register_blueprints(app)
    register_errors(app)
    register_headers(app)
    register_cli(app)
    if wait_for_database:
        banner(settings)
    else:
        command_banner(settings)
    return app


def register_store(app: Flask, settings: Settings, *, wait_for_database: bool = True) -> None:
    """Create the engine, bring the schema up to date, and the runtime objects around it."""
    engine = db.make_engine(settings.database_url, settings.sqlite_synchronous, settings.database_pool_size)
    waker = Waker()
    gates, retainer = compliance_parts(settings, engine, waker)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        waker=waker,
        intake=Intake(
            engine,
            sandbox=settings.sandbox,
            wake=waker.wake,
            on_stored=retain_stored(gates, retainer),
            sources=settings.file.sources,
        ),
        queue=Queue(engine),
        gates=gates,
        retainer=retainer,
    )
    app.extensions["leadrelay"] = runtime
    SANDBOX.set(1 if settings.sandbox else 0)
    try:
        db.upgrade(engine)
        runtime.schema_ready.set()
    except Exception as exc:
        if not db.unavailable(exc) or not wait_for_database:
            raise
        # No crash loop: say once what is wrong and how to fix it, answer 503, keep trying.
        logs.log(
            logger,
            logging.ERROR,
            "database unreachable at start-up; answering 503 and retrying every 5 s",
            host=database_host(engine),
            fix="check DATABASE_URL's host, port and credentials and that the "
            "database server is running and accepts connections from here",
        )
        threading.Thread(target=_upgrade_when_reachable, args=(runtime,), name="leadrelay-db-wait", daemon=True).start()


def database_host(engine: Engine) -> str:
    """Where DATABASE_URL points (host:port, or the SQLite file), never credentials."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _upgrade_when_reachable(runtime: Runtime, interval: float = 5.0) -> None:
    """Retry the schema upgrade until the database answers, then mark the process ready."""
    while not runtime.stop.wait(interval):
        try:
            db.upgrade(runtime.engine)
        except Exception as exc:
            logger.debug("database still unreachable: %s", type(exc).__name__)
            continue
        runtime.schema_ready.set()
        logs.log(logger, logging.INFO, "database reachable; schema up to date", host=database_host(runtime.engine))
        runtime.waker.wake()
        return


def register_blueprints(app: Flask) -> None:
    """Mount webhooks, health/metrics and the admin API."""
    import admin
    from health import bp as health_bp
    from webhooks import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)
    app.register_blueprint(health_bp)
    admin.register(app)


def register_errors(app: Flask) -> None:
    """One JSON error shape for every error answer."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        """`{"error": <code>, "detail": <text>}` with the HTTP status."""
        code = {413: "body_too_large", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.code or 500, exc.name.lower().replace(" ", "_")
        )
        response = jsonify({"error": code, "detail": exc.description})
        response.status_code = exc.code or 500
        return response

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        """Log the failure (masked) and answer 500 so senders retry; an unreachable database is a 503."""
        if db.unavailable(exc):
            return database_unavailable(exc)
        logger.exception("unhandled error")
        response = jsonify({"error": "internal_error"})
        response.status_code = 500
        return response


UNAVAILABLE_PAGE = (
    "<!doctype html><meta charset=utf-8><title>leadrelay: database unavailable</title>"
    "<h1>The database is unavailable</h1><p>leadrelay cannot reach its database right now. "
    "Webhooks are answered 503 and senders retry; this page works again as soon as the database answers. "
    "Reload in a few seconds.</p>"
)


def database_unavailable(exc: Exception) -> Response:
    """503 + Retry-After, one log line without a traceback: the console (HTML) and the API (JSON)."""
    logs.log(
        logger, logging.WARNING, "request not served: database unavailable", path=request.path, error=type(exc).__name__
    )
    if request.path.startswith("/admin") and not request.path.startswith("/admin/api"):
        response = Response(UNAVAILABLE_PAGE, status=503, content_type="text/html; charset=utf-8")
    else:
        response = jsonify({"error": "database_unavailable", "detail": "the database is unreachable; retry shortly"})
        response.status_code = 503
    response.headers["Retry-After"] = "5"
    response.headers["Cache-Control"] = "no-store"
    return response


def register_headers(app: Flask) -> None:
    """Headers every answer carries: no MIME sniffing; HSTS over HTTPS; the admin API never cached."""

    @app.after_request
    def security_headers(response: Response) -> Response:
        """X-Content-Type-Options everywhere; HSTS when the client came over HTTPS; no-store and same-origin on /admin/api."""
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.is_secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https":
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        if request.path.startswith("/admin/api"):
            response.headers["Cache-Control"] = "no-store"
            response.headers["Referrer-Policy"] = "same-origin"
        return response


def register_cli(app: Flask) -> None:
    """Attach the `flask` commands."""
    from cli import register

    register(app)


def banner(settings: Settings) -> None:
    """Say at start-up what this process will do; sandbox is never silent."""
    logs.log(
        logger,
        logging.WARNING if settings.sandbox else logging.INFO,
        "SANDBOX MODE: leads go to an in-process fake Engage and are NOT dialed"
        if settings.sandbox
        else "leadrelay starting (live Engage)",
        database=settings.database_url.split(":")[0],
        dispatch_mode=settings.dispatch_mode,
        config=settings.config_path,
        sources=sorted(settings.file.sources),
        engage_mode=settings.engage_mode,
    )
    for warning in settings.file.warnings:
        logs.log(logger, logging.WARNING, "config warning", detail=warning)
    for name, source in sorted(settings.file.sources.items()):
        # Opt-outs of a safe default are said at every start, so they are never forgotten.
        if source.settings.allow_token_alone:
            logs.log(
                logger,
                logging.WARNING,
                f"source {name}: allow_token_alone is on: its shared token alone is accepted without a signature",
                source=name,
            )
        if source.settings.options.get("legacy_signatures"):
            logs.log(
                logger,
                logging.WARNING,
                f"source {name}: legacy_signatures is on: HubSpot v1/v2 requests carry no timestamp and can be "
                "replayed by anyone who captured one",
                source=name,
            )
        gates = source.gates(settings.windows_default_off, settings.config_path)
        logs.log(logger, logging.INFO, "compliance gates", source=name, gates=gates.describe())
        if not settings.sandbox and not gates.windows.enabled:
            why = "calling_hours: off" if gates.calling_hours_off else gates.windows_default_off
            logs.log(
                logger,
                logging.WARNING,
                f"calling windows off in live mode ({why}): leads load at any hour",
                source=name,
            )


_ANNOUNCED: list[str] = []  # the command banner's lines already printed by this process


def command_banner(settings: Settings) -> None:
    """A one-shot command's banner: plain lines on stderr, once per process (stdout stays the answer)."""
    lines = []
    if settings.sandbox:
        lines.append("leadrelay: SANDBOX: Engage is the in-process fake Engage; nothing is dialed")
    for name, why in sorted(settings.file.unloaded.items()):
        lines.append(f"leadrelay: source {name} left out ({why}); this command needs only the database")
    for line in lines:
        if line not in _ANNOUNCED:
            _ANNOUNCED.append(line)
            print(line, file=sys.stderr)


def _module_app() -> Flask:
    """`app` for gunicorn and `flask --app app`; a config error prints file/key/fix and exits."""
    try:
        return create_app(wait_for_database=_serves())
    except ConfigError as exc:
        from cli import app_for_command

        # `engage accounts` is how ENGAGE_ACCOUNT_ID is found; `leads list` needs no sender's secret.
        partial = app_for_command(exc, create_app)
        if partial is not None:
            return partial
        print(f"leadrelay: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
    except Exception as exc:
        if not db.unavailable(exc):
            raise
        from config import database_error

        print(f"leadrelay: database error: {database_error(load_settings().database_url, exc)}", file=sys.stderr)
        raise SystemExit(3) from None


def main() -> None:
    """`./leadrelay <command>`: leadrelay's own commands (the wrapper script runs this)."""
    from cli import run_command_line

    sys.argv[0] = "leadrelay"  # `python -c` leaves "-c": _serves and the help read the program name
    run_command_line(_module_app)


def _serves(argv: list[str] | None = None) -> bool:
    """Whether this process serves (gunicorn, `flask run`, `dispatch run`) rather than runs one command.

    A server keeps retrying an unreachable database; a one-shot command fails at once in one line.
    """
    args = sys.argv if argv is None else argv
    if not args or Path(args[0]).name not in ("flask", "leadrelay"):
        return True
    # `flask run` (the dev server) and `flask dispatch run` (the worker) are the serving commands.
    return "run" in args[1:]


def __getattr__(name: str) -> Flask | None:
    """Build `app` on first access, so importing this module (tests, tools) has no side effects."""
    if name == "app":
        built = _module_app()
        globals()["app"] = built
        return built
    raise AttributeError(name)

"""gunicorn settings, so plain `gunicorn app:app` runs the tuned setup."""

import os

_db = os.environ.get("DATABASE_URL", "")
_sqlite = not _db or _db.startswith("sqlite")

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# front.FrontWorker (front.py): an asyncio loop reads each whole request (headers within
# REQUEST_HEADER_TIMEOUT, default 10 s; body within REQUEST_BODY_TIMEOUT, default 30 s; body at
# most the largest `max_body`; all bodies of a worker within REQUEST_BODY_BUDGET_MB; answers not
# read within RESPONSE_WRITE_TIMEOUT close the connection), then the Flask app runs on a pool of
# `threads` threads. Slow or
# idle sockets cost no thread: gthread gave each one a thread, and 8 trickling sockets stopped
# every webhook. GUNICORN_WORKER_CLASS=gthread switches back (for comparison only).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or "front.FrontWorker"
# SQLite is for one host and one process: the in-process wake-up must reach the dispatcher.
workers = 1 if _sqlite else int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Open connections per worker (slow ones included); past this the loop stops accepting. Each may hold
# up to 64 KB of read-ahead and a body up to 64 KB outside the body budget (REQUEST_BODY_BUDGET_MB,
# default 64 MB): 1000 keeps a worker's worst case near 64 + 2 x 64 MB.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
# Request line and header limits (gunicorn's defaults, spelled out): 414 / 431 past them.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
timeout = 30
graceful_timeout = 25  # Heroku allows 30 s after SIGTERM
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# Path without the query string: `?token=` secrets must not reach a log. %(D)s is the time from
# request parsed to response sent, in microseconds (the server-side ack time).
access_log_format = os.environ.get("GUNICORN_ACCESS_LOG_FORMAT") or '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(D)sus'
# front.AccessLogger: configured secrets masked in logged paths (a token in a path segment too),
# control characters escaped (no forged lines), `aborted` for a client that left mid-request.
logger_class = "front.AccessLogger"
# The pure-Python parser, whatever is installed: front.py's chunk-size check reads its state.
http_parser = "python"
# gunicorn's control socket (for `gunicornc`) defaults to $XDG_RUNTIME_DIR/gunicorn.ctl or
# ~/.gunicorn/gunicorn.ctl: one path for every gunicorn the user runs, so a second instance takes
# over the first one's socket. Off unless GUNICORN_CONTROL_SOCKET names a path of this instance's own
# (docs/deploy.md: systemd's RuntimeDirectory gives /run/leadrelay/).
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]


def on_starting(server):
    """Validate the configuration in the master so a bad config fails once, clearly."""
    from config import ConfigError, load_settings

    try:
        load_settings()
    except ConfigError as exc:
        print(f"leadrelay: configuration error: {exc}", flush=True)
        raise SystemExit(3) from None  # the message above says it all; no chained traceback


def post_worker_init(worker):
    """Inline mode: each web worker runs a dispatcher candidate; the lease elects one."""
    import gc

    # Everything loaded so far lives for the process: keep it out of the collector's scans,
    # which otherwise pause request threads for tens of milliseconds every few seconds.
    gc.freeze()
    # Request threads and the dispatcher's lanes share one interpreter: with CPython's default 5 ms
    # GIL switch interval a woken lane (or a request) can wait 5 ms behind a busy thread. 1 ms cut
    # quiet speed-to-lead by ~4 ms in the bench (docs/benchmarks.md, "Where the time goes").
    import sys

    sys.setswitchinterval(float(os.environ.get("LEADRELAY_SWITCH_INTERVAL", "0.001")))
    import alerts

    alerts.start(worker.wsgi)  # every web process evaluates alerts (the database picks one sender)
    if os.environ.get("DISPATCH_MODE", "inline").lower() == "inline":
        from app import start_dispatcher

        start_dispatcher(worker.wsgi)


def worker_exit(server, worker):
    """Graceful stop: calls in flight settle, then the lease is released for a standby."""
    from app import stop_dispatcher

    app = getattr(worker, "wsgi", None)
    if app is not None and "leadrelay" in getattr(app, "extensions", {}):
        stop_dispatcher(app)

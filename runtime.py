"""The process's runtime: the parts one process builds once (Runtime), and its dispatcher thread.

Below app.py (which builds a Runtime per app) and the CLI, admin and replay (which use one), so
none of them has to import the application factory to reach the parts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy.engine import Engine

from compliance import zips
from config import Settings, Source
from dispatch.gating import GateBook, Gatekeeper
from dispatch.retainer import Known, Retainer
from dispatch.wakeup import PgListener, Waker
from intake import Intake
from store.ingest import PendingLead
from store.queue import Queue


@dataclass
class Runtime:
    """Everything a request or a CLI command needs, built once per process."""

    settings: Settings
    engine: Engine
    waker: Waker
    intake: Intake
    queue: Queue
    stop: threading.Event = field(default_factory=threading.Event)
    dispatcher_thread: threading.Thread | None = None
    schema_ready: threading.Event = field(default_factory=threading.Event)
    gates: GateBook | None = None  # each source's compliance gates (dispatch/gating.py)
    retainer: Retainer | None = None  # TrustedForm retains off the request path


def compliance_parts(settings: Settings, engine: Engine, waker: Waker | None = None) -> tuple[GateBook, Retainer]:
    """The gate book and the retainer one process shares between intake and its dispatcher."""
    book = GateBook(settings.file.sources, settings.windows_default_off, settings.config_path)
    return book, Retainer(engine, book, wake=waker.wake if waker is not None else None)


def retain_stored(book: GateBook, retainer: Retainer) -> Callable[[Source, list[tuple[int, PendingLead]]], None]:
    """Intake's after-commit hook: hand queued leads of consent-checking sources to the retainer."""

    def hook(source: Source, stored: list[tuple[int, PendingLead]]) -> None:
        """Submit with what intake already holds (no read before the call) when the source can need a retain."""
        if book.retains(source.name):
            known = {
                lead_id: Known(source.name, item.extern_id, item.campaign, item.lead or {}, item.record or {})
                for lead_id, item in stored
            }
            retainer.submit(list(known), known)

    return hook


def start_dispatcher(app: Flask) -> threading.Thread:
    """Start the dispatcher thread in this process (inline mode, or `flask dispatch run`)."""
    from dispatch.backend import make_backend_factory
    from dispatch.runner import Dispatcher

    runtime: Runtime = app.extensions["leadrelay"]
    if runtime.dispatcher_thread is not None:
        return runtime.dispatcher_thread
    settings = runtime.settings
    if runtime.engine.dialect.name == "postgresql":
        dsn = runtime.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        PgListener(dsn, runtime.waker, runtime.stop).start()
    # The zip index (~1 s to build) is ready before the first lead with a zip needs it.
    threading.Thread(target=zips.warm, name="leadrelay-zips", daemon=True).start()
    book, retainer = runtime.gates, runtime.retainer
    if book is None or retainer is None:
        book, retainer = compliance_parts(settings, runtime.engine, runtime.waker)
    dispatcher = Dispatcher(
        runtime.engine,
        settings.file.dispatch,
        make_backend_factory(settings, runtime.engine),
        runtime.waker,
        sources=settings.file.sources,
        retention_days=settings.file.defaults["retention_days"],
        gates=Gatekeeper(runtime.engine, book, retainer),
    )
    thread = threading.Thread(target=dispatcher.run, args=(runtime.stop,), name="leadrelay-dispatcher", daemon=True)
    thread.start()
    runtime.dispatcher_thread = thread
    return thread


def stop_dispatcher(app: Flask, timeout: float = 10.0) -> None:
    """Graceful stop: no new claims, calls in flight settle, the lease is released."""
    runtime: Runtime = app.extensions["leadrelay"]
    runtime.stop.set()
    runtime.waker.wake()
    if runtime.dispatcher_thread is not None:
        runtime.dispatcher_thread.join(timeout)

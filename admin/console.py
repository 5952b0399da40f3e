"""The operator console at /admin: server-rendered HTML, no JavaScript needed, Bearer or session cookie."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError
from werkzeug.wrappers import Response

import logs
from admin import auth, charts
from admin.actions import ReplayRefused, release_hold, replay_one
from admin.schemas import MAX_ID, DncAdd, DncQuery, DncRemove, LeadsQuery
from dialing import writeback_status
from lead.lifecycle import FAILED, REPLAYABLE, WAITING, LeadStatus
from metrics import SNAPSHOTS
from redact import mask_event_body
from store import attempts, audit, dialing, operator
from store import compliance as compliance_evidence

if TYPE_CHECKING:
    from runtime import Runtime

bp = Blueprint("admin_console", __name__, url_prefix="/admin", template_folder="templates")
PUBLIC = {"admin_console.login"}


def runtime() -> Runtime:
    """This process's Runtime."""
    runtime: Runtime = current_app.extensions["leadrelay"]
    return runtime


@bp.before_request
def require_login() -> ResponseReturnValue | None:
    """Disabled without ADMIN_TOKEN; without auth, a redirect to the login page (never lead data)."""
    if not auth.admin_token():
        abort(404)
    if request.method == "POST" and not auth.origin_ok():
        # A state-changing POST from another site (even with a stolen CSRF token) is refused.
        return page("error.html", 403, message="This form was posted from another site (Origin/Referer).")
    if request.endpoint in PUBLIC:
        return None
    if auth.actor() is None:
        return redirect(url_for("admin_console.login", next=request.full_path.rstrip("?")))
    if request.method == "POST" and not auth.csrf_ok():
        return page(
            "error.html",
            403,
            message="The form expired or did not come from this console (CSRF). Reload and try again.",
        )
    return None


@bp.after_request
def no_store(response: Response) -> Response:
    """Lead data is never cached by browsers or proxies."""
    response.headers["Cache-Control"] = "no-store"
    # Console URLs (lead ids, searches) never leave in a Referer to another site.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    return response


def header() -> dict[str, Any]:
    """What an operator must see first: sandbox or live, dispatcher, backlog age, open alerts."""
    from alerts.conditions import message

    snap = SNAPSHOTS.get(runtime().engine)
    # Each open alert's sentence, told as of now (the stored one is as of its last message).
    alerts = [
        {**a, "text": message(a["kind"], "firing", a["details"], a["since"] or time.time())}
        for a in (snap.firing if snap else [])
    ]
    return {
        "sandbox": runtime().settings.sandbox,
        "snap": snap,
        "alerts": alerts,
        "backlog": max(snap.oldest.values()) if snap else None,
    }


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render a console page with the header and the CSRF token."""
    actor = auth.actor()
    # The service's state (and the database read behind it) only for operators: not on the login page.
    html = render_template(
        f"admin/{template}", header=header() if actor else {}, csrf=auth.csrf_token(), actor=actor, **context
    )
    return html, status


@bp.app_template_filter("ago")
def ago(ts: float | None) -> str:
    """'3m ago' style age of an epoch time."""
    if not isinstance(ts, (int, float)):
        return "never"
    return duration(time.time() - ts) + " ago"


@bp.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    """Compact human duration: 850ms, 4.2s, 3m, 2h 5m, 3d."""
    if seconds is None:
        return "–"
    seconds = max(0.0, float(seconds))
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h {seconds % 3600 // 60:.0f}m"
    return f"{seconds // 86400:.0f}d"


@bp.app_template_filter("plural")
def plural(count: Any, word: str, many: str | None = None) -> str:
    """`1 lead`, `2 leads` (`many` for irregular plurals)."""
    number = int(count or 0)
    return f"{number} {word if number == 1 else many or word + 's'}"


@bp.app_template_filter("utc")
def utc(ts: float | None) -> str:
    """An epoch time as 'YYYY-MM-DD HH:MM:SS UTC'."""
    return "–" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def mask_fields(value: Any, key: str = "") -> Any:
    """Mask phones (by field name), emails and secrets in structured data; ids stay readable."""
    if isinstance(value, dict):
        return {k: mask_fields(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_fields(v, key) for v in value]
    if value is None or (isinstance(value, (bool, int, float)) and "phone" not in key.lower()):
        return value
    if "phone" in key.lower() or "mobile" in key.lower():
        # leadPhone joins several numbers with `|`: each keeps its own last four (the primary's
        # first, as the search by last four digits finds it), never the last four of the joined text.
        return "|".join(logs.mask_phone(part) for part in str(value).split("|"))
    if logs.mask_value(key, "x") == "***":  # a secret by its name
        return "***"
    return str(value) if "@" not in str(value) else logs.mask_text(str(value))


@bp.app_template_filter("masked")
def masked(value: Any) -> str:
    """Phones, emails and secrets masked, as pretty JSON when structured."""
    if isinstance(value, (dict, list)):
        return json.dumps(mask_fields(value), indent=2, default=str)
    return logs.mask_text("" if value is None else str(value))


# ------------------------------------------------------------------ login


def _safe_next(target: str | None) -> str:
    """Only redirect inside the console after login (no open redirect, no control character in Location)."""
    if (
        target
        and target.startswith("/admin")
        and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
        and not urlparse(target).netloc
        and not target.startswith("//")
    ):
        return target
    return url_for("admin_console.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Log in with ADMIN_TOKEN: a signed, HttpOnly, SameSite session cookie; attempts throttled."""
    engine = runtime().engine
    remote = auth.client_address()
    if request.method == "GET":
        return page("login.html", next=request.args.get("next", ""))
    ok = auth.check_login(request.form.get("token", ""))  # constant time
    # The right token always gets in: behind an undeclared proxy every client shares one address, and
    # anyone's wrong guesses must not lock the operators out. Wrong tokens past the per-address or the
    # global limit are refused without writing anything. ADMIN_TOKEN is long and random (generated),
    # so the limit bounds the work guesses cost rather than being what keeps the token secret.
    if not ok and not audit.record_failed_login(
        engine, remote, auth.LOGIN_WINDOW, auth.LOGIN_MAX_FAILURES, auth.LOGIN_MAX_FAILURES_ALL
    ):
        html, _ = page(
            "login.html",
            next=request.form.get("next", ""),
            error="Too many failed logins: wait 10 minutes.",
        )
        response = make_response(html, 429)
        response.headers["Retry-After"] = str(int(auth.LOGIN_WINDOW))
        return response
    if not ok:
        return page("login.html", 401, next=request.form.get("next", ""), error="That is not the admin token.")
    signed = redirect(_safe_next(request.form.get("next")))
    signed.set_cookie(
        auth.COOKIE,
        auth.new_session(),
        max_age=auth.SESSION_SECONDS,
        httponly=True,
        samesite="Strict",
        secure=auth.over_https(),
        path="/admin",
    )
    return signed


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session on the server (a kept cookie opens nothing) and forget the cookie."""
    auth.end_session()
    response = redirect(url_for("admin_console.login"))
    response.delete_cookie(auth.COOKIE, path="/admin")
    return response


# ------------------------------------------------------------------ pages


@bp.get("")
@bp.get("/")
def index() -> ResponseReturnValue:
    """The picture first: leads per hour by outcome and speed-to-lead p50/p95, then today's counts by source."""
    engine = runtime().engine
    now = time.time()
    buckets = operator.hourly(engine, now)
    with engine.connect() as conn:
        first_dial = charts.first_dial_svg(dialing.hourly(conn, now))
    return page(
        "index.html",
        outcomes=charts.outcomes_svg(buckets),
        speed=charts.speed_svg(buckets),
        first_dial=first_dial,
        groups=charts.GROUPS,
        today=today_rows(operator.today_by_source(engine, now)),
        actions=audit.recent_actions(engine, limit=10),
        gates=compliance_evidence.counts_since(engine, now - now % 86400),
        # A gate decision and the status it leaves the lead in (the lifecycle spells the statuses).
        gate_labels={"defer": LeadStatus.DEFERRED, "block": LeadStatus.BLOCKED, "manual": "manual campaign"},
    )


def today_rows(counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Per source: total and the chart's outcome groups."""
    return [
        {
            "source": source,
            "total": sum(by.values()),
            "groups": [sum(by.get(s, 0) for s in statuses) for _, statuses, _ in charts.GROUPS],
        }
        for source, by in sorted(counts.items())
    ]


@bp.get("/leads")
def leads() -> ResponseReturnValue:
    """Recent leads, newest first, filtered by ?status=, ?source= and ?q=."""
    try:
        # An empty select ("any status") is no filter, not an invalid status.
        args = LeadsQuery().load({k: v for k, v in request.args.items() if v != ""})
    except ValidationError as exc:
        # A schema's field errors are a dict (field → messages); a schema-level one is a list.
        errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return page("error.html", 400, message="; ".join(f"{k}: {v[0]}" for k, v in errors.items()))
    rows = operator.search_leads(
        runtime().engine,
        status=args.get("status"),
        source=args.get("source"),
        q=args.get("q"),
        limit=args["limit"],
        before_id=args.get("before"),
    )
    return page(
        "leads.html",
        leads=rows,
        args=args,
        statuses=operator.STATUSES,
        sources=sorted(runtime().settings.file.sources),
        limit=args["limit"],
    )


@bp.get("/leads/<int:lead_id>")
def lead(lead_id: int) -> ResponseReturnValue:
    """A lead's timeline: received, mapped, routed, each attempt with Engage's answer, final status."""
    if lead_id > MAX_ID:
        return page("error.html", 400, message="id: must be an id between 1 and 2^63-1")
    engine = runtime().engine
    row = runtime().queue.get(lead_id)
    if row is None:
        return page("error.html", 404, message=f"No lead {lead_id}.")
    event = runtime().queue.event(row["event_id"])
    if event is not None:
        # Stored byte-exact for replay; shown with the source's configured secrets masked.
        event["body"] = mask_event_body(runtime().settings, event["source"], event["body"])
    dialer_events = attempts.for_lead(engine, lead_id)
    with engine.connect() as conn:
        gates = compliance_evidence.for_lead(conn, lead_id)
        dial = dialing.milestones(conn, lead_id)
    return page(
        "lead.html",
        lead=row,
        event=event,
        timeline=audit.timeline(engine, lead_id),
        compliance=gates,
        attempts=dialer_events,
        writebacks=writeback_status(engine, [a["id"] for a in dialer_events]),
        dial=dial,
        replayable=row["status"] in REPLAYABLE,
        delivered=row["status"] == LeadStatus.DELIVERED,
        # The status pill's colour: green once loaded, red when it needs an operator (lead/lifecycle.py).
        pill="ok"
        if row["status"] in (LeadStatus.DELIVERED, LeadStatus.DONE)
        else "bad"
        if row["status"] in FAILED
        else "",
        due=row["next_attempt_at"] if row["status"] in WAITING else None,
        notice=auth.notice_shown(request.args),
    )


@bp.post("/leads/<int:lead_id>/replay")
def replay(lead_id: int) -> ResponseReturnValue:
    """Replay form (POST + CSRF): re-queue or re-map, recorded with who did it."""
    if lead_id > MAX_ID:
        return page("error.html", 400, message="id: must be an id between 1 and 2^63-1")
    try:
        status = replay_one(runtime(), lead_id, auth.signed_in())
    except ReplayRefused as exc:
        return page("error.html", exc.http_status, message=f"Replay refused: {exc.extra.get('detail', exc.code)}")
    text = f"Replayed: now {status}"
    return redirect(url_for("admin_console.lead", lead_id=lead_id, notice=text, sig=auth.notice_sig(text)))


@bp.get("/holds")
def holds() -> ResponseReturnValue:
    """Held campaigns and account holds with reason and since when; a Release form each."""
    return page(
        "holds.html",
        holds=operator.holds(runtime().engine),
        actions=audit.recent_actions(runtime().engine, ("release",), limit=10),
        notice=auth.notice_shown(request.args),
    )


@bp.post("/holds/release")
def release() -> ResponseReturnValue:
    """Release form (POST + CSRF): the hold's leads go back to the queue, recorded with who did it."""
    scope = request.form.get("scope", "")
    if scope != "account" and not (scope.startswith("campaign:") and len(scope) > 9):
        return page("error.html", 400, message="scope: must be 'account' or 'campaign:<name>'")
    count = release_hold(runtime(), scope, auth.signed_in())
    text = f"Released {plural(count, 'lead')} of {scope}"
    return redirect(url_for("admin_console.holds", notice=text, sig=auth.notice_sig(text)))


def _form_errors(exc: ValidationError) -> str:
    """A form's validation errors as one sentence."""
    errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return "; ".join(f"{k}: {v[0]}" for k, v in errors.items())


@bp.get("/dnc")
def dnc_page() -> ResponseReturnValue:
    """The do-not-call list: search by digits, add a number, remove one with a reason; recent changes."""
    from store import dnc

    try:
        args = DncQuery().load({k: v for k, v in request.args.items() if k in ("q", "offset") and v != ""})
    except ValidationError as exc:
        return page("error.html", 400, message=_form_errors(exc))
    total, rows = dnc.search(runtime().engine, args["q"], limit=args["limit"], offset=args["offset"])
    return page(
        "dnc.html",
        numbers=rows,
        total=total,
        args=args,
        history=dnc.history(runtime().engine, rows[0]["phone"]) if args["q"] and total == 1 else [],
        notice=request.args.get("notice"),
    )


@bp.post("/dnc/add")
def dnc_add() -> ResponseReturnValue:
    """Add form (POST + CSRF): any format, stored E.164, recorded with who added it."""
    from store import dnc
    from store.optouts import add_numbers

    try:
        form = DncAdd().load({k: v for k, v in request.form.items() if k in ("phone", "reason") and v != ""})
        number = dnc.normalize(form["phone"], runtime().settings.file.defaults["default_region"])
    except ValidationError as exc:
        return page("error.html", 400, message=_form_errors(exc))
    except dnc.BadNumber:
        return page("error.html", 400, message="phone: not a phone number")
    reason = form.get("reason") or "added in the console"
    added = add_numbers(runtime().engine, [number], reason=reason, source="console", actor=auth.signed_in(), bulk=False)
    shown = logs.mask_phone(number)
    notice = f"{shown} added" if added else f"{shown} was already on the list"
    # The number goes to the page's query string (never logged), so the operator sees the entry.
    return redirect(url_for("admin_console.dnc_page", q=number, notice=notice))


@bp.post("/dnc/remove")
def dnc_remove() -> ResponseReturnValue:
    """Remove form (POST + CSRF): a reason is required; the removal is logged with who and why."""
    from store import dnc

    try:
        form = DncRemove().load({k: v for k, v in request.form.items() if k in ("phone", "reason")})
        number = dnc.normalize(form["phone"], runtime().settings.file.defaults["default_region"])
    except ValidationError as exc:
        return page("error.html", 400, message=_form_errors(exc))
    except dnc.BadNumber:
        return page("error.html", 400, message="phone: not a phone number")
    if not form["reason"].strip():
        return page("error.html", 400, message="reason: say why this number may be called again")
    removed = dnc.remove_one(
        runtime().engine, number, reason=form["reason"], actor=auth.signed_in(), source="console", now=time.time()
    )
    if not removed:
        return page("error.html", 404, message=f"{logs.mask_phone(number)} is not on the do-not-call list")
    return redirect(
        url_for("admin_console.dnc_page", notice=f"{logs.mask_phone(number)} removed from leadrelay's list")
    )


# A pasted sample is an operator's test, not traffic: bounded like a webhook body would be.
TRY_MAX_BYTES = 256 * 1024


@bp.route("/sources/<name>/try", methods=["GET", "POST"])
def try_payload(name: str) -> ResponseReturnValue:
    """Paste a payload (POST + CSRF): what the source would make of it; nothing stored or loaded."""
    from compliance.gates import CAP_WINDOW
    from handlers.base import Inbound
    from store import dnc
    from store.compliance import loads_within
    from trial import describe, dry_run

    source = runtime().settings.file.sources.get(name)
    if source is None:
        return page("error.html", 404, message=f"No enabled source {name!r}.")
    payload = request.form.get("payload", "") if request.method == "POST" else ""
    lines: list[str] = []
    if request.method == "POST":
        body = payload.encode("utf-8", "surrogatepass")
        if not body.strip():
            return page("try.html", 400, source=name, payload=payload, lines=["Paste a request body first."])
        if len(body) > TRY_MAX_BYTES:
            return page("try.html", 413, source=name, payload="", lines=["The sample is over 256 KB."])
        content_type = request.form.get("content_type") or (
            "application/json" if body.lstrip()[:1] in (b"{", b"[") else "application/x-www-form-urlencoded"
        )
        inbound = Inbound(
            method="POST",
            url=f"{(runtime().settings.public_url or request.host_url).rstrip('/')}/webhooks/{name}",
            path=f"/webhooks/{name}",
            query={},
            headers={"Content-Type": content_type},
            body=body,
            content_type=content_type,
        )
        engine, settings = runtime().engine, runtime().settings

        def loads_24h(phones: list[str]) -> int:
            """Loads of these numbers in the last 24 h (what the caps count), read-only."""
            with engine.connect() as conn:
                return loads_within(conn, phones, time.time() - CAP_WINDOW)

        trial = dry_run(
            source,
            inbound,
            now=time.time(),
            recent=lambda source_name, since: operator.recent_records(engine, source_name, since),
            gates=source.gates(settings.windows_default_off, settings.config_path),
            loads_24h=loads_24h,
            on_dnc=lambda phones: dnc.any_on(engine, phones),
        )
        # Web processes never log in to Engage: the live campaign check is the CLI's.
        lines = describe(trial, sandbox=runtime().settings.sandbox, checked_campaigns=False)
    return page("try.html", source=name, payload=payload, lines=lines)


@bp.get("/sources")
def sources() -> ResponseReturnValue:
    """Each source: type, last webhook seen, counts by status over 24 h, auth failures over 24 h."""
    since = time.time() - 86400
    stats = operator.source_stats(runtime().engine, since)
    failures = operator.auth_failures_since(runtime().engine, since)
    configured = runtime().settings.file.sources
    empty: dict[str, Any] = {"last_seen": None, "statuses": {}, "events": {}}
    rows = [
        {
            "name": name,
            "type": src.type,
            "expect_every": src.expect_every,
            **stats.get(name, empty),
            "auth_failures": failures.get(name, 0),
        }
        for name, src in sorted(configured.items())
    ]
    return page("sources.html", sources=rows)


@bp.get("/dialer")
def dialer() -> ResponseReturnValue:
    """Dialer events that matched no lead, newest first (?before= pages on)."""
    before = request.args.get("before", "")
    if before and not (before.isdigit() and 0 < int(before) <= MAX_ID):
        return page("error.html", 400, message="before: must be an id between 1 and 2^63-1")
    rows = attempts.unmatched(runtime().engine, limit=100, before_id=int(before) if before else None)
    return page("dialer.html", events=rows, limit=100)

"""The tables, as SQLAlchemy Core metadata: one schema for SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

# Integer primary keys that are BIGINT on PostgreSQL but stay INTEGER on SQLite, so SQLite
# keeps its rowid alias (autoincrement) — the id doubles as the database ordering sequence.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Every authenticated request, stored before it is answered (raw body for audit and replay).
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("received_at", Float, nullable=False),  # epoch seconds, microsecond precision
    Column("method", String(10), nullable=False),
    Column("path", Text, nullable=False),
    Column("content_type", String(200)),
    Column("headers", Text),  # JSON: audit subset, secrets masked
    Column("body", LargeBinary),  # NULL after retention purge
    Column("status", String(20), nullable=False),  # accepted | duplicate | malformed | invalid | dropped
    Column("reason", Text),
    Column("duplicate_of", BigInteger),
    Column("remote_addr", String(64)),
    Index("ix_events_source_received", "source", "received_at"),
    Index("ix_events_received", "received_at"),  # retention sweep
    Index("ix_events_client", "source", "remote_addr", "received_at"),  # html_form per-IP limit
)

# One row per record that became (or could not become) a lead.
leads = Table(
    "leads",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", BigInteger, ForeignKey("events.id"), nullable=False),
    Column("source", String(100), nullable=False),
    Column("record_key", Text),
    Column("extern_id", Text),
    Column("status", String(20), nullable=False),
    Column("priority", String(10), nullable=False),
    Column("campaign", Text),  # as configured (name or id)
    Column("load_options", Text),  # JSON: duplicateHandling, timeZoneOption, description
    Column("lead", Text),  # JSON: the Engage uploadLeads entry
    Column("record", Text),  # JSON: sender-native fields (for audit and re-mapping)
    Column("errors", Text),  # JSON: mapping errors for invalid records
    Column("fetch_spec", Text),  # JSON: for id-only senders, what to fetch from the sender's API
    Column("primary_phone", String(32)),
    Column("sandbox", Boolean, nullable=False, default=False),
    Column("received_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claims", Integer, nullable=False, default=0),
    Column("claim_epoch", BigInteger),
    Column("claimed_until", Float),
    Column("delivered_at", Float),
    Column("last_error", Text),  # for people only: no code reads it to decide (status_reason does)
    Column("engage_response", Text),
    # Why the lead waits, is held or is blocked: a lead/lifecycle.py LeadReason (revision 0005).
    Column("status_reason", String(30)),
    # Its last call may have landed (read timeout, dropped connection, unreadable 2xx, a crash):
    # looked up with leadSearch before anything is resent.
    Column("unknown_fate", Boolean, nullable=False, default=False, server_default=false()),
    Column("warnings", Text),  # JSON: optional fields left out of the lead, each with why (revision 0010)
    Column("route_name", String(100)),  # the matched route's `name:` at routing time
    Column("route_position", Integer),  # its 1-based position then (0: the source's fallback)
    # After waiting for a calling window: immediate_max_age and retry_budget count from the opening.
    Column("clock_from", Float),
    # Dial milestones (revision 0009): the dialer's first event about the lead, its first connect,
    # the leadSearch backstop's pass count and last check, and when a final disposition came.
    Column("first_attempt_at", Float),
    Column("first_connect_at", Float),
    Column("dial_passes", Integer),
    Column("dial_checked_at", Float),
    Column("disposed_at", Float),
    Index("ix_leads_dispatch", "status", "priority", "next_attempt_at", "id"),
    Index("ix_leads_suppress_extern", "campaign", "extern_id", "received_at"),
    Index("ix_leads_suppress_phone", "campaign", "primary_phone", "received_at"),
    Index("ix_leads_event", "event_id"),
    Index("ix_leads_source_record_key", "source", "record_key"),  # a duplicate's original lead
    Index("ix_leads_received", "received_at"),  # retention sweep
    Index("ix_leads_source_phone", "source", "primary_phone", "received_at"),  # html_form per-phone limit
)

# Per-record idempotency keys: UNIQUE(source, record_key). Keys derived from sender ids never
# expire; keys that are hashes of the record expire after the source's dedupe_window.
dedupe_keys = Table(
    "dedupe_keys",
    metadata,
    Column("source", String(100), nullable=False),
    Column("record_key", String(200), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("expires_at", Float),  # NULL: never
    UniqueConstraint("source", "record_key", name="uq_dedupe_source_key"),
)

# The single dispatcher lease (fenced by epoch) with the Engage token and state it owns.
dispatcher_lease = Table(
    "dispatcher_lease",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("holder", String(200)),
    Column("epoch", BigInteger, nullable=False, default=0),
    Column("expires_at", Float, nullable=False, default=0.0),  # database clock
    Column("heartbeat_at", Float),
    Column("token", Text),  # JSON TokenState; the new leader reuses it
    Column("engage_state", String(20)),  # ok | degraded | held | sandbox
    Column("engage_detail", Text),
)

# Held campaigns (per-campaign breaker) and account-wide holds survive a failover.
holds = Table(
    "holds",
    metadata,
    Column("scope", String(200), primary_key=True),  # "account" or "campaign:<name>"
    Column("reason", Text),
    Column("since", Float, nullable=False),
    Column("probe_at", Float, nullable=False),
    Column("failures", Integer, nullable=False, default=1),
)

# Lead-loader calls and token exchanges of the last minute, timed by the database clock, so a
# new leader inherits its predecessor's rate windows instead of starting a fresh burst.
rate_events = Table(
    "rate_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),  # loader | exchange
    Column("at", Float, nullable=False),
    Index("ix_rate_events_kind_at", "kind", "at"),
)

# The operator's record (revision 0004): each Engage attempt and each admin replay/release,
# shown on a lead's timeline; lead_id is NULL for actions on a whole hold.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("lead_id", BigInteger),
    Column("kind", String(20), nullable=False),  # attempt | replay | release | login
    Column("actor", String(200), nullable=False),  # dispatcher | token | session:<id>
    Column("detail", Text),  # JSON
    Index("ix_audit_log_lead", "lead_id", "id"),
)

# One row per alert condition (e.g. "engage_auth", "source_silent:hubspot"): the database
# decides which process announces a change, so each condition is sent once, not once per process.
alert_state = Table(
    "alert_state",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("kind", String(50), nullable=False),
    Column("state", String(10), nullable=False),  # ok | firing
    Column("since", Float),
    Column("last_sent_at", Float),
    Column("created_at", Float, nullable=False),
    Column("details", Text),  # JSON
)

# Alert messages waiting to be delivered (retried with backoff; claimed by one process at a time).
alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False),
    Column("payload", Text, nullable=False),  # JSON body to POST
    Column("created_at", Float, nullable=False),
    Column("next_try_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("claimed_until", Float),
    Column("sent_at", Float),
    Column("last_error", Text),
    Index("ix_alert_outbox_due", "sent_at", "next_try_at"),
)

# Console login attempts, so throttling holds across every web process.
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("remote", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("ok", Boolean, nullable=False),
    Index("ix_login_attempts_remote_at", "remote", "at"),
)

# Console sessions, server-side so logout and `admin sessions revoke` end them at once (issue 18).
# The key is the SHA-256 of the session id in the signed cookie, never the id itself.
admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float),
    Column("remote", String(64), nullable=False),
    Index("ix_admin_sessions_expires_at", "expires_at"),
)

# Rejected webhooks per source and hour, summed from every process's counter (nothing of the
# request itself is kept: an unauthenticated request stores nothing).
auth_failure_counts = Table(
    "auth_failure_counts",
    metadata,
    Column("source", String(100), nullable=False),
    Column("hour", Float, nullable=False),  # epoch seconds at the start of the hour
    Column("count", Integer, nullable=False),
    UniqueConstraint("source", "hour", name="uq_auth_failure_counts"),
)

# Speed-to-lead over a recent window reads delivered leads by delivery time.
Index("ix_leads_delivered_at", leads.c.delivered_at)

# Compliance gate decisions with their inputs (docs/compliance.md): no lead body and no foreign key,
# so purge, forget and privacy deletions keep them until keep_until (compliance.evidence_days).
compliance_evidence = Table(
    "compliance_evidence",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("lead_id", BigInteger),
    Column("source", String(100)),
    Column("extern_id", Text),
    Column("phone", String(32)),  # the primary number, E.164 (the report's lookup)
    Column("phones", Text),  # JSON: every number, E.164
    Column("email", Text),
    Column("cert_id", String(40)),
    Column("gate", String(20), nullable=False),  # retain | do_not_call | frequency_cap | … | load
    Column("decision", String(20), nullable=False),  # load | defer | block | manual | a retain verdict
    Column("detail", Text),  # JSON: the inputs and the rule applied
    Column("decided_at", Float, nullable=False),
    Column("keep_until", Float, nullable=False),
    Index("ix_compliance_evidence_lead", "lead_id", "id"),
    Index("ix_compliance_evidence_phone", "phone", "decided_at"),
    Index("ix_compliance_evidence_decided", "decided_at"),
    Index("ix_compliance_evidence_keep", "keep_until"),
)

# One row per number per load, for the per-state frequency caps (rolling 24 h, every source).
compliance_loads = Table(
    "compliance_loads",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("phone", String(32), nullable=False),
    Column("lead_id", BigInteger, nullable=False),
    Column("loaded_at", Float, nullable=False),
    Index("ix_compliance_loads_phone", "phone", "loaded_at"),
)

# Received → first attempt over a recent window reads leads by first attempt time.
Index("ix_leads_first_attempt", leads.c.first_attempt_at)
# A dialer event finds its lead by externId (any campaign) or by the customer's number.
Index("ix_leads_extern", leads.c.extern_id, leads.c.id)  # newest first without a sort
Index("ix_leads_primary_phone", leads.c.primary_phone, leads.c.id)

# One row per dialer event (a RingCX web service call about one call segment): stored with its
# raw event, matched to its lead (lead_id NULL: unmatched, listed in the console). The attempt
# time is leadrelay's receipt time while RingCX's call_start format and zone are unconfirmed.
attempts = Table(
    "attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", BigInteger, ForeignKey("events.id"), nullable=False),
    Column("source", String(100), nullable=False),  # the ringcx source that received it
    Column("record_key", String(200), nullable=False),  # uii + event + agent: a resend is a duplicate
    Column("lead_id", BigInteger),
    Column("matched_by", String(20)),  # extern_id | phone | NULL (unmatched)
    Column("kind", String(50)),  # the event the web service is attached to (template literal)
    Column("uii", String(100)),
    Column("extern_id", Text),
    Column("phone", String(32)),
    Column("campaign", Text),
    Column("agent", Text),
    Column("agent_id", String(100)),
    Column("disposition", Text),  # the agent's disposition, as RingCX names it
    Column("system_disposition", String(100)),  # ANSWER, NOANSWER, MACHINE, ABANDON, APP_DNC …
    Column("call_start", Text),  # as sent, never parsed for decisions
    Column("duration", Integer),  # seconds
    Column("recording_url", Text),  # as sent, never fetched
    Column("connected", Boolean, nullable=False),
    Column("effect", String(20)),  # final | dnc | app_dnc | NULL: what the disposition did to the lead
    Column("attempt_at", Float, nullable=False),
    UniqueConstraint("source", "record_key", name="uq_attempts_source_key"),
    Index("ix_attempts_lead", "lead_id", "attempt_at"),
    Index("ix_attempts_at", "attempt_at"),
)

# The durable outbox (revision 0011, store/outbox.py): opt-outs, lead actions and CRM write-backs,
# enqueued in the transaction that caused them, claimed under the dispatcher lease's epoch.
jobs = Table(
    "jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(50), nullable=False),  # engage.dnc_add | engage.lead_action | writeback.* …
    Column("dedupe_key", String(200), nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    Column("priority", Integer, nullable=False),  # lower = sooner: live opt-outs 0, write-back 5, bulk 9
    Column("state", String(10), nullable=False),  # pending | sending | done | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("claims", Integer, nullable=False, default=0),  # claims that never settled (poison jobs)
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("claim_epoch", BigInteger),
    Column("claimed_until", Float),
    Column("unknown_fate", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("done_at", Float),
    Column("last_error", Text),  # for people, never read to decide
    Column("result", Text),  # JSON: the far side's answer
    UniqueConstraint("dedupe_key", name="uq_jobs_dedupe_key"),
    Index("ix_jobs_due", "state", "kind", "priority", "next_attempt_at", "id"),
    Index("ix_jobs_created", "created_at"),
)

# The do-not-call list (revision 0007): a lead is on it when ANY of its numbers is. Kept through
# privacy deletions and purges (the law requires the record of the request).
dnc = Table(
    "dnc",
    metadata,
    Column("phone", String(20), primary_key=True),  # E.164
    Column("reason", Text),
    Column("source", String(100), nullable=False),  # a source name, or console | api | cli | import
    Column("added_by", String(200), nullable=False),  # event:<id>, session:<id>, token, cli:<user>
    Column("created_at", Float, nullable=False),
)

# Every add and removal of the do-not-call list, with who and why (a removal needs a reason).
dnc_log = Table(
    "dnc_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("action", String(10), nullable=False),  # add | remove
    Column("phone", String(20), nullable=False),
    Column("reason", Text),
    Column("source", String(100), nullable=False),
    Column("actor", String(200), nullable=False),
    Index("ix_dnc_log_phone", "phone", "id"),
)

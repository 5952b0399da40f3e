"""Initial schema: events, leads, dedupe keys, the dispatcher lease, holds, rate events.

Revision ID: 0001

Spelled out operation by operation (never `metadata.create_all` from the live store/schema.py):
a revision must create the same tables forever, whatever later revisions add to the schema.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

# BIGINT on PostgreSQL, INTEGER on SQLite (so the id stays SQLite's rowid alias).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the tables and indexes as of revision 0001."""
    op.create_table(
        "events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("content_type", sa.String(200)),
        sa.Column("headers", sa.Text),
        sa.Column("body", sa.LargeBinary),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("duplicate_of", sa.BigInteger),
        sa.Column("remote_addr", sa.String(64)),
    )
    op.create_index("ix_events_source_received", "events", ["source", "received_at"])

    op.create_table(
        "leads",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.BigInteger, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("record_key", sa.Text),
        sa.Column("extern_id", sa.Text),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("campaign", sa.Text),
        sa.Column("load_options", sa.Text),
        sa.Column("lead", sa.Text),
        sa.Column("record", sa.Text),
        sa.Column("errors", sa.Text),
        sa.Column("fetch_spec", sa.Text),
        sa.Column("primary_phone", sa.String(32)),
        sa.Column("sandbox", sa.Boolean, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claims", sa.Integer, nullable=False),
        sa.Column("claim_epoch", sa.BigInteger),
        sa.Column("claimed_until", sa.Float),
        sa.Column("delivered_at", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("engage_response", sa.Text),
    )
    op.create_index("ix_leads_dispatch", "leads", ["status", "priority", "next_attempt_at", "id"])
    op.create_index("ix_leads_suppress_extern", "leads", ["campaign", "extern_id", "received_at"])
    op.create_index("ix_leads_suppress_phone", "leads", ["campaign", "primary_phone", "received_at"])
    op.create_index("ix_leads_event", "leads", ["event_id"])

    op.create_table(
        "dedupe_keys",
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("record_key", sa.String(200), nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Float),
        sa.UniqueConstraint("source", "record_key", name="uq_dedupe_source_key"),
    )

    op.create_table(
        "dispatcher_lease",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("holder", sa.String(200)),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float),
        sa.Column("token", sa.Text),
        sa.Column("engage_state", sa.String(20)),
        sa.Column("engage_detail", sa.Text),
    )

    op.create_table(
        "holds",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("reason", sa.Text),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("probe_at", sa.Float, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
    )

    op.create_table(
        "rate_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_rate_events_kind_at", "rate_events", ["kind", "at"])

    # The single lease row every dispatcher contends for.
    op.execute("INSERT INTO dispatcher_lease (name, holder, epoch, expires_at) VALUES ('dispatcher', NULL, 0, 0)")


def downgrade() -> None:
    """Drop every table of revision 0001."""
    for table in ("rate_events", "holds", "dispatcher_lease", "dedupe_keys", "leads", "events"):
        op.drop_table(table)

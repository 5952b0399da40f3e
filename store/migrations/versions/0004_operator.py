"""Operator view: audit log, alert state and outbox, login attempts, auth failures.

The audit log is the lead timeline; the auth failure counts and the delivered_at index serve the
console and the operator gauges.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"

# BIGINT on PostgreSQL, INTEGER on SQLite (so the id stays SQLite's rowid alias).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the operator tables and the delivered_at index."""
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("lead_id", sa.BigInteger),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_log_lead", "audit_log", ["lead_id", "id"])
    op.create_table(
        "alert_state",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("since", sa.Float),
        sa.Column("last_sent_at", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("details", sa.Text),
    )
    op.create_table(
        "alert_outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("next_try_at", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_until", sa.Float),
        sa.Column("sent_at", sa.Float),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_alert_outbox_due", "alert_outbox", ["sent_at", "next_try_at"])
    op.create_table(
        "login_attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("remote", sa.String(64), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
    )
    op.create_index("ix_login_attempts_remote_at", "login_attempts", ["remote", "at"])
    op.create_table(
        "auth_failure_counts",
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("hour", sa.Float, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.UniqueConstraint("source", "hour", name="uq_auth_failure_counts"),
    )
    op.create_index("ix_leads_delivered_at", "leads", ["delivered_at"])


def downgrade() -> None:
    """Drop what upgrade created."""
    op.drop_index("ix_leads_delivered_at", "leads")
    for table in ("auth_failure_counts", "login_attempts", "alert_outbox", "alert_state", "audit_log"):
        op.drop_table(table)

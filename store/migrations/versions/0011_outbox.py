"""The durable outbox: one `jobs` table for opt-outs, lead actions and CRM write-backs (issue 16).

Revision ID: 0011

A job is enqueued in the transaction that caused it and claimed under the dispatcher lease's epoch
(store/outbox.py). `dedupe_key` is UNIQUE, so enqueueing is idempotent; `ix_jobs_due` serves the
claim (state, kind, priority, due time, id), `ix_jobs_created` the `opt_out_stuck` alert.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"

# BIGINT on PostgreSQL, INTEGER on SQLite (so the id stays SQLite's rowid alias).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the jobs table and its indexes."""
    op.create_table(
        "jobs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claims", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("claim_epoch", sa.BigInteger),
        sa.Column("claimed_until", sa.Float),
        sa.Column("unknown_fate", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("done_at", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("result", sa.Text),
        sa.UniqueConstraint("dedupe_key", name="uq_jobs_dedupe_key"),
    )
    op.create_index("ix_jobs_due", "jobs", ["state", "kind", "priority", "next_attempt_at", "id"])
    op.create_index("ix_jobs_created", "jobs", ["created_at"])


def downgrade() -> None:
    """Drop the jobs table."""
    op.drop_index("ix_jobs_created", "jobs")
    op.drop_index("ix_jobs_due", "jobs")
    op.drop_table("jobs")

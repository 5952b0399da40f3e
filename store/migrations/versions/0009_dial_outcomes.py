"""Dial outcomes: one row per dialer event (an attempt), the lead's dial milestones, write-back state.

`attempts` keeps what a RingCX web service posted about one call segment, matched to its lead (or
not: lead_id NULL, listed as an unmatched dialer event). The lead gets the times speed-to-first-dial
is measured by (first attempt, first connect), the leadSearch backstop's pass count and last check,
and the time of a final disposition (its suppression counts from there).

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

# BIGINT on PostgreSQL, INTEGER on SQLite (so the id stays SQLite's rowid alias).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create `attempts` and add the dial milestones to `leads`."""
    op.create_table(
        "attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.BigInteger, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("record_key", sa.String(200), nullable=False),
        sa.Column("lead_id", sa.BigInteger),
        sa.Column("matched_by", sa.String(20)),
        sa.Column("kind", sa.String(50)),
        sa.Column("uii", sa.String(100)),
        sa.Column("extern_id", sa.Text),
        sa.Column("phone", sa.String(32)),
        sa.Column("campaign", sa.Text),
        sa.Column("agent", sa.Text),
        sa.Column("agent_id", sa.String(100)),
        sa.Column("disposition", sa.Text),
        sa.Column("system_disposition", sa.String(100)),
        sa.Column("call_start", sa.Text),
        sa.Column("duration", sa.Integer),
        sa.Column("recording_url", sa.Text),
        sa.Column("connected", sa.Boolean, nullable=False),
        sa.Column("effect", sa.String(20)),
        sa.Column("attempt_at", sa.Float, nullable=False),
        sa.UniqueConstraint("source", "record_key", name="uq_attempts_source_key"),
    )
    op.create_index("ix_attempts_lead", "attempts", ["lead_id", "attempt_at"])
    op.create_index("ix_attempts_at", "attempts", ["attempt_at"])
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("first_attempt_at", sa.Float))
        batch.add_column(sa.Column("first_connect_at", sa.Float))
        batch.add_column(sa.Column("dial_passes", sa.Integer))
        batch.add_column(sa.Column("dial_checked_at", sa.Float))
        batch.add_column(sa.Column("disposed_at", sa.Float))
    op.create_index("ix_leads_first_attempt", "leads", ["first_attempt_at"])
    op.create_index("ix_leads_extern", "leads", ["extern_id", "id"])
    op.create_index("ix_leads_primary_phone", "leads", ["primary_phone", "id"])


def downgrade() -> None:
    """Drop what upgrade created."""
    op.drop_index("ix_leads_primary_phone", "leads")
    op.drop_index("ix_leads_extern", "leads")
    op.drop_index("ix_leads_first_attempt", "leads")
    with op.batch_alter_table("leads") as batch:
        for column in ("disposed_at", "dial_checked_at", "dial_passes", "first_connect_at", "first_attempt_at"):
            batch.drop_column(column)
    op.drop_index("ix_attempts_at", "attempts")
    op.drop_index("ix_attempts_lead", "attempts")
    op.drop_table("attempts")

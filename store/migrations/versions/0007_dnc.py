"""Opt-outs: the do-not-call list and its add/remove log (leads by externId: ix_leads_extern, 0009).

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0011"

# BIGINT on PostgreSQL, INTEGER on SQLite (so the id stays SQLite's rowid alias).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create dnc and dnc_log."""
    op.create_table(
        "dnc",
        sa.Column("phone", sa.String(20), primary_key=True),
        sa.Column("reason", sa.Text),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "dnc_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
    )
    op.create_index("ix_dnc_log_phone", "dnc_log", ["phone", "id"])


def downgrade() -> None:
    """Drop what upgrade created."""
    op.drop_index("ix_dnc_log_phone", table_name="dnc_log")
    op.drop_table("dnc_log")
    op.drop_table("dnc")

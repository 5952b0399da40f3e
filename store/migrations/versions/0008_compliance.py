"""Compliance evidence (gate decisions with their inputs), the caps' load log, leads.clock_from.

leads.clock_from: after a lead waited for a calling window, its dispatch clock counts from there.

Evidence rows carry no lead body (E.164 numbers, email, certificate id, decisions) and no foreign
key, so purge, forget and privacy deletions of leads keep them for `compliance.evidence_days`.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0010"

# BIGINT on PostgreSQL, INTEGER on SQLite (so the id stays SQLite's rowid alias).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create compliance_evidence and compliance_loads; add leads.clock_from."""
    op.create_table(
        "compliance_evidence",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.BigInteger),
        sa.Column("source", sa.String(100)),
        sa.Column("extern_id", sa.Text),
        sa.Column("phone", sa.String(32)),  # the primary number, E.164 (the report's lookup)
        sa.Column("phones", sa.Text),  # JSON: every number, E.164
        sa.Column("email", sa.Text),
        sa.Column("cert_id", sa.String(40)),
        sa.Column("gate", sa.String(20), nullable=False),  # retain | do_not_call | … | load
        sa.Column("decision", sa.String(20), nullable=False),  # load | defer | block | manual | a retain verdict
        sa.Column("detail", sa.Text),  # JSON: the inputs and the rule applied
        sa.Column("decided_at", sa.Float, nullable=False),
        sa.Column("keep_until", sa.Float, nullable=False),
    )
    op.create_index("ix_compliance_evidence_lead", "compliance_evidence", ["lead_id", "id"])
    op.create_index("ix_compliance_evidence_phone", "compliance_evidence", ["phone", "decided_at"])
    op.create_index("ix_compliance_evidence_decided", "compliance_evidence", ["decided_at"])
    op.create_index("ix_compliance_evidence_keep", "compliance_evidence", ["keep_until"])
    op.create_table(
        "compliance_loads",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("phone", sa.String(32), nullable=False),  # E.164; one row per number per load
        sa.Column("lead_id", sa.BigInteger, nullable=False),
        sa.Column("loaded_at", sa.Float, nullable=False),
    )
    op.create_index("ix_compliance_loads_phone", "compliance_loads", ["phone", "loaded_at"])
    op.add_column("leads", sa.Column("clock_from", sa.Float))


def downgrade() -> None:
    """Drop what upgrade created."""
    op.drop_column("leads", "clock_from")
    op.drop_index("ix_compliance_loads_phone", table_name="compliance_loads")
    op.drop_table("compliance_loads")
    for name in ("keep", "decided", "phone", "lead"):
        op.drop_index(f"ix_compliance_evidence_{name}", table_name="compliance_evidence")
    op.drop_table("compliance_evidence")

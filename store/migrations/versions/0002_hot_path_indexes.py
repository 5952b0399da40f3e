"""Indexes for every hot-path lookup that had none.

Revision ID: 0002

- leads(source, record_key): a duplicate's original lead (every re-sent record looks it up). Without
  it, at 1M lead rows the PostgreSQL ack median was 293 ms (5 ms with it), and a re-sent 15k batch
  on SQLite held the write lock for 20 s.
- leads(received_at), events(received_at): the retention sweep's range; on SQLite that sweep holds
  the write lock, so a full scan of a large table stalls every webhook meanwhile.
- events(source, remote_addr, received_at), leads(source, primary_phone, received_at): html_form's
  per-IP and per-phone limits, counted in the database so they hold across processes.
"""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    """Create the indexes."""
    op.create_index("ix_leads_source_record_key", "leads", ["source", "record_key"])
    op.create_index("ix_leads_received", "leads", ["received_at"])
    op.create_index("ix_events_received", "events", ["received_at"])
    op.create_index("ix_events_client", "events", ["source", "remote_addr", "received_at"])
    op.create_index("ix_leads_source_phone", "leads", ["source", "primary_phone", "received_at"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_leads_source_phone", table_name="leads")
    op.drop_index("ix_events_client", table_name="events")
    op.drop_index("ix_events_received", table_name="events")
    op.drop_index("ix_leads_received", table_name="leads")
    op.drop_index("ix_leads_source_record_key", table_name="leads")

"""Initial schema: events, leads, dedupe keys, the dispatcher lease, holds.

Revision ID: 0001
"""
from alembic import op

from store.schema import metadata

revision = "0001"
down_revision = None


def upgrade():
    """Create every table of store.schema as of this revision."""
    bind = op.get_bind()
    metadata.create_all(bind)
    bind.exec_driver_sql(
        "INSERT INTO dispatcher_lease (name, holder, epoch, expires_at) VALUES ('dispatcher', NULL, 0, 0)"
    )


def downgrade():
    """Drop everything."""
    metadata.drop_all(op.get_bind())

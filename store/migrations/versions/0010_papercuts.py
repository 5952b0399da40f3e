"""A new user's first week (issue 19): lead warnings and the matched route.

`leads.warnings` (JSON) names the optional fields left out of a lead and why; `route_name` and
`route_position` record which route matched at routing time, since positions shift when routes are
edited. Existing leads keep NULL: nothing was dropped from them and their route was not recorded.

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0006"


def upgrade() -> None:
    """Add the warnings and route columns to leads."""
    # Nullable columns: a plain ALTER TABLE on both dialects, no table rebuild on SQLite.
    op.add_column("leads", sa.Column("warnings", sa.Text))
    op.add_column("leads", sa.Column("route_name", sa.String(100)))
    op.add_column("leads", sa.Column("route_position", sa.Integer))


def downgrade() -> None:
    """Drop the columns again."""
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("route_position")
        batch.drop_column("route_name")
        batch.drop_column("warnings")

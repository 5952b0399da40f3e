"""Server-side console sessions (issue 18): logout and `admin sessions revoke` end a session at once.

Revision ID: 0006

- admin_sessions: one row per console login, keyed by the SHA-256 of the session id the signed
  cookie carries (a copy of the table opens no session); `revoked_at` ends it, `expires_at` bounds it.
- The login throttle keeps using login_attempts (0004): refusals past the limit now write nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    """Create admin_sessions."""
    op.create_table(
        "admin_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
        sa.Column("remote", sa.String(64), nullable=False),
    )
    op.create_index("ix_admin_sessions_expires_at", "admin_sessions", ["expires_at"])


def downgrade() -> None:
    """Drop admin_sessions."""
    op.drop_index("ix_admin_sessions_expires_at", table_name="admin_sessions")
    op.drop_table("admin_sessions")

"""The lead lifecycle's reason columns: why a lead waits or is held, and whether a call's fate is unknown.

`leads.status_reason` (a lead/lifecycle.py LeadReason value, NULL: none) and `leads.unknown_fate`
replace the prefixes the dispatcher wrote into `last_error` ("Engage unavailable: ", "fate unknown: ",
"Engage authentication failed: ", "campaign '…' …"). The backfill reads those prefixes once, here;
from now on no code reads `last_error` to decide anything. The values are spelled out (a revision is
frozen history and never imports the application).

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

# (status, where on last_error, reason), applied in order; the first that matches a row wins.
# These are the texts dispatch/sender.py wrote before this revision.
BACKFILL = [
    # held: the account (credentials refused) or a campaign's breaker — the rule store/operator.py used
    ("held", "LOWER(last_error) LIKE '%authentication%'", "account_hold"),
    ("held", "TRUE", "campaign_hold"),
    # retrying: an account-wide outage (expedited when Engage answers), the token budget, a 429
    ("retrying", "last_error LIKE '%Engage unavailable: %'", "outage"),
    ("retrying", "last_error LIKE '%token exchange throttled%'", "token_exchange"),
    ("retrying", "last_error LIKE '%throttled (429)%'", "throttle"),
    ("retrying", "last_error LIKE 'fate unknown: crash: %'", "crash_recovery"),
    ("retrying", "TRUE", "engage_error"),
    # a send that crashed was settled queued, to be looked up before it is resent
    ("queued", "last_error LIKE 'fate unknown: crash: %'", "crash_recovery"),
]


def upgrade() -> None:
    """Add the columns, then backfill them from today's last_error prefixes."""
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("status_reason", sa.String(30)))
        batch.add_column(sa.Column("unknown_fate", sa.Boolean, nullable=False, server_default=sa.false()))
    for status, where, reason in BACKFILL:
        op.execute(
            sa.text(
                f"UPDATE leads SET status_reason = :reason WHERE status = :status "  # noqa: S608 (constants above)
                f"AND status_reason IS NULL AND last_error IS NOT NULL AND ({where})"
            ).bindparams(reason=reason, status=status)
        )
    # A call that may have landed: looked up with leadSearch before anything is resent.
    op.execute(
        sa.text(
            "UPDATE leads SET unknown_fate = :yes WHERE status IN ('queued', 'retrying') "
            "AND last_error LIKE 'fate unknown: %'"
        ).bindparams(yes=True)
    )


def downgrade() -> None:
    """Drop the columns (last_error still carries the prefixes the old code reads)."""
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("unknown_fate")
        batch.drop_column("status_reason")

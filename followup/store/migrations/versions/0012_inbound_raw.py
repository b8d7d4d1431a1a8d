"""inbound raw bytes in a table of their own; planned steps found by (state, assignment)

Interpreting a message fills in its row: kept apart, its bytes are not
rewritten with it. Cancelling the planned steps of the assignments a batch
of replies resolved reads those steps, not every planned row.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_raw",
        sa.Column("inbound_id", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_message.id"]),
        sa.PrimaryKeyConstraint("inbound_id"),
    )
    op.execute("INSERT INTO inbound_raw (inbound_id, raw) SELECT id, raw FROM inbound_message")
    # Plain ADD/DROP COLUMN: a batch copy would write inbound_message's generated column (0006).
    op.drop_column("inbound_message", "raw")
    op.create_index("ix_notification_state_assignment", "notification", ["state", "assignment_id"])


def downgrade() -> None:
    op.drop_index("ix_notification_state_assignment", table_name="notification")
    empty = "''::bytea" if op.get_bind().dialect.name == "postgresql" else "x''"
    op.add_column(
        "inbound_message", sa.Column("raw", sa.LargeBinary(), nullable=False, server_default=sa.text(empty))
    )
    op.execute(
        "UPDATE inbound_message SET raw = (SELECT raw FROM inbound_raw WHERE inbound_raw.inbound_id = inbound_message.id)"
        " WHERE id IN (SELECT inbound_id FROM inbound_raw)"
    )
    op.drop_table("inbound_raw")

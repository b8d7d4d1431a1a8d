"""report: replies in triage found through an index

The weekly digest counts and lists the replies waiting in triage; without
an index that reads every message ever received.

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbound_message_triage", "inbound_message", ["triage", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_inbound_message_triage", table_name="inbound_message")

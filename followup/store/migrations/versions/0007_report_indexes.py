"""report: indexes for the status matrix and the digest

The status matrix reads every assignment in (commitment, owner) order with
its state and due date: an index holding those columns answers it without
a lookup per row. The weekly digest counts and lists the replies waiting
in triage; without an index that reads every message ever received.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_assignment_matrix",
        "assignment",
        ["commitment_id", "party_code", "occurrence", "state", "due_date"],
        unique=False,
    )
    op.create_index("ix_inbound_message_triage", "inbound_message", ["triage", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_inbound_message_triage", table_name="inbound_message")
    op.drop_index("ix_assignment_matrix", table_name="assignment")

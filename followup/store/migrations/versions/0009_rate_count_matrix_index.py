"""web: rate limits shared by every web process; an index for the matrix's state filter

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_count",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "slot"),
    )
    with op.batch_alter_table("rate_count", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_count_expires"), ["expires"], unique=False)
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assignment_commitment_state_due", ["commitment_id", "state", "due_date"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_assignment_commitment_state_due")
    with op.batch_alter_table("rate_count", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_count_expires"))
    op.drop_table("rate_count")

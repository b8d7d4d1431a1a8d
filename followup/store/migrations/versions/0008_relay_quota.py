"""relay quotas: the shared per-relay quota row, and notifications held for the quota

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relay_quota",
        sa.Column("relay", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("hour_counts", sa.JSON(), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("strikes", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("relay"),
    )
    # Plain ADD/DROP COLUMN: a batch copy would write notification's generated column (0006).
    op.add_column("notification", sa.Column("held_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("notification", "held_since")
    op.drop_table("relay_quota")

"""interrupted sends: count SMTP transactions a dying process left without an end

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN: a batch copy would write notification's generated column (0006).
    op.add_column("notification", sa.Column("interrupted", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("notification", "interrupted")

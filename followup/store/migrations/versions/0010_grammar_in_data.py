"""grammar in data: running-text party names and per-contact salutations

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN, not batch mode: a batch copy of ``contact`` would write its generated
    # ``email_lower`` column (0006), which SQLite refuses. server_default fills the rows already there.
    for table, columns in _COLUMNS.items():
        for column in columns:
            op.add_column(
                table, sa.Column(column, sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="")
            )


def downgrade() -> None:
    for table, columns in _COLUMNS.items():
        for column in reversed(columns):
            op.drop_column(table, column)


_COLUMNS = {"party": ("text_name_en", "text_name_es"), "contact": ("salutation_en", "salutation_es")}

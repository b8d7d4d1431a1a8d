"""grammar in data: running-text party names and per-contact salutations

Revision ID: 0010
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # server_default fills the rows already there; the models give new rows the same empty text.
    with op.batch_alter_table("party", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text_name_en", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("text_name_es", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""))
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("salutation_en", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("salutation_es", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("salutation_es")
        batch_op.drop_column("salutation_en")
    with op.batch_alter_table("party", schema=None) as batch_op:
        batch_op.drop_column("text_name_es")
        batch_op.drop_column("text_name_en")

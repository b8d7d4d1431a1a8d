"""durable ingest: inbound_message.interpreted_at and auth_failure

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("interpreted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "auth_failure", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False, server_default=""
            )
        )
        batch_op.create_index(batch_op.f("ix_inbound_message_interpreted_at"), ["interpreted_at"], unique=False)
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.alter_column("auth_failure", server_default=None)
    # Rows stored before this revision were interpreted, except those a crash left between the
    # two transactions: those still carry the placeholders written at storing time, so the next
    # ingest or poll interprets them now instead of losing them.
    inbound = sa.table(
        "inbound_message",
        sa.column("interpreted_at", sa.DateTime(timezone=True)),
        sa.column("received_at", sa.DateTime(timezone=True)),
        sa.column("sender", sa.String()),
        sa.column("subject", sa.String()),
        sa.column("new_text", sa.String()),
        sa.column("match_method", sa.String()),
        sa.column("quarantined", sa.Boolean()),
    )
    never_interpreted = sa.and_(
        inbound.c.sender == "",
        inbound.c.subject == "",
        inbound.c.new_text == "",
        inbound.c.match_method == "",
        inbound.c.quarantined == sa.false(),
    )
    op.execute(
        inbound.update()
        .where(sa.not_(never_interpreted))
        .values(interpreted_at=sa.func.coalesce(inbound.c.received_at, sa.func.current_timestamp()))
    )


def downgrade() -> None:
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_message_interpreted_at"))
        batch_op.drop_column("auth_failure")
        batch_op.drop_column("interpreted_at")

"""web: submission archive and secretariat accounts

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("commitment_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("party_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("original_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignment.id"]),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_message.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("archive_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_file_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_archive_file_assignment_id"), ["assignment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_archive_file_commitment_id"), ["commitment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_archive_file_party_code"), ["party_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_archive_file_inbound_id"), ["inbound_id"], unique=False)
    op.create_table(
        "web_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sessions_valid_after", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )


def downgrade() -> None:
    op.drop_table("web_user")
    with op.batch_alter_table("archive_file", schema=None) as batch_op:
        for name in ("inbound_id", "party_code", "commitment_id", "assignment_id", "sha256"):
            batch_op.drop_index(batch_op.f(f"ix_archive_file_{name}"))
    op.drop_table("archive_file")

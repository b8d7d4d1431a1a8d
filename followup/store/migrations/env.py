"""Alembic environment: the engine comes from :func:`followup.store.db.alembic_config`."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import followup.store.models  # noqa: F401  (registers the tables)

config = context.config
engine: Engine = config.attributes["engine"]
target_metadata = SQLModel.metadata

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

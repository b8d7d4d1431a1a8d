"""The status matrix's light table clauses name real columns of the models, with the models' types."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

import followup.store.models  # noqa: F401  (registers the tables in the metadata)
from followup.store import light_tables


def test_every_light_column_is_a_model_column_of_the_same_type() -> None:
    for clause in light_tables.ALL:
        table = SQLModel.metadata.tables[clause.name]
        for column in clause.columns:
            assert column.name in table.c, f"{clause.name}.{column.name} is not in the models"
            if not isinstance(column.type, sa.types.NullType):  # typed: must convert as the model does
                model_type = table.c[column.name].type
                assert type(column.type) is type(model_type), f"{clause.name}.{column.name}: {model_type!r}"

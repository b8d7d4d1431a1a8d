"""The few columns the status matrix reads, as SQLAlchemy Core table clauses: no SQLModel, no mapping.

``followup status --country XX`` answers in well under a second; importing
SQLModel and building every model class (:mod:`followup.store.models`) would
take a third of that budget before the first query. These clauses
(``sa.table``/``sa.column``, SQLAlchemy's lightweight way of naming columns in
a query) are not a second schema: they create nothing, carry no constraint,
and name only what the matrix reads; :mod:`followup.store.models` stays the
one definition, Alembic's migrations its history.
``tests/unit/test_light_tables.py`` checks that every column named here
exists in the models with the same type.

A column is typed only when its values must be converted on the way out
(dates, for the due rule's text) or in (booleans); the others come as the
driver gives them, which is what the matrix's inner loop wants.
"""

from __future__ import annotations

import sqlalchemy as sa

party = sa.table(
    "party",
    sa.column("code"),
    sa.column("name_en"),
    sa.column("kind"),
    sa.column("member", sa.Boolean),
)

commitment = sa.table(
    "commitment",
    sa.column("id"),
    sa.column("title_en"),
    sa.column("due_kind"),
    sa.column("due_date", sa.Date),
    sa.column("due_precision"),
    sa.column("due_meeting_kind"),
    sa.column("due_meeting_id"),
    sa.column("due_offset_days"),
    sa.column("recurrence_months"),
    sa.column("active", sa.Boolean),
)

#: ``due_date`` untyped on purpose: the matrix compares and caches the driver's own values.
assignment = sa.table(
    "assignment",
    sa.column("id"),
    sa.column("commitment_id"),
    sa.column("party_code"),
    sa.column("occurrence"),
    sa.column("state"),
    sa.column("due_date"),
)

inbound_match = sa.table("inbound_match", sa.column("assignment_id"))

#: Every clause above, for the test that holds them to the models.
ALL = (party, commitment, assignment, inbound_match)

"""The status matrix streamed from the database: ``followup status``, the web's matrix page, the meeting round.

Written against :mod:`followup.store.light_tables` (SQLAlchemy Core, no
SQLModel), so that asking about one owner costs the query and little more:
this module and what it imports must not pull in the models
(``tests/e2e/test_cli_startup.py`` checks the ``status`` command's imports).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import partial
from itertools import chain
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Executable

from followup.store import light_tables as t
from followup.store.status import Cell, CellMaker, Matrix, RawAssignment, Row, current_by_commitment, rule_text


@dataclass(frozen=True)
class MatrixStream:
    """The status matrix as it leaves the database: its columns first, then its rows one at a time.

    ``rows`` yields each commitment's :class:`Row` in the order of
    :func:`status_matrix` and holds one commitment in memory at a time; it
    reads from an open connection, so it is consumed inside
    :func:`open_matrix`'s ``with`` block.
    """

    today: date
    #: The owners (columns) that have at least one cell, in column order.
    owners: list[tuple[str, str]]
    rows: Iterator[Row]


@contextmanager
def open_matrix(engine: Engine, today: date, *, country: str | None = None) -> Iterator[MatrixStream]:
    """Stream the status matrix (see :class:`MatrixStream`), for ``country`` only when given.

    Assignments come in the order of the unique index (commitment, owner,
    occurrence) with their due dates as the driver stores them, and are
    folded into each pair's current occurrence as they pass
    (:func:`followup.store.status.current_by_commitment`); the reply counts
    come as a second stream in the same order and are merged in. Nothing
    is proportional to the number of assignments but the time.
    """
    with engine.connect() as conn:
        owners = _matrix_owners(conn, country)
        shown = sa.select(*RULE_COLUMNS).where(_ACTIVE)
        if country:  # only that owner's commitments: one owner's matrix costs that owner's rows
            mine = sa.select(_A.commitment_id).where(_A.party_code == country)
            shown = shown.where(_C.id.in_(mine))
        titles = {c.id: (c.title_en, rule_text(c)) for c in conn.execute(shown).all()}
        yield MatrixStream(today, owners, _matrix_rows(conn, today, owners, titles, country))


def status_matrix(engine: Engine, today: date, *, country: str | None = None) -> Matrix:
    """The whole matrix in memory: for the pages and emails that show a part of it, and for tests."""
    with open_matrix(engine, today, country=country) as stream:
        return Matrix(today, stream.owners, list(stream.rows))


#: Rows fetched per round trip while streaming (PostgreSQL uses a server-side cursor).
STREAM_BATCH = 5000
_A, _C, _P, _M = t.assignment.c, t.commitment.c, t.party.c, t.inbound_match.c
_ACTIVE = _C.active.is_(True)
RULE_COLUMNS = (
    _C.id,
    _C.title_en,
    _C.due_kind,
    _C.due_date,
    _C.due_precision,
    _C.due_meeting_kind,
    _C.due_meeting_id,
    _C.due_offset_days,
    _C.recurrence_months,
)
#: The matrix's column order: member countries first, then by kind and code.
OWNER_ORDER = (_P.member.desc(), _P.kind, _P.code)


def _matrix_owners(conn: Connection, country: str | None) -> list[tuple[str, str]]:
    """Owners with at least one assignment of an active commitment: one index probe per party."""
    has_items = (
        sa.select(sa.literal(1))
        .select_from(t.assignment)
        .join(t.commitment, _C.id == _A.commitment_id)
        .where(_A.party_code == _P.code, _ACTIVE)
        .exists()
    )
    stmt = sa.select(_P.code, _P.name_en).where(has_items).order_by(*OWNER_ORDER)
    if country:
        stmt = stmt.where(_P.code == country)
    return [(str(code), str(name)) for code, name in conn.execute(stmt).all()]


def _matrix_rows(
    conn: Connection, today: date, owners: list[tuple[str, str]], titles: dict[str, tuple[str, str]],
    country: str | None,
) -> Iterator[Row]:  # fmt: skip
    rank = {code: i for i, (code, _name) in enumerate(owners)}
    # Rows come by owner code within a commitment; when the column order is the code order too (SQLite
    # compares codes as Python does), a commitment's cells need no sorting.
    presorted = conn.dialect.name == "sqlite" and [code for code, _ in owners] == sorted(rank)
    maker = CellMaker(today)
    kind, known = maker.kind, maker.kinds.get
    make_cell = tuple.__new__  # Cell's own __new__ is a Python function; this is the same tuple, made in C
    replies = _stream_reply_counts(conn, country)
    reply = next(replies, None)
    for commitment_id, picks in current_by_commitment(_stream_assignments(conn, country)):
        counts: dict[int, int] = {}
        while reply is not None and reply[0] == commitment_id:
            counts[reply[1]] = reply[2]
            reply = next(replies, None)
        shown = titles.get(commitment_id)
        if shown is None:  # an inactive commitment: filtered here, a join would cost a lookup per row
            continue
        if not presorted and len(picks) > 1:
            picks.sort(key=lambda r: rank[r[2]])
        cells: dict[str, Cell] = {}
        for aid, _cid, party, _occurrence, state, due in picks:
            found = known((state, due)) or kind(state, due)
            cells[party] = make_cell(
                Cell, (found[0], found[1], aid, state, found[2], found[3], counts.get(aid, 0) if counts else 0)
            )
        yield Row(commitment_id, shown[0], shown[1], cells)


def _stream_assignments(conn: Connection, country: str | None) -> Iterator[RawAssignment]:
    """Assignments in (commitment, owner) order, the unique index's: due dates untouched by SQLAlchemy."""
    stmt = sa.select(_A.id, _A.commitment_id, _A.party_code, _A.occurrence, _A.state, _A.due_date).order_by(
        _A.commitment_id, _A.party_code
    )
    if country:
        stmt = stmt.where(_A.party_code == country)
    return cast("Iterator[RawAssignment]", _driver_rows(conn, stmt))


def _stream_reply_counts(conn: Connection, country: str | None) -> Iterator[tuple[str, int, int]]:
    """(commitment, assignment, replies) for assignments with replies, in the same commitment order.

    The same filter as :func:`_stream_assignments`, so every commitment
    here also comes there and the two streams merge on equality alone
    (no Python comparison that could disagree with the database's collation).
    One owner: from its assignments to their matches. The whole matrix:
    from the matches (grouped first, so the database does not walk every
    assignment looking for them) to their assignments.
    """
    if country:
        stmt = (
            sa.select(_A.commitment_id, _M.assignment_id, sa.func.count())
            .select_from(t.assignment)
            .join(t.inbound_match, _M.assignment_id == _A.id)
            .where(_A.party_code == country)
            .group_by(_A.commitment_id, _M.assignment_id)
            .order_by(_A.commitment_id)
        )
    else:
        replied = (
            sa.select(_M.assignment_id.label("aid"), sa.func.count().label("n")).group_by(_M.assignment_id).subquery()
        )
        stmt = (
            sa.select(_A.commitment_id, replied.c.aid, replied.c.n)
            .select_from(replied)
            .join(t.assignment, _A.id == replied.c.aid)
            .order_by(_A.commitment_id)
        )
    return cast("Iterator[tuple[str, int, int]]", _driver_rows(conn, stmt))


def _driver_rows(conn: Connection, stmt: Executable) -> Iterator[tuple[Any, ...]]:
    """SQLite's own tuples, in batches: SQLAlchemy's per-row processing would double the matrix's time.

    Only for queries whose columns need no conversion (integers, text, and
    dates left as the driver gives them). PostgreSQL goes through
    SQLAlchemy's streaming (a server-side cursor, ``yield_per`` rows at a
    time), whose rows index like tuples.
    """
    if conn.dialect.name != "sqlite":
        return iter(conn.execute(stmt.execution_options(yield_per=STREAM_BATCH)))
    # Without stream_results SQLAlchemy reads nothing ahead, so the cursor holds every row. The batches
    # are chained in C: a generator here would cost a Python frame switch per assignment.
    cursor = conn.execute(stmt).cursor
    return chain.from_iterable(iter(partial(cursor.fetchmany, STREAM_BATCH), []))

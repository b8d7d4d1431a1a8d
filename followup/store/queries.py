"""Read-side queries shared by the CLI, the digest and the daemon."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from itertools import chain
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import and_, func
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Executable
from sqlmodel import Session, col, select

from followup.store.models import OPEN_STATES, Assignment, Commitment, InboundMatch, Party
from followup.store.status import (
    SOON_DAYS,
    AssignmentView,
    Cell,
    CellMaker,
    Matrix,
    RawAssignment,
    Row,
    build_matrix,
    current_by_commitment,
    rule_text,
)


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
            mine = sa.select(col(Assignment.commitment_id)).where(col(Assignment.party_code) == country)
            shown = shown.where(col(Commitment.id).in_(mine))
        titles = {c.id: (c.title_en, rule_text(c)) for c in conn.execute(shown).all()}
        yield MatrixStream(today, owners, _matrix_rows(conn, today, owners, titles, country))


def status_matrix(engine: Engine, today: date, *, country: str | None = None) -> Matrix:
    """The whole matrix in memory: for the pages and emails that show a part of it, and for tests."""
    with open_matrix(engine, today, country=country) as stream:
        return Matrix(today, stream.owners, list(stream.rows))


#: Rows fetched per round trip while streaming (PostgreSQL uses a server-side cursor).
STREAM_BATCH = 5000
_ACTIVE = col(Commitment.active).is_(True)
RULE_COLUMNS = (
    col(Commitment.id),
    col(Commitment.title_en),
    col(Commitment.due_kind),
    col(Commitment.due_date),
    col(Commitment.due_precision),
    col(Commitment.due_meeting_kind),
    col(Commitment.due_meeting_id),
    col(Commitment.due_offset_days),
    col(Commitment.recurrence_months),
)
#: The matrix's column order: member countries first, then by kind and code.
OWNER_ORDER = (col(Party.member).desc(), col(Party.kind), col(Party.code))


def _matrix_owners(conn: Connection, country: str | None) -> list[tuple[str, str]]:
    """Owners with at least one assignment of an active commitment: one index probe per party."""
    has_items = (
        sa.select(sa.literal(1))
        .select_from(Assignment)
        .join(Commitment, col(Commitment.id) == col(Assignment.commitment_id))
        .where(col(Assignment.party_code) == col(Party.code), _ACTIVE)
        .exists()
    )
    stmt = sa.select(col(Party.code), col(Party.name_en)).where(has_items).order_by(*OWNER_ORDER)
    if country:
        stmt = stmt.where(col(Party.code) == country)
    return [(code, name) for code, name in conn.execute(stmt).all()]


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
    stmt = sa.select(
        col(Assignment.id),
        col(Assignment.commitment_id),
        col(Assignment.party_code),
        col(Assignment.occurrence),
        col(Assignment.state),
        sa.type_coerce(col(Assignment.due_date), sa.String),
    ).order_by(col(Assignment.commitment_id), col(Assignment.party_code))
    if country:
        stmt = stmt.where(col(Assignment.party_code) == country)
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
            sa.select(col(Assignment.commitment_id), col(InboundMatch.assignment_id), func.count())
            .select_from(Assignment)
            .join(InboundMatch, col(InboundMatch.assignment_id) == col(Assignment.id))
            .where(col(Assignment.party_code) == country)
            .group_by(col(Assignment.commitment_id), col(InboundMatch.assignment_id))
            .order_by(col(Assignment.commitment_id))
        )
    else:
        replied = (
            sa.select(col(InboundMatch.assignment_id).label("aid"), func.count().label("n"))
            .group_by(col(InboundMatch.assignment_id))
            .subquery()
        )
        stmt = (
            sa.select(col(Assignment.commitment_id), replied.c.aid, replied.c.n)
            .select_from(replied)
            .join(Assignment, col(Assignment.id) == replied.c.aid)
            .order_by(col(Assignment.commitment_id))
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


def cell_code_condition(code: str, today: date) -> Any:
    """SQL for "this assignment's cell is ``code`` on ``today``": :func:`followup.store.status.cell_for` in SQL.

    A test checks the two agree for every code; the web's matrix uses this to
    pick, in the database, the commitments a state filter can show.
    """
    state, due = col(Assignment.state), col(Assignment.due_date)
    is_open = state.in_(OPEN_STATES)
    soon = today + timedelta(days=SOON_DAYS)
    conditions = {
        "overdue": and_(is_open, due < today),
        "due_today": and_(is_open, due == today),
        "due_soon": and_(is_open, due > today, due <= soon),
        "pending": and_(state == "pending", due > soon),
        "extended": and_(state == "extended", due > soon),
    }
    return conditions.get(code, state == code)


@dataclass(frozen=True)
class MatrixPage:
    matrix: Matrix
    #: Commitments that pass the filters, over all pages.
    total: int
    offset: int
    limit: int
    #: Owners (columns) over all column pages.
    total_owners: int = 0


def matrix_page(
    engine: Engine,
    today: date,
    *,
    owner: str | None = None,
    commitment: str | None = None,
    code: str | None = None,
    offset: int = 0,
    limit: int = 25,
    owner_offset: int = 0,
    owner_limit: int | None = 40,
) -> MatrixPage:
    """One page of the matrix, chosen and ordered in SQL (by the commitment's date, then id).

    Owners are paged too (``owner_offset``/``owner_limit``; None: every
    owner), in the order of :func:`status_matrix`'s columns. A ``code``
    filter keeps the commitments with at least one assignment in that state
    among the page's owners, asked per commitment (one probe of
    ``ix_assignment_commitment_state_due`` each, never a scan of every
    assignment); the cells then show each owner's current occurrence,
    filtered again by :func:`followup.store.status.build_matrix`'s caller.
    Only the page's assignments leave the database, as plain tuples.
    """
    order = (col(Party.member).desc(), col(Party.kind), col(Party.code))
    with Session(engine) as session:
        columns: list[str] | None
        if owner:
            columns, total_owners = [owner], 1
        else:
            total_owners = session.exec(select(func.count()).select_from(Party)).one()
            if owner_limit is None and owner_offset == 0:
                columns = None  # every owner: no list to send
            else:
                codes = select(Party.code).order_by(*order).offset(owner_offset)
                columns = list(session.exec(codes.limit(owner_limit) if owner_limit is not None else codes))
        wanted = select(Commitment.id).where(col(Commitment.active))
        if commitment:
            wanted = wanted.where(Commitment.id == commitment)
        if owner or code:
            has = sa.select(sa.literal(1)).where(col(Assignment.commitment_id) == col(Commitment.id))
            if owner:
                has = has.where(col(Assignment.party_code) == owner)
            elif columns is not None:
                has = has.where(col(Assignment.party_code).in_(columns))
            if code:
                has = has.where(cell_code_condition(code, today))
            wanted = wanted.where(has.exists())
        total = session.exec(select(func.count()).select_from(wanted.subquery())).one()
        page_stmt = (
            select(Commitment)
            .where(col(Commitment.id).in_(wanted))
            .order_by(col(Commitment.due_date).is_(None), col(Commitment.due_date), col(Commitment.id))
            .offset(offset)
            .limit(limit)
        )
        commitments = session.exec(page_stmt).all()
        ids = [c.id for c in commitments]
        stmt = sa.select(
            col(Assignment.id),
            col(Assignment.commitment_id),
            col(Assignment.party_code),
            col(Assignment.occurrence),
            col(Assignment.state),
            col(Assignment.due_date),
        ).where(col(Assignment.commitment_id).in_(ids))
        if columns is not None:
            stmt = stmt.where(col(Assignment.party_code).in_(columns))
        found = cast("list[tuple[int | None, str, str, str, str, date]]", session.execute(stmt).all())
        assignment_ids = [a for a, *_rest in found if a is not None]
        replies: dict[int, int] = {}
        for start in range(0, len(assignment_ids), 5000):
            part = assignment_ids[start : start + 5000]
            replies.update(
                session.exec(
                    select(InboundMatch.assignment_id, func.count())
                    .where(col(InboundMatch.assignment_id).in_(part))
                    .group_by(col(InboundMatch.assignment_id))
                ).all()
            )
        used = {party for _a, _c, party, *_rest in found}
        parties = session.exec(
            select(Party.code, Party.name_en).where(col(Party.code).in_(used)).order_by(*order)
        ).all()
    views = [
        AssignmentView(aid or 0, cid, party, occ, state, due, replies.get(aid or 0, 0))
        for aid, cid, party, occ, state, due in found
    ]
    rows = [(c.id, c.title_en, rule_text(c)) for c in commitments]
    return MatrixPage(build_matrix(rows, list(parties), views, today), total, offset, limit, total_owners)

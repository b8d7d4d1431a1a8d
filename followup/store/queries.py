"""Read-side queries shared by the CLI, the digest and the daemon.

The streamed status matrix lives in :mod:`followup.store.matrix`, apart,
because it is written without the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import and_, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.store.models import Assignment, Commitment, InboundMatch, Party
from followup.store.status import SOON_DAYS, AssignmentView, Matrix, build_matrix, rule_text
from followup.store.vocabulary import OPEN_STATES


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
    owner), in the order of :func:`followup.store.matrix.status_matrix`'s columns. A ``code``
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

"""Open items counted and listed in SQL: per owner, per commitment, the oldest few of each owner, all as a stream.

The weekly digest and the secretariat's meeting round summarise what is
open; on a million assignments that is tens of thousands of items, so they
count with ``GROUP BY``, pick the few items they show with a window
function, and read the full list (for an attachment) as a stream. Every
filter is a join or a subquery, never a list of ids: a list with every open
item is what overflowed SQLite's variable limit.

"Open" means pending or extended, of an active commitment, due on or before
a day (the digest's horizon, the meeting's start).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, func, select

from followup.store.models import Assignment, Commitment, InboundMatch, InboundMessage, Notification, Party
from followup.store.vocabulary import OPEN_STATES


@dataclass(frozen=True)
class OwnerCount:
    code: str
    #: Open items due before ``today``.
    overdue: int
    #: Open items due from ``today`` to the horizon.
    due_soon: int
    #: Items submitted by a reply and not yet confirmed (whatever their date).
    awaiting: int


@dataclass(frozen=True)
class CommitmentCount:
    commitment_id: str
    title_en: str
    title_es: str
    overdue: int
    due_soon: int
    #: Owners with an open item of this commitment.
    owners: int


@dataclass(frozen=True)
class OpenItem:
    """One open item with what the digest says about it."""

    assignment: Assignment
    commitment: Commitment
    party: Party
    #: Reminders (of any kind) sent about it.
    reminders_sent: int
    last_reply_at: datetime | None


def _is_open(by: date) -> Any:
    return sa.and_(
        col(Commitment.active).is_(True), col(Assignment.state).in_(OPEN_STATES), col(Assignment.due_date) <= by
    )


def owner_counts(conn: Connection, today: date, horizon: date) -> list[OwnerCount]:
    """Every owner with an open item due by ``horizon`` or an item awaiting confirmation."""
    overdue = func.sum(sa.case((col(Assignment.due_date) < today, 1), else_=0))
    open_rows = conn.execute(
        sa.select(col(Assignment.party_code), overdue, func.count())
        .join(Commitment, col(Commitment.id) == col(Assignment.commitment_id))
        .where(_is_open(horizon))
        .group_by(col(Assignment.party_code))
    ).all()
    waiting = conn.execute(
        sa.select(col(Assignment.party_code), func.count())
        .join(Commitment, col(Commitment.id) == col(Assignment.commitment_id))
        .where(col(Commitment.active).is_(True), col(Assignment.state) == "submitted")
        .group_by(col(Assignment.party_code))
    ).all()
    counts: dict[str, list[int]] = {
        str(code): [int(late or 0), int(n) - int(late or 0), 0]
        for code, late, n in cast("list[tuple[str, int | None, int]]", open_rows)
    }
    for code, n in waiting:
        counts.setdefault(code, [0, 0, 0])[2] = int(n)
    return [OwnerCount(code, *values) for code, values in counts.items()]


def commitment_counts(conn: Connection, today: date, horizon: date, limit: int) -> tuple[list[CommitmentCount], int]:
    """The ``limit`` commitments with the most overdue items (then due soon), and how many have open items."""
    overdue = func.sum(sa.case((col(Assignment.due_date) < today, 1), else_=0)).label("overdue")
    grouped = (
        sa.select(
            col(Assignment.commitment_id).label("cid"),
            overdue,
            func.count().label("total"),
            func.count(sa.distinct(col(Assignment.party_code))).label("owners"),
        )
        .join(Commitment, col(Commitment.id) == col(Assignment.commitment_id))
        .where(_is_open(horizon))
        .group_by(col(Assignment.commitment_id))
        .subquery()
    )
    rows = conn.execute(
        sa.select(
            grouped.c.cid,
            col(Commitment.title_en),
            col(Commitment.title_es),
            grouped.c.overdue,
            grouped.c.total,
            grouped.c.owners,
        )
        .join(Commitment, col(Commitment.id) == grouped.c.cid)
        .order_by(grouped.c.overdue.desc(), grouped.c.total.desc(), grouped.c.cid)
        .limit(limit)
    ).all()
    how_many = conn.execute(sa.select(func.count()).select_from(grouped)).scalar_one()
    return [
        CommitmentCount(cid, title_en, title_es, int(late or 0), int(n) - int(late or 0), int(owners))
        for cid, title_en, title_es, late, n, owners in cast("list[tuple[str, str, str, int | None, int, int]]", rows)
    ], int(how_many)


def _reminders_sent() -> Any:
    return (
        sa.select(func.count())
        .where(col(Notification.assignment_id) == col(Assignment.id), col(Notification.state) == "sent")
        .scalar_subquery()
    )


def _last_reply() -> Any:
    return (
        sa.select(func.max(col(InboundMessage.received_at)))
        .select_from(InboundMatch)
        .join(InboundMessage, col(InboundMessage.id) == col(InboundMatch.inbound_id))
        .where(col(InboundMatch.assignment_id) == col(Assignment.id))
        .scalar_subquery()
    )


def oldest_per_owner(
    session: Session, before: date, by: date, per_owner: int, owners: Sequence[str] | None = None
) -> list[OpenItem]:
    """Each owner's ``per_owner`` open items due before ``before`` (and by ``by``), oldest first.

    A window function numbers each owner's items in SQL; only the chosen
    rows become objects. ``owners``: only these (a few codes), else all.
    """
    rank = (
        func.row_number()
        .over(partition_by=col(Assignment.party_code), order_by=(col(Assignment.due_date), col(Assignment.id)))
        .label("rank")
    )
    ranked = (
        sa.select(col(Assignment.id).label("aid"), rank)
        .join(Commitment, col(Commitment.id) == col(Assignment.commitment_id))
        .where(_is_open(by), col(Assignment.due_date) < before)
    )
    if owners is not None:
        ranked = ranked.where(col(Assignment.party_code).in_(list(owners)))
    ranked_rows = ranked.subquery()
    stmt = (
        sa.select(Assignment, Commitment, Party, _reminders_sent(), _last_reply())
        .join(ranked_rows, ranked_rows.c.aid == col(Assignment.id))
        .join(Commitment, col(Commitment.id) == Assignment.commitment_id)
        .join(Party, col(Party.code) == Assignment.party_code)
        .where(ranked_rows.c.rank <= per_owner)
        .order_by(col(Assignment.party_code), col(Assignment.due_date), col(Assignment.id))
    )
    return _items(session, stmt)


def soonest(session: Session, since: date, by: date, limit: int) -> tuple[list[OpenItem], int]:
    """The ``limit`` open items due from ``since`` to ``by``, soonest first, and how many there are."""
    where = (_is_open(by), col(Assignment.due_date) >= since)
    stmt = (
        sa.select(Assignment, Commitment, Party, _reminders_sent(), _last_reply())
        .join(Commitment, col(Commitment.id) == Assignment.commitment_id)
        .join(Party, col(Party.code) == Assignment.party_code)
        .where(*where)
        .order_by(col(Assignment.due_date), col(Assignment.party_code), col(Assignment.id))
        .limit(limit)
    )
    items = _items(session, stmt)
    total = session.exec(
        select(func.count())
        .select_from(Assignment)
        .join(Commitment, col(Commitment.id) == Assignment.commitment_id)
        .where(*where)
    ).one()
    return items, int(total)


def _items(session: Session, stmt: sa.Select[Any]) -> list[OpenItem]:
    rows = cast("list[tuple[Assignment, Commitment, Party, int | None, datetime | None]]", session.execute(stmt).all())
    return [OpenItem(a, c, p, int(sent or 0), last) for a, c, p, sent, last in rows]


#: Rows fetched per round trip when streaming every item.
STREAM_BATCH = 2000


def every_item(conn: Connection, by: date) -> Iterator[tuple[Any, ...]]:
    """Every open item due by ``by``, by owner and oldest first, as plain rows for a file.

    Columns: assignment id, owner code, owner name (en, es), commitment id,
    title (en, es), due date, state, reminders sent, last reply (UTC).
    """
    stmt = (
        sa.select(
            col(Assignment.id),
            col(Assignment.party_code),
            col(Party.name_en),
            col(Party.name_es),
            col(Assignment.commitment_id),
            col(Commitment.title_en),
            col(Commitment.title_es),
            col(Assignment.due_date),
            col(Assignment.state),
            _reminders_sent(),
            _last_reply(),
        )
        .join(Commitment, col(Commitment.id) == col(Assignment.commitment_id))
        .join(Party, col(Party.code) == col(Assignment.party_code))
        .where(_is_open(by))
        .order_by(col(Assignment.party_code), col(Assignment.due_date), col(Assignment.id))
        .execution_options(yield_per=STREAM_BATCH)
    )
    return cast("Iterator[tuple[Any, ...]]", iter(conn.execute(stmt)))


def parties_with_open_items(session: Session, by: date) -> list[Party]:
    """Owners with an open item due by ``by`` (a subquery, not a list of codes)."""
    owners = (
        sa.select(col(Assignment.party_code))
        .join(Commitment, col(Commitment.id) == col(Assignment.commitment_id))
        .where(_is_open(by))
        .distinct()
    )
    return list(session.exec(select(Party).where(col(Party.code).in_(owners)).order_by(col(Party.code))).all())

"""The outbox: claim due rows under a lease, and record what became of them.

Several workers (threads, processes, replicas against one PostgreSQL) may
claim at once; a row must reach exactly one of them. Claiming is one
conditional ``UPDATE ... WHERE id IN (due rows) AND still due RETURNING id``:
on SQLite writers are serialised, so the condition is re-checked under the
write lock and a worker gets only the rows its own statement changed; on
PostgreSQL the inner ``SELECT`` takes ``FOR UPDATE SKIP LOCKED``, so workers
pass over each other's rows instead of queueing behind them.

A lease, not a flag: a worker that dies mid-send leaves rows in ``sending``
whose ``lease_until`` runs out, and the next claim takes them again (counting
an attempt, so a message that crashes its sender cannot loop for ever). The
Message-ID is stored before the SMTP transaction, so a resend after such a
crash carries the same Message-ID and the recipient's mail client folds the
copies together.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, col, select

from followup.clock import as_utc
from followup.schedule.reminder_rules import REMINDER_KINDS
from followup.schedule.sendwindow import Recipient, SendWindow, next_window_start
from followup.store.models import Notification

NOTIFICATION = SQLModel.metadata.tables["notification"]
CONTACT = SQLModel.metadata.tables["contact"]
PARTY = SQLModel.metadata.tables["party"]
EVENT = SQLModel.metadata.tables["event"]

ACTOR = "outbox"
#: Longer errors are cut: the ledger wants the reason, not a whole SMTP transcript.
MAX_ERROR_CHARS = 1000
#: Rows per Message-ID update (three bound parameters each, well under every driver's limit).
_IDS_PER_UPDATE = 300


def due_clause(now: datetime) -> sa.ColumnElement[bool]:
    """Planned and due, or claimed by a worker whose lease has run out."""
    n = NOTIFICATION
    return sa.or_(
        sa.and_(n.c.state == "planned", n.c.scheduled_at <= now),
        sa.and_(n.c.state == "sending", n.c.lease_until <= now),
    )


def claim(
    engine: Engine,
    now: datetime,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    kinds: Collection[str] | None = None,
) -> list[Notification]:
    """Lease up to ``limit`` due rows to ``worker_id`` and return them, oldest first.

    Rows of the same contact that are also due come along even past
    ``limit``, so one contact's notices for the day go out as one email rather
    than being split across two claims.
    """
    now = as_utc(now)
    n = NOTIFICATION
    lease = {
        "state": "sending",
        "lease_owner": worker_id,
        "lease_until": now + timedelta(seconds=lease_seconds),
        "attempts": n.c.attempts + 1,
    }
    kind_filter = n.c.kind.in_(tuple(kinds)) if kinds is not None else sa.true()
    with engine.begin() as conn:
        first = sa.select(n.c.id).where(due_clause(now), kind_filter).order_by(n.c.scheduled_at, n.c.id).limit(limit)
        claimed = _lease(conn, first, now, lease)
        contacts = sorted(
            {row.contact_id for row in claimed if row.contact_id is not None and row.kind in REMINDER_KINDS}
        )
        if contacts:
            companions = sa.select(n.c.id).where(
                due_clause(now), kind_filter, n.c.kind.in_(REMINDER_KINDS), n.c.contact_id.in_(contacts)
            )
            claimed += _lease(conn, companions, now, lease)
    ids = [row.id for row in claimed]
    if not ids:
        return []
    with Session(engine, expire_on_commit=False) as session:
        query = select(Notification).where(col(Notification.id).in_(ids))
        rows = list(session.exec(query).all())
    rows.sort(key=lambda r: (r.scheduled_at, r.id or 0))
    return rows


def _lease(conn: Connection, pick: sa.Select[Any], now: datetime, values: dict[str, Any]) -> list[sa.Row[Any]]:
    n = NOTIFICATION
    if conn.dialect.name == "postgresql":
        # Lock first, then update exactly those rows: a LIMIT subquery inside the UPDATE
        # may be re-run by the executor and, skipping locks, pick extra rows.
        picked: list[int] = list(conn.execute(pick.with_for_update(skip_locked=True)).scalars())
        if not picked:
            return []
        which: sa.ColumnElement[bool] = n.c.id.in_(picked)
    else:
        which = n.c.id.in_(pick.scalar_subquery())
    stmt = sa.update(n).where(which, due_clause(now)).values(**values).returning(n.c.id, n.c.contact_id, n.c.kind)
    return list(conn.execute(stmt).all())


def assign_message_id(engine: Engine, ids: Sequence[int], message_id: str) -> None:
    """Record the Message-ID of the email carrying ``ids``; call it before the SMTP transaction."""
    assign_message_ids(engine, [(ids, message_id)])


def assign_message_ids(engine: Engine, emails: Sequence[tuple[Sequence[int], str]]) -> None:
    """Record the Message-IDs of several emails (their row ids, their Message-ID) in one transaction.

    A dispatcher stores a whole batch's Message-IDs before the first of its
    SMTP transactions: one commit instead of one per email, and still every
    Message-ID is in the ledger before its email can reach anybody.
    """
    pairs = [(row_id, message_id) for ids, message_id in emails for row_id in ids]
    n = NOTIFICATION
    with engine.begin() as conn:
        for start in range(0, len(pairs), _IDS_PER_UPDATE):
            chunk = dict(pairs[start : start + _IDS_PER_UPDATE])
            # One UPDATE ... SET message_id = CASE id WHEN ... END per chunk: far cheaper than one per row.
            conn.execute(sa.update(n).where(n.c.id.in_(list(chunk))).values(message_id=sa.case(chunk, value=n.c.id)))


def record_sent(engine: Engine, ids: Sequence[int], now: datetime) -> int:
    """Mark rows sent (even if a lease ran out meanwhile: the mail did go); return how many changed."""
    n = NOTIFICATION
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(n)
            .where(n.c.id.in_(ids), n.c.state.in_(("sending", "planned", "failed", "cancelled")))
            .values(
                state="sent",
                sent_at=as_utc(now),
                lease_owner="",
                lease_until=None,
                next_attempt_at=None,
                last_error="",
            )
            .returning(n.c.id)
        )
        return len(result.all())


@dataclass
class FailureResult:
    #: Rows put back to ``planned`` for another attempt.
    retrying: list[int] = field(default_factory=list)
    #: Rows given up on (permanent error, or attempts exhausted).
    failed: list[int] = field(default_factory=list)
    #: Contacts whose address was marked ``suspect`` by a permanent error.
    suspect_contacts: list[int] = field(default_factory=list)


def backoff_seconds(attempts: int, base_seconds: float, max_seconds: float) -> float:
    """Delay before the next attempt after ``attempts`` tries: base, 2x base, 4x base ... capped."""
    return float(min(base_seconds * 2 ** (max(attempts, 1) - 1), max_seconds))


def record_failure(
    engine: Engine,
    ids: Sequence[int],
    now: datetime,
    error: str,
    permanent: bool,
    max_attempts: int,
    base_seconds: float,
    max_seconds: float,
    *,
    window: SendWindow | None = None,
    actor: str = ACTOR,
) -> FailureResult:
    """Record a failed delivery of ``ids``: retry later with backoff, or give up.

    With ``window``, a retry that would land outside the recipient's hours waits
    for the next window instead. A permanent error also marks each row's
    contact address ``suspect`` so the planner stops writing to it.
    """
    now = as_utc(now)
    n = NOTIFICATION
    error = error[:MAX_ERROR_CHARS]
    outcome = FailureResult()
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(n.c.id, n.c.attempts, n.c.contact_id, n.c.assignment_id, n.c.step).where(
                n.c.id.in_(ids), n.c.state == "sending"
            )
        ).all()
        zones = _recipients(conn, {r.contact_id for r in rows if r.contact_id is not None}) if window else {}
        events: list[dict[str, Any]] = []
        for row in rows:
            details: dict[str, Any] = {"error": error, "attempts": row.attempts, "permanent": permanent}
            if permanent or row.attempts >= max_attempts:
                values: dict[str, Any] = {"state": "failed", "next_attempt_at": None}
                outcome.failed.append(row.id)
                action = "notification_failed"
            else:
                retry_at = now + timedelta(seconds=backoff_seconds(row.attempts, base_seconds, max_seconds))
                if window is not None and row.contact_id in zones:
                    retry_at = next_window_start(retry_at, zones[row.contact_id], window)
                values = {"state": "planned", "scheduled_at": retry_at, "next_attempt_at": retry_at}
                outcome.retrying.append(row.id)
                action = "notification_retry"
                details["retry_at"] = retry_at.isoformat()
            conn.execute(
                sa.update(n)
                .where(n.c.id == row.id)
                .values(last_error=error, lease_owner="", lease_until=None, **values)
            )
            events.append(_event(now, actor, action, row.assignment_id, "notification", row.id, details))
        if permanent:
            contact_ids = sorted({r.contact_id for r in rows if r.contact_id is not None})
            if contact_ids:
                marked = conn.execute(
                    sa.update(CONTACT)
                    .where(CONTACT.c.id.in_(contact_ids), CONTACT.c.address_state == "ok")
                    .values(address_state="suspect", address_note=error)
                    .returning(CONTACT.c.id)
                ).all()
                for contact in marked:
                    outcome.suspect_contacts.append(contact.id)
                    events.append(_event(now, actor, "contact_suspect", None, "contact", contact.id, {"error": error}))
        if events:
            conn.execute(sa.insert(EVENT), events)
    return outcome


def release(engine: Engine, worker_id: str) -> int:
    """Hand back rows ``worker_id`` claimed but never gave to a transport (shutdown); return how many."""
    n = NOTIFICATION
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(n)
            .where(n.c.state == "sending", n.c.lease_owner == worker_id)
            .values(
                state="planned",
                lease_owner="",
                lease_until=None,
                attempts=sa.case((n.c.attempts > 0, n.c.attempts - 1), else_=0),
            )
            .returning(n.c.id)
        )
        return len(result.all())


def contact_recipients(engine: Engine, contact_ids: Collection[int]) -> dict[int, Recipient]:
    """Each contact's zone (its own, else its party's) and holiday country, for grouping and windows."""
    with engine.connect() as conn:
        return _recipients(conn, contact_ids)


def _recipients(conn: Connection, contact_ids: Collection[int]) -> dict[int, Recipient]:
    if not contact_ids:
        return {}
    rows = conn.execute(
        sa.select(CONTACT.c.id, CONTACT.c.timezone, PARTY.c.timezone.label("party_zone"), PARTY.c.holiday_country)
        .join(PARTY, PARTY.c.code == CONTACT.c.party_code)
        .where(CONTACT.c.id.in_(sorted(contact_ids)))
    ).all()
    return {r.id: Recipient(r.timezone or r.party_zone, r.holiday_country) for r in rows}


def _event(
    at: datetime,
    actor: str,
    action: str,
    assignment_id: int | None,
    entity: str,
    entity_id: int,
    details: dict[str, Any],
) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "assignment_id": assignment_id,
        "entity": entity,
        "entity_id": str(entity_id),
        "details": details,
    }

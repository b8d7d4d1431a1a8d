"""The outbox: claim due rows under a lease, and record what became of them.

Several workers (threads, processes, replicas against one PostgreSQL) may
claim at once; a row must reach exactly one of them. Claiming is one
conditional ``UPDATE ... WHERE id IN (due rows) AND still due RETURNING id``:
on SQLite writers are serialised, so the condition is re-checked under the
write lock and a worker gets only the rows its own statement changed; on
PostgreSQL the inner ``SELECT`` takes ``FOR UPDATE SKIP LOCKED``, so workers
pass over each other's rows instead of queueing behind them.

A lease, not a flag: a worker that dies mid-send leaves rows in ``sending``
whose ``lease_until`` runs out, and the next claim takes them again. Leases
are measured on the real clock (``at``), never on the logical ``now`` a tick
plans for: a tick that runs for minutes must not hand out leases that are
already over. The worker renews its leases while it sends (:func:`renew`)
and checks, with a conditional UPDATE, that a row's lease is still its own
right before each SMTP transaction, so a worker whose lease lapsed (it
stalled, another took the rows) never sends them.

``attempts`` counts delivery attempts: a result recorded by
:func:`record_sent` or :func:`record_failure`. A claim is not an attempt and
neither is a crash, and a row whose attempts are used up is never claimed.
A crash is counted apart, in ``interrupted``: :func:`renew` adds one as a
row's SMTP transaction begins and takes it back once the transaction's end
is known, so what is left after a process died is the rows it was sending.
A row left that way ``max_interrupted`` times is given up at the next claim
(:func:`give_up_interrupted`): an email that kills its sender every time
(a crash in a library, memory exhausted) must not crash the daemon forever.

On PostgreSQL several transactions of one worker (the heartbeat, a send's
lease check, the record of another send) and of several workers run at once
and lock the same rows. Each statement that writes several rows it did not
pick with ``SKIP LOCKED`` first locks them in id order
(:func:`_lock_in_order`), and the worker-wide heartbeat skips rows another
transaction holds, so no two of them can wait on each other (a deadlock).

The Message-ID is assigned once, the first time a row's email is built, and
stored before the SMTP transaction; every later build of that row (a resend
after a crash, a retry after a temporary failure) reuses it, so the
recipient's mail client folds any copies together.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, col, select

from followup.clock import as_utc
from followup.outbound.compose import ComposedMessage
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


def due_clause(now: datetime, at: datetime | None = None, max_attempts: int | None = None) -> sa.ColumnElement[bool]:
    """Planned and due at ``now``, or claimed by a worker whose lease ran out by the real time ``at`` (default ``now``).

    Rows whose delivery attempts are used up are never due. A tick's claim
    and ``tick --dry-run`` both ask this, so the dry run lists what a tick takes.
    """
    at = at if at is not None else now
    n = NOTIFICATION
    due = sa.or_(
        sa.and_(n.c.state == "planned", n.c.scheduled_at <= now),
        sa.and_(n.c.state == "sending", n.c.lease_until <= at),
    )
    if max_attempts is None:
        return due
    return sa.and_(due, n.c.attempts < max_attempts)


def claim(
    engine: Engine,
    now: datetime,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    kinds: Collection[str] | None = None,
    *,
    at: datetime | None = None,
    max_attempts: int | None = None,
    max_interrupted: int | None = None,
) -> list[Notification]:
    """Lease up to ``limit`` due rows to ``worker_id`` and return them, oldest first.

    ``now`` decides what is due; ``at`` (the real time of this claim, default
    ``now``) starts the lease and decides whose lease has lapsed. Rows with
    ``max_attempts`` delivery attempts behind them are left alone; with
    ``max_interrupted``, lapsed rows whose sending was cut that often are
    failed instead of claimed (:func:`give_up_interrupted`).

    Rows of the same contact that are also due come along even past
    ``limit``, so one contact's notices for the day go out as one email rather
    than being split across two claims.
    """
    now = as_utc(now)
    at = as_utc(at) if at is not None else now
    n = NOTIFICATION
    lease = {
        "state": "sending",
        "lease_owner": worker_id,
        "lease_until": at + timedelta(seconds=lease_seconds),
    }
    due = due_clause(now, at, max_attempts)
    kind_filter = n.c.kind.in_(tuple(kinds)) if kinds is not None else sa.true()
    with engine.begin() as conn:
        if max_interrupted is not None:
            give_up_interrupted(conn, at, max_interrupted)
        first = sa.select(n.c.id).where(due, kind_filter).order_by(n.c.scheduled_at, n.c.id).limit(limit)
        claimed = _lease(conn, first, due, lease)
        contacts = sorted(
            {row.contact_id for row in claimed if row.contact_id is not None and row.kind in REMINDER_KINDS}
        )
        if contacts:
            companions = sa.select(n.c.id).where(
                due, kind_filter, n.c.kind.in_(REMINDER_KINDS), n.c.contact_id.in_(contacts)
            )
            claimed += _lease(conn, companions, due, lease)
    ids = [row.id for row in claimed]
    if not ids:
        return []
    with Session(engine, expire_on_commit=False) as session:
        query = select(Notification).where(col(Notification.id).in_(ids))
        rows = list(session.exec(query).all())
    rows.sort(key=lambda r: (r.scheduled_at, r.id or 0))
    return rows


def _lease(
    conn: Connection, pick: sa.Select[Any], due: sa.ColumnElement[bool], values: dict[str, Any]
) -> list[sa.Row[Any]]:
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
    stmt = sa.update(n).where(which, due).values(**values).returning(n.c.id, n.c.contact_id, n.c.kind)
    return list(conn.execute(stmt).all())


def _lock_in_order(conn: Connection, ids: Collection[int]) -> None:
    """On PostgreSQL, lock the rows ``ids`` in ascending id order before writing them.

    An ``UPDATE ... WHERE id IN (...)`` locks rows in the order its plan
    meets them (index or heap order, which differ); two such statements over
    overlapping rows can then each hold a row the other waits for. Taking
    every lock in one global order first makes that impossible. SQLite
    serialises writers whole, so there is nothing to do there.
    """
    if conn.dialect.name != "postgresql" or not ids:
        return
    n = NOTIFICATION
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), _IDS_PER_UPDATE):
        chunk = ordered[start : start + _IDS_PER_UPDATE]
        conn.execute(sa.select(n.c.id).where(n.c.id.in_(chunk)).order_by(n.c.id).with_for_update()).all()


def _owned(conn: Connection, worker_id: str, *, skip_locked: bool = False) -> sa.ColumnElement[bool]:
    """Rows ``worker_id`` holds, locked in id order on PostgreSQL (or, ``skip_locked``, those nobody else holds)."""
    n = NOTIFICATION
    mine = sa.and_(n.c.state == "sending", n.c.lease_owner == worker_id)
    if conn.dialect.name != "postgresql":
        return mine
    pick = sa.select(n.c.id).where(mine).order_by(n.c.id)
    if skip_locked:
        # Not waiting at all: a row another transaction holds is being written by it.
        return sa.and_(n.c.id.in_(pick.with_for_update(skip_locked=True).scalar_subquery()), mine)
    locked: list[int] = list(conn.execute(pick.with_for_update()).scalars())
    return sa.and_(n.c.id.in_(locked), mine)


def renew(
    engine: Engine,
    ids: Sequence[int],
    worker_id: str,
    at: datetime,
    lease_seconds: float,
    *,
    ended: Sequence[int] = (),
) -> bool:
    """Extend ``worker_id``'s lease on ``ids`` from the real time ``at``; False when any is no longer its own.

    Called right before each SMTP transaction: only the worker that still
    holds the rows may send them. Ownership is what decides, in one
    conditional UPDATE: a lease that ran out but that nobody took over is
    still ours (no other worker can have sent those rows), while rows another
    worker claimed after our lease lapsed carry its name and are never sent
    by us. The database serialises this UPDATE with the other worker's claim,
    so exactly one of the two wins.

    The rows' SMTP transaction begins now: each counts one more ``interrupted``
    until its end is known; ``ended`` are rows whose transactions ended since
    this worker's last call (their count is taken back in the same commit).
    """
    until = as_utc(at) + timedelta(seconds=lease_seconds)
    with engine.begin() as conn:
        _lock_in_order(conn, [*ids, *ended])
        changed = conn.execute(_RENEW, {"ids": list(ids), "worker": worker_id, "until": until}).all()
        _take_back(conn, ended)
    return len(changed) == len(set(ids))


#: Built once: :func:`renew` runs before every SMTP transaction, and building the statement each
#: time cost several times what SQLite takes to run it.
_RENEW = (
    sa.update(NOTIFICATION)
    .where(
        NOTIFICATION.c.id.in_(sa.bindparam("ids", expanding=True)),
        NOTIFICATION.c.state == "sending",
        NOTIFICATION.c.lease_owner == sa.bindparam("worker"),
    )
    .values(lease_until=sa.bindparam("until"), interrupted=NOTIFICATION.c.interrupted + 1)
    .returning(NOTIFICATION.c.id)
)
_TAKE_BACK = (
    sa.update(NOTIFICATION)
    .where(NOTIFICATION.c.id.in_(sa.bindparam("ids", expanding=True)), NOTIFICATION.c.interrupted > 0)
    .values(interrupted=NOTIFICATION.c.interrupted - 1)
)


def sends_ended(engine: Engine, ids: Sequence[int]) -> None:
    """The SMTP transactions of ``ids`` ended (however): take back what :func:`renew` counted."""
    if ids:
        with engine.begin() as conn:
            _lock_in_order(conn, ids)
            _take_back(conn, ids)


def _take_back(conn: Connection, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), _IDS_PER_UPDATE):
        conn.execute(_TAKE_BACK, {"ids": list(ids[start : start + _IDS_PER_UPDATE])})


def give_up_interrupted(conn: Connection, at: datetime, max_interrupted: int) -> list[int]:
    """Fail the lapsed rows whose sending a dying process left ``max_interrupted`` times; return their ids."""
    n = NOTIFICATION
    error = (
        f"sending this email was interrupted {max_interrupted} times by the sending process stopping "
        "(killed or crashed): given up as the likely cause; `followup outbox retry --failed` tries again"
    )
    lapsed = sa.and_(n.c.state == "sending", n.c.lease_until <= at, n.c.interrupted >= max_interrupted)
    if conn.dialect.name == "postgresql":
        # Skipping what another transaction holds, as a claim does: never waiting, never a deadlock.
        pick = sa.select(n.c.id).where(lapsed).with_for_update(skip_locked=True)
        lapsed = sa.and_(lapsed, n.c.id.in_(pick.scalar_subquery()))
    given_up = conn.execute(
        sa.update(n)
        .where(lapsed)
        .values(state="failed", lease_owner="", lease_until=None, next_attempt_at=None, last_error=error)
        .returning(n.c.id, n.c.assignment_id, n.c.interrupted)
    ).all()
    if given_up:
        conn.execute(
            sa.insert(EVENT),
            [
                _event(at, ACTOR, "notification_failed", row.assignment_id, "notification", row.id,
                       {"error": error, "interrupted": row.interrupted, "permanent": False})
                for row in given_up
            ],
        )  # fmt: skip
    return [row.id for row in given_up]


def renew_all(engine: Engine, worker_id: str, at: datetime, lease_seconds: float) -> int:
    """Extend every lease ``worker_id`` still holds (a heartbeat while a batch is built and sent).

    Rows another transaction holds at that moment are skipped: the worker's
    own send is renewing or recording them, or another worker is taking over
    a lease that had lapsed; waiting for them could deadlock.
    """
    at = as_utc(at)
    n = NOTIFICATION
    with engine.begin() as conn:
        changed = conn.execute(
            sa.update(n)
            .where(_owned(conn, worker_id, skip_locked=True))
            .values(lease_until=at + timedelta(seconds=lease_seconds))
            .returning(n.c.id)
        ).all()
    return len(changed)


def assign_message_id(engine: Engine, ids: Sequence[int], message_id: str) -> None:
    """Record the Message-ID of the email carrying ``ids``; call it before the SMTP transaction."""
    assign_message_ids(engine, [(ids, message_id)])


def assign_message_ids(
    engine: Engine, emails: Sequence[tuple[Sequence[int], str]], *, worker_id: str | None = None
) -> None:
    """Record the Message-IDs of several emails (their row ids, their Message-ID) in one transaction.

    A dispatcher stores a whole batch's Message-IDs before the first of its
    SMTP transactions: one commit instead of one per email, and still every
    Message-ID is in the ledger before its email can reach anybody. With
    ``worker_id``, only rows that worker still holds are written: a worker
    that lost its rows to another must not overwrite the Message-ID the
    other one is sending with.
    """
    pairs = [(row_id, message_id) for ids, message_id in emails for row_id in ids]
    n = NOTIFICATION
    mine = sa.and_(n.c.state == "sending", n.c.lease_owner == worker_id) if worker_id is not None else sa.true()
    with engine.begin() as conn:
        _lock_in_order(conn, [row_id for row_id, _ in pairs])
        for start in range(0, len(pairs), _IDS_PER_UPDATE):
            chunk = dict(pairs[start : start + _IDS_PER_UPDATE])
            # One UPDATE ... SET message_id = CASE id WHEN ... END per chunk: far cheaper than one per row.
            conn.execute(
                sa.update(n).where(n.c.id.in_(list(chunk)), mine).values(message_id=sa.case(chunk, value=n.c.id))
            )


def record_sent(engine: Engine, ids: Sequence[int], now: datetime) -> int:
    """Mark rows sent (even if a lease ran out meanwhile: the mail did go); return how many changed."""
    n = NOTIFICATION
    with engine.begin() as conn:
        _lock_in_order(conn, ids)
        result = conn.execute(
            sa.update(n)
            # Not yet sent (sending, planned, failed, cancelled), said as NOT IN: with the states
            # listed, SQLite would read them through the state index (every failed row ever) rather
            # than the few ids by primary key.
            .where(n.c.id.in_(ids), n.c.state.not_in(("sent", "bounced")))
            .values(
                state="sent",
                sent_at=as_utc(now),
                interrupted=0,
                attempts=n.c.attempts + 1,
                lease_owner="",
                lease_until=None,
                next_attempt_at=None,
                last_error="",
                held_since=None,
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
    #: Contacts whose address was marked ``suspect`` by a permanent refusal of the address.
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
    address_refused: bool = False,
    worker_id: str | None = None,
) -> FailureResult:
    """Record a failed delivery attempt of ``ids``: retry later with backoff, or give up.

    With ``window``, a retry that would land outside the recipient's hours waits
    for the next window instead. Only a permanent refusal of the address
    (``address_refused``) marks the rows' contacts ``suspect`` so the planner
    stops writing to them; a permanent refusal of the message (552, 554)
    fails this notification and nothing else. With ``worker_id``, only rows
    still leased to that worker are touched.
    """
    now = as_utc(now)
    n = NOTIFICATION
    error = error[:MAX_ERROR_CHARS]
    outcome = FailureResult()
    with engine.begin() as conn:
        _lock_in_order(conn, ids)
        rows = conn.execute(
            sa.select(n.c.id, n.c.attempts, n.c.contact_id, n.c.assignment_id, n.c.step).where(
                n.c.id.in_(ids),
                n.c.state == "sending",
                n.c.lease_owner == worker_id if worker_id is not None else sa.true(),
            )
        ).all()
        zones = _recipients(conn, {r.contact_id for r in rows if r.contact_id is not None}) if window else {}
        events: list[dict[str, Any]] = []
        for row in rows:
            attempts = row.attempts + 1
            details: dict[str, Any] = {"error": error, "attempts": attempts, "permanent": permanent}
            if permanent or attempts >= max_attempts:
                values: dict[str, Any] = {"state": "failed", "next_attempt_at": None}
                outcome.failed.append(row.id)
                action = "notification_failed"
            else:
                retry_at = now + timedelta(seconds=backoff_seconds(attempts, base_seconds, max_seconds))
                if window is not None and row.contact_id in zones:
                    retry_at = next_window_start(retry_at, zones[row.contact_id], window)
                values = {"state": "planned", "scheduled_at": retry_at, "next_attempt_at": retry_at}
                outcome.retrying.append(row.id)
                action = "notification_retry"
                details["retry_at"] = retry_at.isoformat()
            conn.execute(
                sa.update(n)
                .where(n.c.id == row.id)
                .values(
                    last_error=error,
                    lease_owner="",
                    lease_until=None,
                    attempts=attempts,
                    held_since=None,
                    interrupted=0,
                    **values,
                )
            )
            events.append(_event(now, actor, action, row.assignment_id, "notification", row.id, details))
        if permanent and address_refused:
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
    """Hand back every row ``worker_id`` still holds (shutdown); return how many.

    No attempt is counted: the rows were not delivered, or their delivery
    was cut short, and either way they go out again (with their Message-ID).
    """
    n = NOTIFICATION
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(n)
            .where(_owned(conn, worker_id))
            .values(state="planned", lease_owner="", lease_until=None)
            .returning(n.c.id)
        )
        return len(result.all())


def hold(engine: Engine, worker_id: str, now: datetime, reason: str = "") -> int:
    """The relay's quota or a throttling pause stops sending: hand back what ``worker_id`` holds, and mark what waits.

    Like :func:`release`, no attempt is counted and ``scheduled_at`` is
    kept, so the rows keep their place in line (oldest first) and go out
    when the quota allows. Every row due at ``now`` that is still waiting
    is marked ``held_since`` (once: the first time it had to wait), which
    is what the digest reports. The rows handed back say ``reason`` in
    ``last_error`` (until they are sent). Returns how many were handed back.
    """
    now = as_utc(now)
    n = NOTIFICATION
    with engine.begin() as conn:
        handed = conn.execute(
            sa.update(n)
            .where(_owned(conn, worker_id))
            .values(
                state="planned",
                lease_owner="",
                lease_until=None,
                held_since=sa.func.coalesce(n.c.held_since, now),
                last_error=f"waiting: {reason}"[:MAX_ERROR_CHARS] if reason else n.c.last_error,
            )
            .returning(n.c.id)
        ).all()
        conn.execute(
            sa.update(n)
            .where(n.c.state == "planned", n.c.scheduled_at <= now, n.c.held_since.is_(None))
            .values(held_since=now)
        )
    return len(handed)


#: Kinds that reach a focal point on the planner's schedule, inside their local working hours.
WINDOWED_KINDS = frozenset(REMINDER_KINDS) | {"meeting_round"}


def window_opens(
    rows: Sequence[Notification], recipients: Mapping[int, Recipient], now: datetime, window: SendWindow
) -> dict[int, datetime]:
    """For each row (by id) whose recipient's window is closed at ``now``: when it next opens."""
    closed: dict[int, datetime] = {}
    for row in rows:
        if row.kind not in WINDOWED_KINDS or row.contact_id is None or row.id is None:
            continue
        recipient = recipients.get(row.contact_id)
        if recipient is None:
            continue
        opens = next_window_start(now, recipient, window)
        if opens > now:
            closed[row.id] = opens
    return closed


def defer_outside_window(
    engine: Engine, rows: Sequence[Notification], worker_id: str, now: datetime, window: SendWindow
) -> list[Notification]:
    """Put back, for the recipient's next window, claimed rows whose window is closed at ``now``; return the rest.

    The planner schedules every reminder inside the recipient's working hours,
    but a row can still be claimed later than planned: the relay's quota held
    it, the daemon was down, a retry's backoff ran past the window. A focal
    point then gets it at the start of their next working day rather than at
    night. No attempt is counted and the Message-ID is kept. Acknowledgements
    and the secretariat's digest are not held back: they answer or report now.
    """
    now = as_utc(now)
    contacts = {r.contact_id for r in rows if r.kind in WINDOWED_KINDS and r.contact_id is not None}
    if not contacts:
        return list(rows)
    n = NOTIFICATION
    deferred: set[int] = set()
    with engine.begin() as conn:
        closed = window_opens(rows, _recipients(conn, contacts), now, window)
        _lock_in_order(conn, closed)
        events = []
        by_id = {r.id: r for r in rows}
        for row_id, opens in closed.items():
            changed = conn.execute(
                sa.update(n)
                .where(n.c.id == row_id, n.c.state == "sending", n.c.lease_owner == worker_id)
                .values(state="planned", scheduled_at=opens, lease_owner="", lease_until=None)
                .returning(n.c.id)
            ).all()
            if changed:
                deferred.add(row_id)
                details = {"until": opens.isoformat(), "reason": "outside the recipient's send window"}
                assignment_id = by_id[row_id].assignment_id
                events.append(
                    _event(now, ACTOR, "notification_deferred", assignment_id, "notification", row_id, details)
                )
        if events:
            conn.execute(sa.insert(EVENT), events)
    return [r for r in rows if r.id not in deferred]


@dataclass(frozen=True)
class Held:
    """Emails waiting for the relay's quota or a throttling pause (the digest says so)."""

    count: int
    #: The earliest ``scheduled_at`` among them: how long the line has been waiting.
    oldest: datetime | None


def held_for_quota(engine: Engine) -> Held:
    """How many notifications wait for the relay's quota, and since when the oldest was due."""
    n = NOTIFICATION
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(sa.func.count(), sa.func.min(n.c.scheduled_at)).where(
                n.c.state == "planned", n.c.held_since.is_not(None)
            )
        ).one()
    count: int = row[0]
    oldest: datetime | None = row[1]
    return Held(count, as_utc(oldest) if oldest is not None else None)


def record_refusals(
    engine: Engine, ids: Sequence[int], refusals: Mapping[str, str], now: datetime, *, worker: str = ACTOR
) -> None:
    """Note on sent rows the recipients the server refused while accepting the others.

    Each row keeps them in ``payload["refused"]`` and ``last_error``, and the
    event log gets one ``recipient_refused`` event per row.
    """
    if not refusals:
        return
    now = as_utc(now)
    n = NOTIFICATION
    summary = "; ".join(f"refused {address}: {reason}" for address, reason in refusals.items())[:MAX_ERROR_CHARS]
    with engine.begin() as conn:
        _lock_in_order(conn, ids)
        rows = conn.execute(sa.select(n.c.id, n.c.payload, n.c.assignment_id).where(n.c.id.in_(ids))).all()
        events = []
        for row in rows:
            payload = dict(row.payload or {})
            payload["refused"] = {**payload.get("refused", {}), **refusals}
            conn.execute(sa.update(n).where(n.c.id == row.id).values(payload=payload, last_error=summary))
            details = {"refused": dict(refusals), "worker": worker}
            events.append(_event(now, ACTOR, "recipient_refused", row.assignment_id, "notification", row.id, details))
        if events:
            conn.execute(sa.insert(EVENT), events)


def plan_recipient_retry(
    engine: Engine,
    ids: Sequence[int],
    kind: str,
    message: ComposedMessage,
    address: str,
    error: str,
    retry_at: datetime,
    now: datetime,
) -> int | None:
    """A new outbox row that sends ``message`` again to ``address`` alone (it was refused temporarily).

    The row stores the email as it went to the others (same bytes, same
    Message-ID: it is the same email, still owed to one reader), so what the
    late recipient gets is what the others got. It then lives like any row:
    claimed, retried with backoff, failed loudly when attempts run out. One
    such row per (email, address): a second refusal of the same copy adds
    nothing. Returns the new row's id, or None when it already existed.
    """
    n = NOTIFICATION
    first = min(ids)
    digest = hashlib.sha256(address.lower().encode()).hexdigest()[:16]
    key = f"resend:{first}:{digest}"
    payload = {
        "resend_of": first,
        "message_id": message.message_id,
        "sender": message.sender,
        "recipients": [address],
        "data": base64.b64encode(message.data).decode("ascii"),
    }
    with engine.begin() as conn:
        if conn.execute(sa.select(n.c.id).where(n.c.dedupe_key == key)).first() is not None:
            return None
        source = conn.execute(sa.select(n.c.assignment_id).where(n.c.id == first)).first()
        new_id: int = conn.execute(
            sa.insert(n)
            .values(
                dedupe_key=key,
                kind=kind,
                assignment_id=source.assignment_id if source else None,
                contact_id=None,
                recipient=address,
                step="resend",
                scheduled_at=as_utc(retry_at),
                state="planned",
                message_id=message.message_id,
                attempts=1,
                last_error=error[:MAX_ERROR_CHARS],
                next_attempt_at=as_utc(retry_at),
                created_at=as_utc(now),
                payload=payload,
            )
            .returning(n.c.id)
        ).scalar_one()
        details = {"address": address, "error": error, "resend_of": first, "retry_at": as_utc(retry_at).isoformat()}
        conn.execute(
            sa.insert(EVENT),
            [_event(as_utc(now), ACTOR, "recipient_retry", source.assignment_id if source else None,
                    "notification", new_id, details)],
        )  # fmt: skip
    return new_id


def resend_message(row: Notification) -> ComposedMessage | None:
    """The stored email of a row made by :func:`plan_recipient_retry`; None for an ordinary row."""
    payload = row.payload or {}
    if "resend_of" not in payload or "data" not in payload:
        return None
    return ComposedMessage(
        message_id=str(payload["message_id"]),
        sender=str(payload["sender"]),
        recipients=[str(r) for r in payload["recipients"]],
        data=base64.b64decode(payload["data"]),
    )


@dataclass
class Requeued:
    #: Rows waiting for a later retry, now due at once.
    retrying: list[int] = field(default_factory=list)
    #: Failed rows given a fresh set of attempts.
    failed: list[int] = field(default_factory=list)


def requeue(
    engine: Engine, now: datetime, *, failed: bool = False, since: datetime | None = None, actor: str = "cli"
) -> Requeued:
    """Make rows waiting for a retry due at ``now``; with ``failed``, give failed rows a fresh start too.

    A re-queued row keeps its Message-ID (a copy that did get through is
    folded with the new one by the reader's mail client) and its last error
    until the next attempt. ``since`` limits it to rows whose last try was
    scheduled at or after that instant. Each row gets a
    ``notification_requeued`` event.
    """
    now = as_utc(now)
    n = NOTIFICATION
    waiting = sa.and_(n.c.state == "planned", n.c.next_attempt_at.is_not(None))
    which = sa.or_(waiting, n.c.state == "failed") if failed else waiting
    if since is not None:
        which = sa.and_(which, n.c.scheduled_at >= as_utc(since))
    outcome = Requeued()
    with engine.begin() as conn:
        rows = conn.execute(sa.select(n.c.id, n.c.state, n.c.assignment_id).where(which).order_by(n.c.id)).all()
        events = []
        for row in rows:
            values: dict[str, Any] = {"scheduled_at": now, "next_attempt_at": None}
            if row.state == "failed":
                values |= {"state": "planned", "attempts": 0, "interrupted": 0}
                outcome.failed.append(row.id)
            else:
                outcome.retrying.append(row.id)
            conn.execute(sa.update(n).where(n.c.id == row.id, n.c.state == row.state).values(**values))
            details = {"was": row.state}
            event = _event(now, actor, "notification_requeued", row.assignment_id, "notification", row.id, details)
            events.append(event)
        if events:
            conn.execute(sa.insert(EVENT), events)
    return outcome


def failed_count(engine: Engine) -> int:
    """How many notifications were given up on (``followup check`` warns about them)."""
    n = NOTIFICATION
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(n).where(n.c.state == "failed")).scalar_one())


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

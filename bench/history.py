"""Years of mail history added to a benchmark database: sent notifications and their events.

A deployment that has run for years holds tens of millions of notifications
(sent, cancelled, failed, acknowledgements) and as many audit events; a tick
or an ingest must cost what it cost on the first day. :func:`with_history`
copies a benchmark database and adds ``count`` notifications, spread over
ten years before :data:`bench.data.NOW` (none in the last nine days, so the
planner's one-email-a-week rule decides exactly as it does without them),
each about a resolved assignment, addressed to that assignment's focal
point, with one event each. The result is cached next to the source.

Rows go in through the ``sqlite3`` module's ``executemany`` in big
transactions with ``synchronous=OFF`` and ``journal_mode=OFF``: a crash
while building leaves a partial file that is thrown away, never reused.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import Log
from bench.data import NOW, copy_db

HISTORY_VERSION = 1
ROWS_PER_TRANSACTION = 500_000
_TEN_YEARS = int(timedelta(days=3652).total_seconds())
_RECENT = int(timedelta(days=9).total_seconds())
_KINDS = ("reminder", "reminder", "overdue", "due_today", "escalation", "acknowledgement", "meeting_round")
_STATES = ("sent",) * 16 + ("cancelled", "cancelled", "failed", "bounced")

#: An assignment's focal point: (contact id, address) for an assignment id.
Recipient = Callable[[int], tuple[int, str]]


def with_history(
    source: Path, count: int, assignments: Callable[[int], int], recipient: Recipient, *, log: Log | None = None
) -> Path:
    """``source`` plus ``count`` notifications of history (and as many events), cached beside it."""
    if count <= 0:
        return source
    path = source.with_name(f"{source.stem}-history{count}-h{HISTORY_VERSION}.db")
    if path.is_file():
        return path
    partial = path.with_name(path.name + f".building-{os.getpid()}")
    started = time.perf_counter()
    if log:
        log(f"building {path.name}: {count:,} notifications and events of history (cached for later runs)")
    try:
        copy_db(source, partial)
        add_history(partial, count, assignments, recipient)
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)
    took = time.perf_counter() - started
    if log:
        log(f"built {path.name} in {took:.0f} s ({took / count * 1e6:.0f} s per million notifications with events)")
    return path


def add_history(path: Path, count: int, assignments: Callable[[int], int], recipient: Recipient) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-400000")
        first = int(conn.execute("SELECT coalesce(max(id), 0) FROM notification").fetchone()[0]) + 1
        for start in range(0, count, ROWS_PER_TRANSACTION):
            stop = min(count, start + ROWS_PER_TRANSACTION)
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO notification (id, dedupe_key, kind, assignment_id, contact_id, recipient, step, due_date,"
                " scheduled_at, state, message_id, attempts, last_error, lease_owner, sent_at, created_at, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, 1, '', '', ?, ?, '{}')",
                _notifications(first, start, stop, assignments, recipient),
            )
            conn.executemany(
                "INSERT INTO event (at, actor, action, assignment_id, entity, entity_id, details)"
                " VALUES (?, 'dispatch', ?, ?, 'notification', ?, '{}')",
                _events(first, start, stop, assignments),
            )
            conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=DELETE")


def _instant(i: int) -> str:
    """Notification ``i``'s time: spread over the ten years before NOW, none in the last nine days."""
    at = NOW - timedelta(seconds=_RECENT + (i * 7_919_993) % (_TEN_YEARS - _RECENT))
    return _sqlite_datetime(at)


def _sqlite_datetime(at: datetime) -> str:
    """As SQLAlchemy stores a UTC instant in SQLite (naive, microseconds)."""
    return at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _notifications(
    first: int, start: int, stop: int, assignments: Callable[[int], int], recipient: Recipient
) -> Iterator[tuple[object, ...]]:
    for i in range(start, stop):
        aid = assignments(i)
        contact, address = recipient(aid)
        at = _instant(i)
        state = _STATES[i % len(_STATES)]
        kind = _KINDS[i % len(_KINDS)]
        yield (first + i, f"history:{i}", kind, aid, contact, address, f"h{i % 5}", at, state,
               f"<history.{i}@rcm.example.org>", at if state != "cancelled" else None, at)  # fmt: skip


def _events(first: int, start: int, stop: int, assignments: Callable[[int], int]) -> Iterator[tuple[object, ...]]:
    for i in range(start, stop):
        yield (_instant(i), "notification_sent", assignments(i), str(first + i))

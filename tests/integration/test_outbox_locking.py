"""On PostgreSQL, a worker's concurrent outbox transactions never deadlock.

One daemon runs several transactions on the same rows at once: the lease
heartbeat, the lease check before each send (which also takes back the
counts of sends that ended), and the record of sends that went out. CI saw
two of them deadlock (each holding a row the other waited for) with three
daemons on a short lease. These tests line the transactions up in the
order that deadlocked, with a third transaction holding a row so that each
is seen waiting before the next starts, and check that all of them finish.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from followup.outbound.outbox import assign_message_id, claim, record_sent, renew, renew_all
from tests.integration.test_outbox import NOW, add_rows, get, ids_of, make_contacts

pytestmark = pytest.mark.postgres

WAIT = 20.0
WORKER = "vm:1"


def waiting_on_locks(engine: Engine) -> int:
    with engine.connect() as conn:
        count: int = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return count


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll a condition PostgreSQL offers no event for (a backend starting to wait on a lock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@contextmanager
def holding(engine: Engine, row_id: int) -> Iterator[Connection]:
    """Another transaction holding ``row_id`` until the block ends."""
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(sa.text("SELECT id FROM notification WHERE id = :id FOR UPDATE"), {"id": row_id})
        try:
            yield conn
        finally:
            trans.rollback()


class Run(threading.Thread):
    """A call in a thread of its own, keeping what it raised."""

    def __init__(self, call: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.error: BaseException | None = None
        self.result: object = None

    def run(self) -> None:
        try:
            self.result = self.call()
        except BaseException as exc:  # handed to the test
            self.error = exc


def claimed_pair(engine: Engine) -> tuple[int, int]:
    contacts = make_contacts(engine, 2)
    add_rows(engine, [(contacts[0], NOW - timedelta(minutes=2), "reminder")])
    add_rows(engine, [(contacts[1], NOW - timedelta(minutes=1), "reminder")])
    low, high = sorted(ids_of(claim(engine, NOW, WORKER, 10, 300)))
    return low, high


@pytest.mark.parametrize("ended_row", [0, 1])
def test_a_send_and_the_record_of_another_wait_in_line_instead_of_deadlocking(
    postgres_engine: Engine, ended_row: int
) -> None:
    """Two rows sent (recorded together) while the lease check of one takes back the other's count.

    The record locks the rows in the order its plan meets them, which the
    test cannot choose; with each row in turn as the one taken back, one of
    the two runs has the lease check take its row first and then wait for
    the other, which deadlocked before both locked in id order.
    """
    engine = postgres_engine
    pair = claimed_pair(engine)
    ended, sending = pair[ended_row], pair[1 - ended_row]
    assert renew(engine, [ended], WORKER, NOW, 300)  # its SMTP transaction began (and has ended since)
    # Written last, the other row's newest version lies after this one's in the table, which is the
    # order a scan meets them in (an index scan meets them in id order: one of the two runs still does).
    assign_message_id(engine, [sending], "<sending@test.example.org>")
    with holding(engine, ended):
        recording = Run(lambda: record_sent(engine, list(pair), NOW))
        recording.start()
        assert wait_until(lambda: waiting_on_locks(engine) == 1)
        checking = Run(lambda: renew(engine, [sending], WORKER, NOW, 300, ended=[ended]))
        checking.start()
        assert wait_until(lambda: waiting_on_locks(engine) == 2)
    for run in (recording, checking):
        run.join(WAIT)
        assert not run.is_alive()
        assert run.error is None, run.error
    assert get(engine, ended).state == get(engine, sending).state == "sent"
    assert get(engine, ended).interrupted == 0


def test_the_heartbeat_skips_a_row_another_transaction_holds(postgres_engine: Engine) -> None:
    engine = postgres_engine
    low, high = claimed_pair(engine)
    before = get(engine, low).lease_until
    with holding(engine, high):
        beat = Run(lambda: renew_all(engine, WORKER, NOW + timedelta(seconds=60), 300))
        beat.start()
        beat.join(WAIT)
        assert not beat.is_alive(), "the heartbeat waited for a row another transaction holds"
    assert beat.error is None, beat.error
    assert beat.result == 1
    assert get(engine, low).lease_until != before

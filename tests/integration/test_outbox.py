from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.outbound.outbox import (
    assign_message_id,
    backoff_seconds,
    claim,
    contact_recipients,
    record_failure,
    record_sent,
    release,
    renew,
    requeue,
    sends_ended,
)
from followup.schedule.sendwindow import Recipient, SendWindow
from followup.store.db import make_engine, session_scope
from followup.store.models import Contact, Event, Notification
from tests.factories import make_contact, make_party

NOW = datetime(2026, 8, 17, 15, 0, tzinfo=UTC)  # 09:00 in Tegucigalpa, a Monday
LEASE = 300


def make_contacts(engine: Engine, count: int) -> list[int]:
    with session_scope(engine) as s:
        make_party(s, "HN")
        ids = []
        for _ in range(count):
            contact = make_contact(s, "HN")
            assert contact.id is not None
            ids.append(contact.id)
        return ids


def add_rows(engine: Engine, specs: Sequence[tuple[int | None, datetime, str]]) -> list[int]:
    """Insert planned rows (contact, scheduled_at, kind); return their ids in order."""
    with session_scope(engine) as s:
        made: list[Notification] = []
        for contact_id, when, kind in specs:
            row = Notification(
                dedupe_key=f"test:{len(made)}:{contact_id}:{when.isoformat()}",
                kind=kind,
                contact_id=contact_id,
                recipient="ts@rcm.example.org" if contact_id is None else "",
                step="-3d" if kind == "reminder" else "",
                due_date=date(2026, 8, 20),
                scheduled_at=when,
                created_at=NOW,
            )
            s.add(row)
            made.append(row)
        s.flush()
        return [r.id for r in made if r.id is not None]


def get(engine: Engine, row_id: int) -> Notification:
    with Session(engine) as s:
        row = s.get(Notification, row_id)
        assert row is not None
        return row


def ids_of(rows: list[Notification]) -> list[int]:
    return [r.id for r in rows if r.id is not None]


def actions(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return [e.action for e in s.exec(select(Event).order_by(col(Event.id))).all()]


def test_claim_takes_due_rows_oldest_first_under_a_lease(engine: Engine) -> None:
    [c1, c2, c3] = make_contacts(engine, 3)
    due_early, due_late, future = add_rows(
        engine,
        [
            (c2, NOW - timedelta(minutes=5), "overdue"),
            (c1, NOW, "reminder"),
            (c3, NOW + timedelta(seconds=1), "reminder"),
        ],
    )
    claimed = claim(engine, NOW, "worker-a", 10, LEASE)
    assert ids_of(claimed) == [due_early, due_late]
    for row in claimed:
        assert row.state == "sending"
        assert row.lease_owner == "worker-a"
        assert row.lease_until == NOW + timedelta(seconds=LEASE)
        assert row.attempts == 0  # a claim is not a delivery attempt
    assert claim(engine, NOW, "worker-b", 10, LEASE) == []
    assert get(engine, future).state == "planned"


def test_claim_brings_the_rest_of_a_contacts_day_along(engine: Engine) -> None:
    [c1, c2] = make_contacts(engine, 2)
    first, second, third, other, digest = add_rows(
        engine,
        [
            (c1, NOW - timedelta(minutes=3), "reminder"),
            (c1, NOW - timedelta(minutes=1), "overdue"),
            (c1, NOW, "escalation"),
            (c2, NOW - timedelta(minutes=2), "reminder"),
            (None, NOW - timedelta(minutes=4), "digest"),
        ],
    )
    assert ids_of(claim(engine, NOW, "w", 1, LEASE)) == [digest]
    assert ids_of(claim(engine, NOW, "w", 1, LEASE)) == [first, second, third]
    assert ids_of(claim(engine, NOW, "w", 1, LEASE)) == [other]


def test_claim_can_be_limited_to_some_kinds(engine: Engine) -> None:
    [c1] = make_contacts(engine, 1)
    reminder, digest = add_rows(engine, [(c1, NOW, "reminder"), (None, NOW, "digest")])
    assert ids_of(claim(engine, NOW, "w", 10, LEASE, kinds=["digest"])) == [digest]
    assert ids_of(claim(engine, NOW, "w", 10, LEASE)) == [reminder]


def test_an_expired_lease_can_be_claimed_again(engine: Engine) -> None:
    [c1] = make_contacts(engine, 1)
    [row_id] = add_rows(engine, [(c1, NOW, "reminder")])
    assert ids_of(claim(engine, NOW, "crashed", 10, LEASE)) == [row_id]
    assign_message_id(engine, [row_id], "<n1@rcm.example.org>")
    assert claim(engine, NOW + timedelta(seconds=LEASE - 1), "w2", 10, LEASE) == []
    [again] = claim(engine, NOW + timedelta(seconds=LEASE), "w2", 10, LEASE)
    assert again.id == row_id
    assert again.lease_owner == "w2"
    assert again.attempts == 0  # a crash is not a delivery attempt
    assert again.message_id == "<n1@rcm.example.org>"  # a resend reuses the Message-ID


def test_an_email_its_sender_keeps_dying_on_is_given_up_not_claimed_forever(engine: Engine) -> None:
    """Each claim whose SMTP transaction began and never ended (the process died) counts; the fifth fails it."""
    [c1] = make_contacts(engine, 1)
    [poison, healthy] = add_rows(engine, [(c1, NOW, "reminder"), (None, NOW, "digest")])
    at = NOW
    for death in range(5):
        claimed = ids_of(claim(engine, NOW, f"w{death}", 10, LEASE, at=at, max_interrupted=5))
        assert poison in claimed
        assert renew(engine, [poison], f"w{death}", at, LEASE)  # its SMTP transaction begins ...
        assert renew(engine, [healthy], f"w{death}", at, LEASE)  # ... and so does the other's,
        sends_ended(engine, [healthy])  # which ends; then the process dies mid-send of the first
        at += timedelta(seconds=LEASE + 1)
    assert (get(engine, poison).interrupted, get(engine, healthy).interrupted) == (5, 0)
    assert ids_of(claim(engine, NOW, "w5", 10, LEASE, at=at, max_interrupted=5)) == [healthy]
    given_up = get(engine, poison)
    assert (given_up.state, given_up.attempts) == ("failed", 0)
    assert "interrupted 5 times" in given_up.last_error
    assert "notification_failed" in actions(engine)
    # The secretariat may try it again: a fresh count.
    assert requeue(engine, at, failed=True).failed == [poison]
    assert get(engine, poison).interrupted == 0


def test_message_id_then_sent(engine: Engine) -> None:
    [c1] = make_contacts(engine, 1)
    ids = add_rows(engine, [(c1, NOW, "reminder"), (c1, NOW, "overdue")])
    claim(engine, NOW, "w", 10, LEASE)
    assign_message_id(engine, ids, "<merged@rcm.example.org>")
    assert record_sent(engine, ids, NOW + timedelta(seconds=2)) == 2
    for row_id in ids:
        row = get(engine, row_id)
        assert row.state == "sent"
        assert row.message_id == "<merged@rcm.example.org>"
        assert row.sent_at == NOW + timedelta(seconds=2)
        assert row.lease_owner == ""
        assert row.lease_until is None
    assert record_sent(engine, ids, NOW + timedelta(seconds=3)) == 0
    assert claim(engine, NOW + timedelta(days=1), "w", 10, LEASE) == []


def test_transient_failures_back_off_then_give_up(engine: Engine) -> None:
    [c1] = make_contacts(engine, 1)
    [row_id] = add_rows(engine, [(c1, NOW, "reminder")])
    now = NOW
    for attempt, delay in ((1, 60), (2, 120)):
        assert ids_of(claim(engine, now, "w", 10, LEASE)) == [row_id]
        outcome = record_failure(engine, [row_id], now, "451 try later", False, 3, 60, 3600)
        assert outcome.retrying == [row_id]
        row = get(engine, row_id)
        assert (row.state, row.attempts, row.last_error) == ("planned", attempt, "451 try later")
        assert row.scheduled_at == row.next_attempt_at == now + timedelta(seconds=delay)
        assert claim(engine, now + timedelta(seconds=delay - 1), "w", 10, LEASE) == []
        now += timedelta(seconds=delay)
    assert ids_of(claim(engine, now, "w", 10, LEASE)) == [row_id]
    outcome = record_failure(engine, [row_id], now, "451 try later", False, 3, 60, 3600)
    assert outcome.failed == [row_id]
    assert get(engine, row_id).state == "failed"
    assert claim(engine, now + timedelta(days=1), "w", 10, LEASE) == []
    assert actions(engine) == ["notification_retry", "notification_retry", "notification_failed"]
    with Session(engine) as s:
        contact = s.get(Contact, c1)
        assert contact is not None
        assert contact.address_state == "ok"


def test_backoff_is_exponential_and_capped() -> None:
    assert [backoff_seconds(n, 60, 600) for n in range(0, 7)] == [60, 60, 120, 240, 480, 600, 600]


def test_a_retry_waits_for_the_recipients_window(engine: Engine) -> None:
    [c1] = make_contacts(engine, 1)
    [row_id] = add_rows(engine, [(c1, NOW, "reminder")])
    late = datetime(2026, 8, 17, 22, 59, tzinfo=UTC)  # 16:59 in Tegucigalpa
    claim(engine, late, "w", 10, LEASE)
    record_failure(engine, [row_id], late, "421 busy", False, 5, 60, 3600, window=SendWindow())
    assert get(engine, row_id).scheduled_at == datetime(2026, 8, 18, 15, 0, tzinfo=UTC)


def test_permanent_failure_fails_at_once_and_marks_the_address_suspect(engine: Engine) -> None:
    [c1] = make_contacts(engine, 1)
    ids = add_rows(engine, [(c1, NOW, "reminder"), (c1, NOW, "overdue")])
    claim(engine, NOW, "w", 10, LEASE)
    outcome = record_failure(engine, ids, NOW, "550 5.1.1 no such user", True, 6, 60, 3600, address_refused=True)
    assert sorted(outcome.failed) == sorted(ids)
    assert outcome.suspect_contacts == [c1]
    assert {get(engine, i).state for i in ids} == {"failed"}
    with Session(engine) as s:
        contact = s.get(Contact, c1)
        assert contact is not None
        assert contact.address_state == "suspect"
        assert "550" in contact.address_note
    assert Counter(actions(engine)) == {"notification_failed": 2, "contact_suspect": 1}


def test_release_hands_rows_back_without_counting_an_attempt(engine: Engine) -> None:
    [c1, c2] = make_contacts(engine, 2)
    mine, theirs = add_rows(engine, [(c1, NOW, "reminder"), (c2, NOW, "reminder")])
    claim(engine, NOW, "me", 1, LEASE)
    claim(engine, NOW, "them", 1, LEASE)
    assert release(engine, "me") == 1
    row = get(engine, mine)
    assert (row.state, row.attempts, row.lease_owner) == ("planned", 0, "")
    assert get(engine, theirs).state == "sending"
    assert ids_of(claim(engine, NOW, "next", 10, LEASE)) == [mine]


def test_contact_recipients_uses_the_contacts_zone_before_the_partys(engine: Engine) -> None:
    [c1] = make_contacts(engine, 1)
    with session_scope(engine) as s:
        away = make_contact(s, "HN", timezone="America/Toronto")
    assert contact_recipients(engine, [c1, away.id or 0]) == {
        c1: Recipient("America/Tegucigalpa", "HN"),
        away.id: Recipient("America/Toronto", "HN"),
    }


def run_workers(engines: list[Engine], limit: int) -> list[list[int]]:
    """Each worker claims until nothing is left; return what each claim call got."""
    barrier = threading.Barrier(len(engines))
    batches: list[list[list[int]]] = [[] for _ in engines]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            while True:
                got = ids_of(claim(engines[index], NOW, f"worker-{index}", limit, LEASE))
                if not got:
                    return
                batches[index].append(got)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    return [ids for worker in batches for ids in worker]


def check_exclusive(engine: Engine, claims: list[list[int]], due: list[int], not_due: list[int]) -> None:
    everything = [row_id for batch in claims for row_id in batch]
    assert len(everything) == len(set(everything)), "a row was claimed twice"
    assert sorted(everything) == sorted(due)
    with Session(engine) as s:
        for row in s.exec(select(Notification)).all():
            assert row.state == ("planned" if row.id in not_due else "sending")
            assert row.attempts == 0


@pytest.mark.slow
def test_concurrent_workers_never_share_a_row(engine: Engine) -> None:
    contacts = make_contacts(engine, 30)
    specs: list[tuple[int | None, datetime, str]] = [
        (contacts[i % 30], NOW - timedelta(seconds=i), "reminder") for i in range(150)
    ]
    specs += [(None, NOW - timedelta(seconds=i), "digest") for i in range(30)]
    due = add_rows(engine, specs)
    not_due = add_rows(engine, [(contacts[0], NOW + timedelta(hours=1), "reminder")] * 5)
    claims = run_workers([engine] * 4, limit=7)
    check_exclusive(engine, claims, due, not_due)


@pytest.mark.slow
def test_separate_processes_on_one_sqlite_file_never_share_a_row(sqlite_engine: Engine) -> None:
    """Each worker has its own engine and connections, as separate daemons would."""
    due = add_rows(sqlite_engine, [(None, NOW - timedelta(seconds=i), "digest") for i in range(200)])
    engines = [make_engine(str(sqlite_engine.url)) for _ in range(4)]
    try:
        claims = run_workers(engines, limit=5)
    finally:
        for e in engines:
            e.dispose()
    check_exclusive(sqlite_engine, claims, due, [])

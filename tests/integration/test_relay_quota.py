"""Relay quotas and throttling against a real SMTP server and real databases (issue 13).

Time is the dispatchers' clock (a :class:`FixedClock` moved by the test);
the tick's logical ``now`` stays put, so the planner adds nothing and only
the quota decides what goes out.
"""

from __future__ import annotations

import asyncio
import email
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.clock import FixedClock
from followup.outbound.dispatch import Dispatcher, TickResult
from followup.outbound.emails.digest import collect_digest
from followup.outbound.outbox import held_for_quota
from followup.outbound.relay_limits import Limits
from followup.outbound.relay_quota import RelayQuota, relay_key
from followup.outbound.render import render
from followup.outbound.transports.smtp import SmtpTransport
from followup.schedule.policy import load_schedule_policies
from followup.settings import Settings
from followup.store.models import Event, Notification
from tests.factories import make_assignment, make_commitment, make_contact, make_party, settings_for

if TYPE_CHECKING:
    from tests.smtp_server import RecordingHandler, SmtpServer

NOW = datetime(2026, 8, 3, 15, 0, tzinfo=UTC)  # Monday, 09:00 in Tegucigalpa: inside the send window
DUE = date(2026, 8, 17)  # the -14d reminder is due at NOW
SECRET = b"a-test-secret-that-is-long-enough"
REAL_START = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)  # the dispatchers' clock: unrelated to NOW


def seed(engine: Engine, count: int, *, cc: bool = False) -> None:
    """``count`` parties with one focal point each (and a Cc contact), one reminder due at NOW."""
    with Session(engine) as s:
        make_commitment(s, "matrix", due_date=DUE, owners_all_members=True)
        for i in range(count):
            code = f"P{i:03d}"
            make_party(s, code, timezone="America/Tegucigalpa", holiday_country="HN", language="es")
            make_contact(s, code, email=f"fp{i}@p{i}.example.org")
            if cc:
                make_contact(s, code, email=f"cc{i}@p{i}.example.org", role="cc")
            make_assignment(s, "matrix", code, DUE, occurrence="once")
        s.commit()


def dispatcher(engine: Engine, settings: Settings, clock: FixedClock, worker: str) -> Dispatcher:
    return Dispatcher(
        engine,
        settings,
        SmtpTransport(settings.smtp),
        secret=SECRET,
        policies=load_schedule_policies(settings.schedule),
        worker_id=worker,
        lease_clock=clock,
    )


def rows(engine: Engine) -> list[Notification]:
    with Session(engine) as s:
        return list(s.exec(select(Notification).order_by(Notification.id)).all())  # type: ignore[arg-type]


def actions(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return [e.action for e in s.exec(select(Event)).all()]


def received_ids(handler: RecordingHandler) -> list[str]:
    return [email.message_from_bytes(m.data)["Message-ID"] for m in handler.messages]


async def tick_all(workers: list[Dispatcher]) -> list[TickResult]:
    return list(await asyncio.gather(*(w.tick(NOW) for w in workers)))


# ---------------------------------------------------------------------------- messages per minute


async def test_two_dispatchers_on_one_database_share_a_per_minute_quota(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """Runs on the SQLite file and on PostgreSQL (the ``engine`` fixture)."""
    settings = settings_for(tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SMTP__MESSAGES_PER_MINUTE="5")
    seed(engine, 12)
    clock = FixedClock(REAL_START)
    workers = [dispatcher(engine, settings, clock, f"w{n}") for n in (1, 2)]
    handler = smtp_server.handler
    per_minute = []
    for _minute in range(4):
        results = await tick_all(workers)
        per_minute.append(sum(r.sent for r in results))
        clock.advance(timedelta(minutes=1))
    for worker in workers:
        await worker.transport.close()
    assert per_minute == [5, 5, 2, 0]
    assert len(handler.messages) == 12 and len(set(received_ids(handler))) == 12  # each once
    assert {(r.state, r.attempts, r.held_since) for r in rows(engine)} == {("sent", 1, None)}
    assert "notification_retry" not in actions(engine) and "notification_failed" not in actions(engine)


async def test_what_waits_goes_out_oldest_first(sqlite_engine: Engine, tmp_path: Path, smtp_server: SmtpServer) -> None:
    engine = sqlite_engine
    settings = settings_for(tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SMTP__MESSAGES_PER_MINUTE="2")
    seed(engine, 6)
    clock = FixedClock(REAL_START)
    worker = dispatcher(engine, settings, clock, "w1")
    assert (await worker.tick(NOW)).sent == 2
    # The four left were due at different times: the newest row the oldest, and so on.
    waiting = [r for r in rows(engine) if r.state == "planned"]
    with engine.begin() as conn:
        for age, row in enumerate(waiting):
            conn.execute(
                sa.update(Notification.__table__)  # type: ignore[arg-type]
                .where(Notification.__table__.c.id == row.id)  # type: ignore[attr-defined]
                .values(scheduled_at=NOW - timedelta(hours=age))
            )
    order = []
    for _minute in range(2):
        clock.advance(timedelta(minutes=1))
        before = {r.id for r in rows(engine) if r.state == "sent"}
        assert (await worker.tick(NOW)).sent == 2
        order.append({r.id for r in rows(engine) if r.state == "sent"} - before)
    await worker.transport.close()
    ids = [r.id for r in waiting]
    assert order == [{ids[3], ids[2]}, {ids[1], ids[0]}]


def test_the_quota_row_is_never_overspent_by_concurrent_takers(engine: Engine) -> None:
    """Eight threads take from one row at once by compare-and-set: exactly the quota is granted."""
    quota = RelayQuota(engine, "smtp://relay.example.org:587", Limits(messages_per_minute=30))
    granted: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def taker() -> None:
        start.wait(timeout=10)
        for _ in range(10):
            decision = quota.acquire(REAL_START, 1)
            with lock:
                granted.append(decision.granted)

    threads = [threading.Thread(target=taker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(granted) == 80
    assert sum(granted) == 30
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version FROM relay_quota")).scalar_one()
    assert version == 30  # one committed change per granted message; refusals write nothing


# ---------------------------------------------------------------------------- throttling


async def test_throttling_replies_pause_the_relay_and_lose_nothing(
    sqlite_engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    engine = sqlite_engine
    # Pause 60 s, doubling, up to 30 min; one connection, so the replies come one per tick.
    settings = settings_for(tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SMTP__MAX_CONNECTIONS="1")
    seed(engine, 3)
    handler = smtp_server.handler
    handler.data_replies.extend(["421 4.7.0 Try again later", "451 4.7.500 Server busy", "454 4.7.0 Slow down"])
    clock = FixedClock(REAL_START)
    worker = dispatcher(engine, settings, clock, "w1")
    quota = RelayQuota.from_settings(engine, settings)
    pauses = []
    for answer in ("421", "451", "454"):
        before = len(handler.data_replies)
        result = await worker.tick(NOW)
        assert (result.sent, result.failed, result.retrying, result.held) == (0, 0, 0, 1)
        assert len(handler.data_replies) == before - 1 and answer in result.halted
        state = quota.state(clock.now())
        assert state.paused_until is not None
        pauses.append((state.paused_until - clock.now()).total_seconds())
        # Nothing lost, no attempt counted, every row waits in line and says why.
        assert {(r.state, r.attempts) for r in rows(engine)} == {("planned", 0)}
        assert all(r.held_since == NOW for r in rows(engine))
        # During the pause the relay is not even dialled.
        clock.set(state.paused_until - timedelta(seconds=1))
        transactions = smtp_server.connections, len(handler.data_replies)
        quiet = await worker.tick(NOW)
        assert (quiet.sent, quiet.held) == (0, 0) and quiet.halted
        assert (smtp_server.connections, len(handler.data_replies)) == transactions
        clock.set(state.paused_until)
    assert pauses == [60.0, 120.0, 240.0]  # growing
    result = await worker.tick(NOW)
    await worker.transport.close()
    assert result.sent == 3 and len(handler.messages) == 3
    assert {(r.state, r.attempts, r.held_since) for r in rows(engine)} == {("sent", 1, None)}
    assert quota.state(clock.now()).strikes == 0  # a delivery ends the run of pauses
    assert "notification_retry" not in actions(engine) and "notification_failed" not in actions(engine)


async def test_throttling_replies_to_a_burst_are_one_pause(
    sqlite_engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SMTP__MAX_CONNECTIONS="3")
    seed(sqlite_engine, 3)
    smtp_server.handler.data_replies.extend(["421 4.7.0 Try again later"] * 3)
    smtp_server.handler.gate = asyncio.Event()
    clock = FixedClock(REAL_START)
    worker = dispatcher(sqlite_engine, settings, clock, "w1")
    running = asyncio.create_task(worker.tick(NOW))
    await smtp_server.handler.wait_active(3)  # three transactions under way when the relay says stop
    smtp_server.handler.gate.set()
    result = await asyncio.wait_for(running, 30)
    await worker.transport.close()
    assert (result.sent, result.held, result.retrying) == (0, 3, 0)
    state = RelayQuota.from_settings(sqlite_engine, settings).state(clock.now())
    assert (state.strikes, state.paused_until) == (1, REAL_START + timedelta(seconds=60))


async def test_a_plain_451_is_still_an_ordinary_retry(
    sqlite_engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port)
    seed(sqlite_engine, 1)
    smtp_server.handler.data_replies.append("451 4.3.0 local error")
    worker = dispatcher(sqlite_engine, settings, FixedClock(REAL_START), "w1")
    result = await worker.tick(NOW)
    await worker.transport.close()
    assert (result.retrying, result.held, result.halted) == (1, 0, "")
    [row] = rows(sqlite_engine)
    assert (row.state, row.attempts, row.held_since) == ("planned", 1, None)


# ---------------------------------------------------------------------------- recipients per day


async def test_the_daily_quota_counts_to_and_cc_and_frees_up_a_day_later(
    sqlite_engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    engine = sqlite_engine
    settings = settings_for(tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SMTP__RECIPIENTS_PER_DAY="4")
    seed(engine, 3, cc=True)  # three emails of two recipients each
    clock = FixedClock(REAL_START)
    worker = dispatcher(engine, settings, clock, "w1")
    first = await worker.tick(NOW)
    assert (first.sent, first.held) == (2, 1) and first.halted == "4 recipients per day"
    assert held_for_quota(engine).count == 1
    # The window is a rolling day (as Microsoft 365 and Google count it): still full 24 hours later ...
    clock.advance(timedelta(hours=24))
    assert (await worker.tick(NOW)).sent == 0
    # ... and free once the hour of the first sends has left it.
    clock.set(REAL_START + timedelta(hours=25))
    last = await worker.tick(NOW)
    await worker.transport.close()
    assert (last.sent, last.held, last.halted) == (1, 0, "")
    assert sorted(len(m.rcpt_tos) for m in smtp_server.handler.messages) == [2, 2, 2]
    assert held_for_quota(engine).count == 0
    assert {(r.state, r.attempts) for r in rows(engine)} == {("sent", 1)}


# ---------------------------------------------------------------------------- the digest says so


async def test_the_digest_says_what_waits_for_the_quota(
    sqlite_engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    engine = sqlite_engine
    settings = settings_for(tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SMTP__MESSAGES_PER_MINUTE="1")
    seed(engine, 4)
    worker = dispatcher(engine, settings, FixedClock(REAL_START), "w1")
    assert (await worker.tick(NOW)).sent == 1
    await worker.transport.close()
    held = held_for_quota(engine)
    assert held.count == 3 and held.oldest == NOW
    context = collect_digest(engine, settings, NOW + timedelta(hours=1))
    assert context.waiting_for_relay is not None
    assert (context.waiting_for_relay.count, context.waiting_for_relay.oldest) == (3, date(2026, 8, 3))
    english = render("digest", "en", context)
    assert "3 emails wait for the mail server's sending quota, the oldest due since 3 August 2026" in english.text
    assert "Waiting for the mail server&#39;s quota (3)" in english.html or "quota (3)" in english.html
    spanish = render("digest", "es", collect_digest(engine, settings, NOW, language="es"))
    assert "3 mensajes esperan la cuota de envío" in spanish.text
    assert "3 de agosto de 2026" in spanish.text


def test_the_relay_key_names_the_account_not_just_the_host(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, smtp_port=587, FOLLOWUP_SMTP__USERNAME="ts@rcm.example.org")
    assert relay_key(settings) == "smtp://ts@rcm.example.org@127.0.0.1:587"
    assert relay_key(settings_for(tmp_path)) == "maildir"

"""The send path through crashes, lapsed leases, stops and misbehaving SMTP servers (issue 9).

Crashes of whole processes (kill -9) are in ``tests/integration/crash``; here
a crash is simulated at the outbox level (rows claimed and built, never
recorded), which is exactly the state a killed worker leaves behind.
"""

from __future__ import annotations

import asyncio
import email
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.clock import FixedClock
from followup.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from followup.outbound.dispatch import Dispatcher
from followup.outbound.emails.lookup import RowCache
from followup.outbound.outbox import assign_message_ids, claim, requeue
from followup.outbound.transports.base import Refusals
from followup.outbound.transports.smtp import SmtpTransport, is_address_refusal
from followup.schedule.planner import plan
from followup.schedule.policy import load_schedule_policies
from followup.schedule.reminder_rules import group_for_delivery
from followup.settings import Settings
from followup.store.models import Contact, Event, Notification
from tests.factories import make_assignment, make_commitment, make_contact, make_party, settings_for

if TYPE_CHECKING:
    from tests.smtp_server import RecordingHandler, SmtpServer

NOW = datetime(2026, 8, 3, 15, 0, tzinfo=UTC)  # Monday, 09:00 in Tegucigalpa: inside the send window
DUE = date(2026, 8, 17)  # the -14d reminder is due at NOW
SECRET = b"a-test-secret-that-is-long-enough"
REAL_START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # the lease clock: unrelated to the logical NOW


def seed(engine: Engine, count: int, *, cc: bool = False) -> list[str]:
    """``count`` parties with one primary focal point each (and a Cc contact), one reminder due at NOW."""
    addresses = []
    with Session(engine) as s:
        make_commitment(s, "matrix", due_date=DUE, owners_all_members=True)
        for i in range(count):
            code = f"P{i:03d}"
            make_party(s, code, timezone="America/Tegucigalpa", holiday_country="HN", language="es")
            make_contact(s, code, email=f"fp{i}@p{i}.example.org")
            if cc:
                make_contact(s, code, email=f"cc{i}@p{i}.example.org", role="cc")
            make_assignment(s, "matrix", code, DUE, occurrence="once")
            addresses.append(f"fp{i}@p{i}.example.org")
        s.commit()
    return addresses


def dispatcher(
    engine: Engine,
    settings: Settings,
    transport: Any,
    *,
    worker: str = "w1",
    clock: FixedClock | None = None,
    **kw: Any,
) -> Dispatcher:
    return Dispatcher(
        engine,
        settings,
        transport,
        secret=SECRET,
        policies=load_schedule_policies(settings.schedule),
        worker_id=worker,
        lease_clock=clock or FixedClock(REAL_START),
        **kw,
    )


def rows(engine: Engine) -> list[Notification]:
    with Session(engine) as s:
        return list(s.exec(select(Notification).order_by(Notification.id)).all())  # type: ignore[arg-type]


def message_ids(handler: RecordingHandler) -> list[str]:
    return [email.message_from_bytes(m.data)["Message-ID"] for m in handler.messages]


def actions(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return [e.action for e in s.exec(select(Event).order_by(Event.id)).all()]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- 1. Message-ID once


async def test_a_resend_after_a_crash_carries_the_first_tries_message_id(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SCHEDULE__LEASE_SECONDS="30")
    seed(engine, 4)
    policies = load_schedule_policies(settings.schedule)
    plan(engine, NOW, settings, policies)
    # The crashed worker: claimed, built, stored the Message-IDs (and maybe sent), then died.
    crashed = dispatcher(engine, settings, None, worker="crashed")
    claimed = claim(engine, NOW, "crashed", 100, 30, at=REAL_START)
    with Session(engine) as s:
        cache = RowCache(s)
        groups = group_for_delivery(claimed, NOW, lambda r: "America/Tegucigalpa")
        built = [crashed.build(g, cache, NOW) for g in groups]
    first = {tuple(b.ids): b.message.message_id for b in built if b is not None}
    assign_message_ids(engine, list(first.items()))
    # Another worker after the lease ran out (real time), later in logical time too.
    clock = FixedClock(REAL_START + timedelta(seconds=31))
    transport = SmtpTransport(settings.smtp)
    result = await dispatcher(engine, settings, transport, worker="w2", clock=clock).tick(NOW + timedelta(hours=1))
    await transport.close()
    assert result.sent == 4
    assert sorted(message_ids(smtp_server.handler)) == sorted(first.values())
    assert {r.message_id for r in rows(engine)} == set(first.values())
    assert {(r.state, r.attempts) for r in rows(engine)} == {("sent", 1)}


async def test_a_retry_after_a_temporary_failure_keeps_the_message_id(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port)
    seed(engine, 1)
    smtp_server.handler.data_replies.append("451 4.3.0 try again later")
    transport = SmtpTransport(settings.smtp)
    worker = dispatcher(engine, settings, transport)
    assert (await worker.tick(NOW)).retrying == 1
    [row] = rows(engine)
    first_id = row.message_id
    assert first_id and (row.state, row.attempts) == ("planned", 1)
    assert (await worker.tick(NOW + timedelta(hours=1))).sent == 1
    await transport.close()
    assert message_ids(smtp_server.handler) == [first_id]


# ---------------------------------------------------------------------------- 3. attempts


def _planned_rows(engine: Engine, tmp_path: Path, count: int) -> tuple[Settings, list[int]]:
    settings = settings_for(tmp_path)
    seed(engine, count)
    plan(engine, NOW, settings, load_schedule_policies(settings.schedule))
    return settings, [r.id for r in rows(engine) if r.id is not None]


def test_claims_and_crashes_are_not_attempts(engine: Engine, tmp_path: Path) -> None:
    _settings, ids = _planned_rows(engine, tmp_path, 3)
    at = REAL_START
    for crash in range(8):  # eight workers claim and die
        assert sorted(r.id for r in claim(engine, NOW, f"dead{crash}", 100, 10, at=at, max_attempts=6)) == ids
        at += timedelta(seconds=11)
    assert {r.attempts for r in rows(engine)} == {0}


def test_a_row_is_never_claimed_past_its_attempts(engine: Engine, tmp_path: Path) -> None:
    _settings, ids = _planned_rows(engine, tmp_path, 2)
    with engine.begin() as conn:
        conn.execute(sa.update(Notification).where(Notification.id == ids[0]).values(attempts=6))  # type: ignore[arg-type]
    assert [r.id for r in claim(engine, NOW, "w", 100, 10, at=REAL_START, max_attempts=6)] == [ids[1]]
    # ... nor taken over from a dead worker once used up.
    with engine.begin() as conn:
        conn.execute(
            sa.update(Notification)
            .where(Notification.id == ids[1])  # type: ignore[arg-type]
            .values(attempts=6)
        )
    assert claim(engine, NOW, "w2", 100, 10, at=REAL_START + timedelta(seconds=11), max_attempts=6) == []


async def test_one_temporary_failure_after_many_crashes_is_retried_not_failed(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SMTP__MAX_ATTEMPTS="6")
    seed(engine, 5)
    plan(engine, NOW, settings, load_schedule_policies(settings.schedule))
    at = REAL_START
    for crash in range(7):
        claim(engine, NOW, f"dead{crash}", 100, 300, at=at, max_attempts=6)
        at += timedelta(seconds=301)
    smtp_server.handler.data_replies.extend(["451 4.3.0 busy"] * 5)
    transport = SmtpTransport(settings.smtp)
    result = await dispatcher(engine, settings, transport, clock=FixedClock(at)).tick(NOW)
    await transport.close()
    assert (result.sent, result.retrying, result.failed) == (0, 5, 0)
    assert {(r.state, r.attempts) for r in rows(engine)} == {("planned", 1)}


def test_the_default_retry_schedule_spans_three_days() -> None:
    from followup.outbound.outbox import backoff_seconds
    from followup.settings import SmtpSettings

    smtp = SmtpSettings()
    span = sum(backoff_seconds(n, smtp.retry_base_seconds, smtp.retry_max_seconds) for n in range(1, smtp.max_attempts))
    assert span >= 3 * 24 * 3600


# ---------------------------------------------------------------------------- 2. leases


async def test_leases_run_on_the_real_clock_not_on_the_ticks_now(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SCHEDULE__LEASE_SECONDS="60")
    seed(engine, 1)
    plan(engine, NOW, settings, load_schedule_policies(settings.schedule))
    [row] = claim(engine, NOW, "w", 10, 60, at=REAL_START)
    assert row.lease_until == REAL_START + timedelta(seconds=60)
    # A second worker whose logical now is a day later still sees the lease running.
    assert claim(engine, NOW + timedelta(days=1), "w2", 10, 60, at=REAL_START + timedelta(seconds=59)) == []


async def test_a_worker_whose_lease_lapsed_does_not_send(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """Worker A stalls past its lease on its first email; B takes the rows over; A then sends nothing more."""
    settings = settings_for(
        tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SCHEDULE__LEASE_SECONDS="10", FOLLOWUP_SMTP__MAX_CONNECTIONS="1"
    )
    addresses = seed(engine, 6)
    clock = FixedClock(REAL_START)
    b_transport = SmtpTransport(settings.smtp)
    b = dispatcher(engine, settings, b_transport, worker="B", clock=clock)
    b_result: list[Any] = []

    class Stalling(SmtpTransport):
        stalled = False

        async def send(self, sender: str, recipients: list[str], data: bytes) -> Refusals:
            if not self.stalled:
                self.stalled = True
                clock.advance(timedelta(seconds=11))  # A hangs past its lease ...
                b_result.append(await b.tick(NOW + timedelta(minutes=5)))  # ... and B takes over
            return await super().send(sender, recipients, data)

    a_transport = Stalling(settings.smtp)
    a_result = await dispatcher(engine, settings, a_transport, worker="A", clock=clock).tick(NOW)
    await a_transport.close()
    await b_transport.close()
    received = Counter(rcpt for m in smtp_server.handler.messages for rcpt in m.rcpt_tos)
    assert set(received) == set(addresses)
    # Only the email A had already begun may arrive twice, with one Message-ID.
    assert sum(received.values()) <= len(addresses) + 1
    assert a_result.lost_lease == 5
    assert b_result[0].sent == 6
    by_recipient: dict[str, set[str]] = {}
    for m in smtp_server.handler.messages:
        by_recipient.setdefault(m.rcpt_tos[0], set()).add(email.message_from_bytes(m.data)["Message-ID"])
    assert all(len(ids) == 1 for ids in by_recipient.values())
    assert {r.state for r in rows(engine)} == {"sent"}


@pytest.mark.slow
async def test_two_dispatchers_staggered_with_a_short_lease_and_a_slow_server_send_once(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """The second starts later (in real and logical time) while the first is still sending slowly."""
    from followup.clock import SystemClock

    settings = settings_for(
        tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SCHEDULE__LEASE_SECONDS="2", FOLLOWUP_SMTP__MAX_CONNECTIONS="2"
    )
    count = 40
    addresses = seed(engine, count)
    smtp_server.handler.data_faults.extend(["slow:0.1"] * (count + 5))
    transports = [SmtpTransport(settings.smtp), SmtpTransport(settings.smtp)]
    first = dispatcher(engine, settings, transports[0], worker="first", clock=SystemClock())  # type: ignore[arg-type]
    second = dispatcher(engine, settings, transports[1], worker="second", clock=SystemClock())  # type: ignore[arg-type]
    first_run = asyncio.create_task(first.tick(NOW))
    await smtp_server.handler.wait_for(3, timeout=10)
    later = await second.tick(NOW + timedelta(seconds=30))  # its "now" is past the first one's leases
    results = [await asyncio.wait_for(first_run, 60), later]
    for t in transports:
        await t.close()
    received = sorted(rcpt for m in smtp_server.handler.messages for rcpt in m.rcpt_tos)
    assert received == sorted(addresses)  # every one exactly once
    assert sum(r.sent for r in results) == count


# ---------------------------------------------------------------------------- 4. stop


async def test_stop_during_a_send_finishes_what_is_in_flight_and_releases_the_rest(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SMTP__MAX_CONNECTIONS="2")
    seed(engine, 20)
    handler = smtp_server.handler
    handler.gate = asyncio.Event()
    transport = SmtpTransport(settings.smtp)
    worker = dispatcher(engine, settings, transport)
    running = asyncio.create_task(worker.tick(NOW))
    await handler.wait_active(2)
    worker.stop()
    handler.gate.set()
    result = await asyncio.wait_for(running, 10)
    await transport.close()
    assert result.sent == 2 == len(handler.messages)
    states = Counter(r.state for r in rows(engine))
    assert states == {"sent": 2, "planned": 18}
    assert {r.attempts for r in rows(engine) if r.state == "planned"} == {0}


async def test_a_cancelled_tick_leaves_nothing_sending(engine: Engine, tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port)
    seed(engine, 10)
    smtp_server.handler.gate = asyncio.Event()
    transport = SmtpTransport(settings.smtp)
    running = asyncio.create_task(dispatcher(engine, settings, transport).tick(NOW))
    await smtp_server.handler.wait_active(1)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 30)
    smtp_server.handler.gate.set()
    await transport.close()
    assert {r.state for r in rows(engine)} == {"planned"}


# ---------------------------------------------------------------------------- 6. SMTP faults


FAULTS = [
    # (what the server does, row state after one tick, contact address state)
    # A 421 asks us to slow down: the row is held for the relay's pause, no attempt counted
    # (tests/integration/test_relay_quota.py follows that path to the end).
    ({"data": "421 4.3.2 shutting down"}, "planned", "ok"),
    ({"data": "451 4.3.0 local error"}, "planned", "ok"),
    ({"data": "452 4.3.1 insufficient storage"}, "planned", "ok"),
    ({"data": "550 5.7.1 message refused as spam"}, "failed", "ok"),
    ({"data": "552 5.3.4 message too big"}, "failed", "ok"),
    ({"data": "554 5.6.0 transaction failed"}, "failed", "ok"),
    ({"rcpt": "550 5.1.1 no such user"}, "failed", "suspect"),
    ({"rcpt": "553 5.1.3 bad address syntax"}, "failed", "suspect"),
    ({"rcpt": "550 5.7.1 relaying denied"}, "failed", "ok"),
    ({"rcpt": "451 4.4.3 try again"}, "planned", "ok"),
    ({"fault": "drop"}, "planned", "ok"),
    ({"fault": "store-drop"}, "planned", "ok"),
]


@pytest.mark.parametrize(("behaviour", "state", "address"), FAULTS, ids=lambda v: str(v))
async def test_smtp_faults(
    sqlite_engine: Engine,
    tmp_path: Path,
    smtp_server: SmtpServer,
    behaviour: dict[str, str],
    state: str,
    address: str,
) -> None:
    engine = sqlite_engine
    settings = settings_for(tmp_path, smtp_port=smtp_server.port)
    [to] = seed(engine, 1)
    handler = smtp_server.handler
    if "data" in behaviour:
        handler.data_replies.append(behaviour["data"])
    if "rcpt" in behaviour:
        handler.rcpt_replies[to] = behaviour["rcpt"]
    if "fault" in behaviour:
        handler.data_faults.append(behaviour["fault"])
    transport = SmtpTransport(settings.smtp)
    clock = FixedClock(REAL_START)
    worker = dispatcher(engine, settings, transport, clock=clock)
    await worker.tick(NOW)
    [row] = rows(engine)
    throttled = behaviour.get("data", "").startswith("421")
    assert (row.state, row.attempts) == (state, 0 if throttled else 1)
    assert row.last_error
    with Session(engine) as s:
        [contact] = s.exec(select(Contact)).all()
    assert contact.address_state == address
    if state == "planned":
        # The retry goes out with the first try's Message-ID (a stored copy and its resend fold together).
        handler.rcpt_replies.clear()
        clock.advance(timedelta(hours=2))  # past the relay's throttling pause
        await worker.tick(NOW + timedelta(hours=2))
        assert rows(engine)[0].state == "sent"
        assert set(message_ids(handler)) == {row.message_id}
    await transport.close()


async def test_a_slow_server_is_waited_for_up_to_the_data_timeout(
    sqlite_engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(
        tmp_path,
        smtp_port=smtp_server.port,
        FOLLOWUP_SMTP__TIMEOUT_SECONDS="0.2",
        FOLLOWUP_SMTP__DATA_TIMEOUT_SECONDS="5",
    )
    seed(sqlite_engine, 2)
    smtp_server.handler.data_faults.extend(["slow:0.5", "slow:0.5"])
    transport = SmtpTransport(settings.smtp)
    result = await dispatcher(sqlite_engine, settings, transport).tick(NOW)
    await transport.close()
    assert result.sent == 2


async def test_a_server_slower_than_the_data_timeout_is_a_temporary_failure(
    sqlite_engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SMTP__DATA_TIMEOUT_SECONDS="0.2")
    seed(sqlite_engine, 1)
    smtp_server.handler.data_faults.append("slow:1")
    transport = SmtpTransport(settings.smtp)
    result = await dispatcher(sqlite_engine, settings, transport).tick(NOW)
    await transport.close()
    assert (result.sent, result.retrying) == (0, 1)


def test_data_timeout_defaults_to_ten_minutes() -> None:
    from followup.settings import SmtpSettings

    assert SmtpSettings().data_timeout_seconds == 600


@pytest.mark.parametrize(
    ("code", "text", "address"),
    [
        (550, "5.1.1 no such user", True),
        (550, "no such user", True),
        (551, "user not local", True),
        (553, "5.1.3 bad syntax", True),
        (550, "5.7.1 relaying denied", False),
        (552, "5.2.2 mailbox full", False),
        (554, "5.7.1 rejected", False),
    ],
)
def test_which_refusals_are_about_the_address(code: int, text: str, address: bool) -> None:
    assert is_address_refusal(code, text) is address


# ---------------------------------------------------------------------------- 6. per recipient


async def test_a_cc_refused_permanently_is_recorded_and_not_retried(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port)
    seed(engine, 1, cc=True)
    smtp_server.handler.rcpt_replies["cc0@p0.example.org"] = "550 5.1.1 no such user"
    transport = SmtpTransport(settings.smtp)
    result = await dispatcher(engine, settings, transport).tick(NOW)
    await transport.close()
    assert result.sent == 1
    [row] = rows(engine)
    assert row.state == "sent"
    assert "cc0@p0.example.org" in row.payload["refused"]
    assert "550" in row.last_error
    assert "recipient_refused" in actions(engine)


async def test_a_cc_refused_temporarily_is_retried_for_that_recipient_only(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port)
    seed(engine, 1, cc=True)
    handler = smtp_server.handler
    handler.rcpt_replies["cc0@p0.example.org"] = "451 4.2.1 mailbox busy"
    transport = SmtpTransport(settings.smtp)
    worker = dispatcher(engine, settings, transport)
    first = await worker.tick(NOW)
    assert first.sent == 1
    assert handler.messages[0].rcpt_tos == ["fp0@p0.example.org"]
    original, retry = rows(engine)
    assert original.state == "sent"
    assert "451" in original.payload["refused"]["cc0@p0.example.org"]
    assert (retry.state, retry.recipient, retry.message_id) == ("planned", "cc0@p0.example.org", original.message_id)
    assert "recipient_retry" in actions(engine)
    handler.rcpt_replies.clear()
    second = await worker.tick(NOW + timedelta(minutes=5))
    await transport.close()
    assert second.sent == 1
    assert handler.messages[1].rcpt_tos == ["cc0@p0.example.org"]  # only the one refused
    assert handler.messages[1].data == handler.messages[0].data  # the same email, the same Message-ID
    assert {r.state for r in rows(engine)} == {"sent"}


# ---------------------------------------------------------------------------- 5/7. outages


async def test_a_four_hour_outage_is_retried_not_failed(engine: Engine, tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings = settings_for(tmp_path, smtp_port=dead_port, FOLLOWUP_SMTP__TIMEOUT_SECONDS="1")
    seed(engine, 3)
    clock = FixedClock(NOW)
    transport = SmtpTransport(settings.smtp, monotonic=lambda: clock.now().timestamp())
    worker = dispatcher(engine, settings, transport, clock=clock)
    connects = 0
    original = transport._open

    async def counting_open() -> Any:
        nonlocal connects
        connects += 1
        return await original()

    transport._open = counting_open  # type: ignore[method-assign]
    end = NOW + timedelta(hours=4)
    while clock.now() < end:
        result = await worker.tick(clock.now())
        assert result.failed == 0
        clock.advance(timedelta(minutes=5))
    await transport.close()
    states = Counter((r.state, r.next_attempt_at is not None) for r in rows(engine))
    assert states == {("planned", True): 3}
    assert all(r.attempts < settings.smtp.max_attempts for r in rows(engine))
    # The breaker kept the dead relay from being dialled for every email of every tick.
    assert connects < 40


async def test_the_breaker_opens_after_consecutive_connection_failures(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings = settings_for(
        tmp_path,
        smtp_port=dead_port,
        FOLLOWUP_SMTP__BREAKER_FAILURES="2",
        FOLLOWUP_SMTP__BREAKER_COOLDOWN_SECONDS="60",
    )
    now = [0.0]
    transport = SmtpTransport(settings.smtp, monotonic=lambda: now[0])
    for _ in range(2):
        with pytest.raises(TransientDeliveryError, match="cannot connect"):
            await transport.send("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n")
    with pytest.raises(TransientDeliveryError, match="not tried for another 60s"):
        await transport.send("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n")
    now[0] = 61.0
    with pytest.raises(TransientDeliveryError, match="cannot connect"):  # half open: one try
        await transport.send("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n")
    await transport.close()


async def test_outbox_retry_requeues_waiting_and_failed_rows(engine: Engine, tmp_path: Path) -> None:
    _settings, ids = _planned_rows(engine, tmp_path, 3)
    with engine.begin() as conn:
        conn.execute(
            sa.update(Notification)
            .where(Notification.id == ids[0])  # type: ignore[arg-type]
            .values(state="failed", attempts=21, last_error="451 for days")
        )
        conn.execute(
            sa.update(Notification)
            .where(Notification.id == ids[1])  # type: ignore[arg-type]
            .values(next_attempt_at=NOW + timedelta(hours=5), scheduled_at=NOW + timedelta(hours=5), attempts=3)
        )
    later = NOW + timedelta(hours=1)
    only_waiting = requeue(engine, later)
    assert (only_waiting.retrying, only_waiting.failed) == ([ids[1]], [])
    both = requeue(engine, later, failed=True, since=NOW - timedelta(days=1))
    assert both.failed == [ids[0]]
    row = rows(engine)[0]
    assert (row.state, row.attempts, row.scheduled_at) == ("planned", 0, later)
    assert requeue(engine, later, failed=True, since=later + timedelta(days=1)).failed == []
    assert "notification_requeued" in actions(engine)


def test_delivery_errors_say_whether_the_address_was_refused() -> None:
    assert not DeliveryError("x").address_refused
    assert PermanentDeliveryError("550", code=550, address_refused=True).address_refused

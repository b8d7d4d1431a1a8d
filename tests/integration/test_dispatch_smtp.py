"""The whole send path against a real SMTP server: retries, permanent failures, outages, injection."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.daemon.services import Mailer, tick
from followup.outbound.emails.digest import collect_digest
from followup.settings import Settings
from followup.store.db import make_engine, migrate
from followup.store.models import Contact, Event, Notification
from tests.factories import make_assignment, make_commitment, make_contact, make_party, settings_for

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

# Monday 3 August 2026, 15:00 UTC: 09:00 in Tegucigalpa, inside the send window.
NOW = datetime(2026, 8, 3, 15, 0, tzinfo=UTC)
DUE = date(2026, 8, 17)  # the -14d reminder is due now


def setup(tmp_path: Path, port: int, *, contact_name: str = "Ana López", **env: str) -> tuple[Settings, Engine]:
    settings = settings_for(tmp_path, smtp_port=port, FOLLOWUP_SMTP__TIMEOUT_SECONDS="5", **env)
    engine = make_engine(settings.database_url)
    migrate(engine)
    with Session(engine) as s:
        make_party(s, "HN", name_en="Honduras")
        make_contact(s, "HN", name=contact_name, email="ana@migracion.hn.example")
        make_commitment(
            s,
            "matrix",
            title_en="Integration matrix",
            title_es="Matriz de integración",
            due_date=DUE,
            owners_all_members=True,
        )
        make_assignment(s, "matrix", "HN", DUE, occurrence="once")
        s.commit()
    return settings, engine


def states(engine: Engine) -> list[tuple[str, int, str]]:
    with Session(engine) as s:
        return [(n.state, n.attempts, n.last_error) for n in s.exec(select(Notification))]


async def test_451_is_retried_with_backoff_then_sent(tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings, engine = setup(tmp_path, smtp_server.port)
    smtp_server.handler.data_replies.append("451 4.3.0 try again later")
    mailer = Mailer.create(engine, settings)
    first = await tick(mailer, NOW)
    assert (first.sent, first.retrying, first.failed) == (0, 1, 0)
    [(state, attempts, error)] = states(engine)
    assert (state, attempts) == ("planned", 1) and "451" in error
    # Not before the backoff (60 s by default) ...
    assert (await tick(mailer, NOW + timedelta(seconds=30))).sent == 0
    # ... then it goes, once.
    later = await tick(mailer, NOW + timedelta(minutes=2))
    assert later.sent == 1
    assert len(smtp_server.handler.messages) == 1
    assert states(engine)[0][0] == "sent"
    await mailer.close()


async def test_550_marks_failed_suspect_and_reported(tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings, engine = setup(tmp_path, smtp_server.port)
    smtp_server.handler.rcpt_replies["ana@migracion.hn.example"] = "550 5.1.1 no such user"
    mailer = Mailer.create(engine, settings)
    result = await tick(mailer, NOW)
    assert (result.sent, result.failed) == (0, 1)
    [(state, _attempts, error)] = states(engine)
    assert state == "failed" and "550" in error
    with Session(engine) as s:
        contact = s.exec(select(Contact)).one()
        assert contact.address_state == "suspect"
        assert s.exec(select(Event).where(Event.action == "notification_failed")).first() is not None
    # Nothing more is tried for a dead address, and the digest reports the failure.
    assert (await tick(mailer, NOW + timedelta(days=1))).sent == 0
    digest = collect_digest(engine, settings, NOW + timedelta(days=1))
    assert [f.recipient for f in digest.failures] == ["Ana López <ana@migracion.hn.example>"]  # a person, by name
    assert "550" in digest.failures[0].error
    await mailer.close()


async def test_server_down_then_back_loses_nothing(tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings, engine = setup(tmp_path, smtp_server.port)
    await smtp_server.stop()
    mailer = Mailer.create(engine, settings)
    down = await tick(mailer, NOW)
    assert (down.sent, down.retrying) == (0, 1)
    await smtp_server.start()
    back = await tick(mailer, NOW + timedelta(minutes=5))
    assert back.sent == 1
    [received] = smtp_server.handler.messages
    msg = email.message_from_bytes(received.data, policy=email.policy.default)
    with Session(engine) as s:
        row = s.exec(select(Notification)).one()
    assert row.state == "sent"
    assert row.message_id == msg["Message-ID"]  # the Message-ID stored before sending is the one that went
    await mailer.close()


async def test_contact_name_with_crlf_cannot_add_a_header(tmp_path: Path, smtp_server: SmtpServer) -> None:
    evil = "Ana\r\nBcc: attacker@evil.example\r\nX-Injected: yes"
    settings, engine = setup(tmp_path, smtp_server.port, contact_name=evil)
    mailer = Mailer.create(engine, settings)
    assert (await tick(mailer, NOW)).sent == 1
    [received] = smtp_server.handler.messages
    assert received.rcpt_tos == ["ana@migracion.hn.example"]
    msg = email.message_from_bytes(received.data, policy=email.policy.default)
    assert msg["X-Injected"] is None and msg["Bcc"] is None
    assert "attacker@evil.example" not in str(msg["To"]).split("<")[-1]
    head = received.data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head
    assert b"\nX-Injected:" not in head
    await mailer.close()


async def test_a_reminder_claimed_after_hours_waits_for_the_next_window(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """A reminder that could not go in the day (the relay was down) does not go out at night."""
    settings, engine = setup(tmp_path, smtp_server.port)
    await smtp_server.stop()
    mailer = Mailer.create(engine, settings)
    assert (await tick(mailer, NOW)).retrying == 1
    await smtp_server.start()
    night = NOW + timedelta(hours=10)  # 01:00 on Tuesday in Tegucigalpa
    assert (await tick(mailer, night, dry_run=True)).messages == []  # the dry run says what a tick does
    assert (await tick(mailer, night)).sent == 0
    assert smtp_server.handler.messages == []
    with Session(engine) as s:
        row = s.exec(select(Notification)).one()
        deferred = s.exec(select(Event).where(Event.action == "notification_deferred")).one()
    opens = datetime(2026, 8, 4, 15, 0, tzinfo=UTC)  # Tuesday 09:00 in Tegucigalpa
    assert (row.state, row.attempts, row.scheduled_at.replace(tzinfo=UTC)) == ("planned", 1, opens)
    assert deferred.details["until"] == opens.isoformat()
    assert (await tick(mailer, opens)).sent == 1
    [received] = smtp_server.handler.messages
    assert email.message_from_bytes(received.data)["Message-ID"] == row.message_id
    await mailer.close()

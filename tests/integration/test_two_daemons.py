"""Two daemons against one database send every email exactly once (the outbox's promise)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.outbound.dispatch import Dispatcher
from followup.outbound.transports.smtp import SmtpTransport
from followup.schedule.policy import load_schedule_policies
from followup.store.models import Notification
from tests.factories import make_assignment, make_commitment, make_contact, make_party, settings_for

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

NOW = datetime(2026, 8, 3, 15, 0, tzinfo=UTC)  # Monday, inside the Central American send window
DUE = date(2026, 8, 17)
CONTACTS = 60


async def test_two_dispatchers_share_the_work(engine: Engine, tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port)
    with Session(engine) as s:
        make_commitment(s, "matrix", due_date=DUE, owners_all_members=True)
        for i in range(CONTACTS):
            code = f"P{i:03d}"
            make_party(s, code, timezone="America/Tegucigalpa", holiday_country="HN", language="es")
            make_contact(s, code, email=f"fp{i}@p{i}.example.org")
            make_assignment(s, "matrix", code, DUE, occurrence="once")
        s.commit()
    policies = load_schedule_policies(settings.schedule)
    secret = b"a-test-secret-that-is-long-enough"
    transports = [SmtpTransport(settings.smtp), SmtpTransport(settings.smtp)]
    workers = [
        Dispatcher(engine, settings, t, secret=secret, policies=policies, worker_id=f"w{n}", batch_size=7)
        for n, t in enumerate(transports)
    ]
    results = await asyncio.gather(*(w.tick(NOW) for w in workers))
    for t in transports:
        await t.close()
    assert sum(r.sent for r in results) == CONTACTS
    received = sorted(rcpt for m in smtp_server.handler.messages for rcpt in m.rcpt_tos)
    assert received == sorted(f"fp{i}@p{i}.example.org" for i in range(CONTACTS))  # each exactly once
    with Session(engine) as s:
        rows = s.exec(select(Notification)).all()
    assert len(rows) == CONTACTS
    assert all(n.state == "sent" for n in rows)
    assert len({n.message_id for n in rows}) == CONTACTS

"""Drive the send path through 2026 with a test clock and a real SMTP server.

Ticks run every hour from 12:00 to 18:00 UTC (the send windows of the
recipients' zones all open inside it), with a fresh database engine and
mailer every week, as after a restart. A downtime from 25 May to 20 June
checks the catch-up rule.
"""

from __future__ import annotations

import email
import email.policy
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from followup.daemon.actions import set_state
from followup.daemon.services import Mailer, tick
from followup.schedule.loading import load_paths
from followup.store.db import make_engine, migrate
from followup.store.models import Assignment, Notification
from tests.factories import settings_for

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
START, END = date(2026, 2, 20), date(2026, 12, 1)
DOWNTIME = (date(2026, 5, 25), date(2026, 6, 20))
CONFIRM_CA_ON = datetime(2026, 4, 1, 20, 0, tzinfo=UTC)


def utc(y: int, m: int, d: int, h: int) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


async def test_a_year_of_reminders(tmp_path: Path, smtp_server: SmtpServer) -> None:
    # Every step on its own day: this drive is about zones, holidays and catch-up, not the weekly cap
    # (which would hold the +1d notice after -3d and 0d in the same week; see test_planner).
    settings = settings_for(tmp_path, smtp_port=smtp_server.port, FOLLOWUP_SCHEDULE__MAX_EMAILS_PER_WEEK="7")
    engine = make_engine(settings.database_url)
    migrate(engine)
    load_paths(engine, [FIXTURES / "year.yaml"], now=utc(2026, 2, 1, 12))
    engine.dispose()

    day, confirmed = START, False
    while day < END:
        if DOWNTIME[0] <= day < DOWNTIME[1]:
            day += timedelta(days=1)
            continue
        engine = make_engine(settings.database_url)  # a restart every day: nothing may be sent twice
        mailer = Mailer.create(engine, settings)
        for hour in range(12, 19):
            now = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
            if not confirmed and now >= CONFIRM_CA_ON:
                ca = _assignment(engine, "dst-spring")
                set_state(engine, ca, "confirmed", now=now, actor="secretariat")
                confirmed = True
            await tick(mailer, now)
        await mailer.close()
        engine.dispose()
        day += timedelta(days=1)

    engine = make_engine(settings.database_url)
    sent = _sent_steps(engine)

    # Spring DST (8 March): 09:00 in Toronto is 14:00 UTC before, 13:00 UTC after.
    assert sent["dst-spring"][:4] == [
        ("-14d", utc(2026, 3, 6, 14)),
        ("-3d", utc(2026, 3, 17, 13)),
        ("0d", utc(2026, 3, 20, 13)),
        ("+1d", utc(2026, 3, 23, 13)),  # Saturday 21st moves to Monday: overdue steps move later
    ]
    # Confirmed on 1 April: nothing after that.
    assert all(at < CONFIRM_CA_ON for _, at in sent["dst-spring"])
    # Autumn DST (1 November): 13:00 UTC before, 14:00 UTC after.
    assert sent["dst-autumn"][:3] == [
        ("-14d", utc(2026, 10, 22, 13)),
        ("-3d", utc(2026, 11, 2, 14)),
        ("0d", utc(2026, 11, 5, 14)),
    ]
    # Back from downtime on Saturday 20 June: no reminder after the due date, no burst of
    # stale overdue notices; only the latest step, at the next window (Monday 22 June).
    assert sent["catch-up"][0] == ("+8d", utc(2026, 6, 22, 13))
    assert [step for step, _ in sent["catch-up"]][:2] == ["+8d", "+15d"]
    # Honduras: Independence Day (Tuesday 15 September) moves the -3d reminder to Monday 14th.
    assert sent["matrix-a"][:2] == [("-14d", utc(2026, 9, 4, 15)), ("-3d", utc(2026, 9, 14, 15))]

    messages = [email.message_from_bytes(m.data, policy=email.policy.default) for m in smtp_server.handler.messages]
    per_day: dict[tuple[str, str], int] = defaultdict(int)
    for msg in messages:
        per_day[(str(msg["To"]), str(msg["Date"])[:16])] += 1
    assert max(per_day.values()) == 1, "a contact got two emails on one day"
    # The two Honduran items due the same day travel in one email with both references.
    hn = [m for m in messages if "alopez@" in str(m["To"])]
    first = hn[0]
    assert f"[RCM-{_assignment(engine, 'matrix-a')}]" in str(first["Subject"])
    assert f"[RCM-{_assignment(engine, 'matrix-b')}]" in str(first["Subject"])
    assert str(first["Content-Language"]) == "es"
    # The escalation step copies the alternate and the secretariat.
    escalations = [m for m in hn if m["Cc"] is not None]
    assert escalations, "no escalation was sent"
    assert "lperez@migracion.gob.hn.example" in str(escalations[0]["Cc"])
    assert settings.secretariat.email in str(escalations[0]["Cc"])
    # Every email went to the server exactly once per row: the ledger and the server agree.
    with Session(engine) as session:
        ids = {n.message_id for n in session.exec(select(Notification).where(Notification.state == "sent"))}
    assert len(ids) == len(messages)


def _assignment(engine: object, commitment_id: str) -> int:
    with Session(engine) as session:  # type: ignore[arg-type]
        row = session.exec(select(Assignment).where(Assignment.commitment_id == commitment_id)).first()
        assert row is not None and row.id is not None
        return row.id


def _sent_steps(engine: object) -> dict[str, list[tuple[str, datetime]]]:
    out: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    with Session(engine) as session:  # type: ignore[arg-type]
        rows = session.exec(
            select(Notification, Assignment)
            .join(Assignment, Assignment.id == Notification.assignment_id)
            .where(Notification.state == "sent")
            .order_by(Notification.sent_at)
        ).all()
        for n, a in rows:
            assert n.sent_at is not None
            out[a.commitment_id].append((n.step, n.sent_at))
    return dict(out)

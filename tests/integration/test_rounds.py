"""Meeting rounds and the weekly digest through the outbox: planned once, sent once, right content."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from followup.daemon.services import Mailer, send_digest, tick
from followup.schedule.rounds import digest_key, due_round, plan_digest, plan_meeting_rounds
from followup.store.db import make_engine, migrate
from followup.store.models import Meeting, Notification
from tests.factories import make_assignment, make_commitment, make_contact, make_party, settings_for

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

MEETING = date(2026, 10, 26)  # a Monday


def test_due_round_is_the_latest_reached() -> None:
    assert due_round(MEETING, MEETING - timedelta(days=22), (21, 7)) is None
    assert due_round(MEETING, MEETING - timedelta(days=21), (21, 7)) == 21
    assert due_round(MEETING, MEETING - timedelta(days=10), (21, 7)) == 21
    assert due_round(MEETING, MEETING - timedelta(days=3), (21, 7)) == 7  # after downtime: only the latest
    assert due_round(MEETING, MEETING, (21, 7)) is None


async def test_rounds_and_digest(tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port)
    engine = make_engine(settings.database_url)
    migrate(engine)
    with Session(engine) as s:
        for code in ("HN", "SV", "CA"):
            make_party(s, code)
            make_contact(s, code, email=f"fp@{code.lower()}.example.org")
        s.add(Meeting(id="rcgm-x", kind="rcgm", title_en="RCGM meeting", title_es="Reunión del GRCM",
                      start_date=MEETING, end_date=MEETING + timedelta(days=2), place="San José"))  # fmt: skip
        make_commitment(
            s, "input", due_kind="meeting", due_meeting_kind="rcgm", due_offset_days=14, owners_all_members=True
        )
        make_assignment(s, "input", "HN", MEETING - timedelta(days=14), occurrence="rcgm-x", meeting_id="rcgm-x")
        make_assignment(s, "input", "SV", MEETING - timedelta(days=14), occurrence="rcgm-x", meeting_id="rcgm-x",
                        state="confirmed")  # fmt: skip
        s.commit()
    # 21 days before, 09:00 in Tegucigalpa: Honduras (open item) and the secretariat hear; El Salvador (done) does not.
    now = datetime(2026, 10, 5, 15, 0, tzinfo=UTC)
    assert plan_meeting_rounds(engine, settings, now) == 2
    assert plan_meeting_rounds(engine, settings, now) == 0  # planned once
    mailer = Mailer.create(engine, settings)
    await tick(mailer, now)
    msgs = [email.message_from_bytes(r.data, policy=email.policy.default) for r in smtp_server.handler.messages]
    rounds = [m for m in msgs if "GRCM" in str(m["Subject"]) or "RCGM" in str(m["Subject"])]
    hn = next(m for m in rounds if "fp@hn.example.org" in str(m["To"]))
    assert "Reunión del GRCM" in str(hn["Subject"])
    # The owner's round carries a calendar file: the meeting and the deadlines it lists.
    [ics] = [p for p in hn.walk() if p.get_content_type() == "text/calendar"]
    assert "UID:meeting-" in ics.get_content() and "UID:deadline-" in ics.get_content()
    secretariat = next(m for m in rounds if settings.secretariat.email in str(m["To"]))
    [attachment] = [p for p in secretariat.walk() if p.get_filename()]
    rows = list(csv.reader(io.StringIO(attachment.get_content().lstrip("\ufeff"))))
    assert rows[0][:3] == ["commitment", "title", "due_rule"] and "HN" in rows[0]
    # The tick rolled the all-members commitment out to Canada too, which then got its round.
    assert sorted(str(m["To"]).split("<")[1].rstrip(">") for m in rounds) == [
        "fp@ca.example.org",
        "fp@hn.example.org",
        settings.secretariat.email,
    ]
    assert not any("fp@sv" in str(m["To"]) for m in msgs)
    # 7 days before: the second round; nothing else twice.
    later = datetime(2026, 10, 19, 15, 0, tzinfo=UTC)
    assert plan_meeting_rounds(engine, settings, later) == 3
    # The weekly digest: once per ISO week, whoever asks.
    before = len(smtp_server.handler.messages)
    await send_digest(mailer, later)
    await send_digest(mailer, later + timedelta(days=2))
    digests = [m for m in smtp_server.handler.messages[before:] if b"Weekly digest" in m.data or b"digest" in m.data]
    assert len([m for m in digests if settings.secretariat.email in m.rcpt_tos]) >= 1
    with Session(engine) as s:
        keys = [n.dedupe_key for n in s.exec(select(Notification).where(Notification.kind == "digest"))]
    assert keys == [digest_key(later, settings.secretariat.timezone)]
    assert plan_digest(engine, settings, later) == 0
    await mailer.close()

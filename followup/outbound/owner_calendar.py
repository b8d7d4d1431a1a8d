"""An iCalendar feed of open deadlines (all, or one owner's) and recent meetings.

Shared by ``followup calendar`` and the web's per-owner feed URL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.clock import local_date
from followup.errors import NotFoundError
from followup.outbound.emails.lookup import extensions_granted
from followup.outbound.ics import calendar_feed, deadline_entry, meeting_entry
from followup.outbound.render import pick
from followup.outbound.tokens import reference_tag
from followup.settings import Settings
from followup.store.models import Assignment, Commitment, Meeting, Party
from followup.store.vocabulary import OPEN_STATES


def deadlines_feed(
    engine: Engine, settings: Settings, now: datetime, *, country: str | None, language: str | None, days: int
) -> tuple[bytes, int]:
    """The feed's bytes and how many events it holds."""
    today = local_date(now, settings.secretariat.timezone)
    tag, domain = settings.secretariat.tag, settings.mail.domain
    entries = []
    with Session(engine) as session:
        if country and session.get(Party, country) is None:
            raise NotFoundError(f"no country or organisation {country!r}")
        stmt = (
            select(Assignment, Commitment, Party)
            .join(Commitment, col(Commitment.id) == Assignment.commitment_id)
            .join(Party, col(Party.code) == Assignment.party_code)
            .where(
                col(Commitment.active),
                col(Assignment.state).in_(OPEN_STATES),
                Assignment.due_date <= today + timedelta(days=days),
            )
            .order_by(col(Assignment.due_date))
        )
        if country:
            stmt = stmt.where(Assignment.party_code == country)
        found = session.exec(stmt).all()
        # SEQUENCE rises with each extension, so calendars move the event instead of adding one.
        moved = extensions_granted(session, [a.id for a, _c, _p in found if a.id is not None])
        for assignment, commitment, party in found:
            lang = language or party.language
            assert assignment.id is not None
            entries.append(
                deadline_entry(
                    assignment_id=assignment.id,
                    due_date=assignment.due_date,
                    title=pick(lang, commitment.title_en, commitment.title_es),
                    reference=reference_tag(tag, assignment.id),
                    owner_name=pick(lang, party.name_en, party.name_es),
                    language=lang,
                    domain=domain,
                    sequence=moved.get(assignment.id, 0),
                )
            )
        lang = language or settings.secretariat.language
        for meeting in session.exec(select(Meeting).where(Meeting.end_date >= today - timedelta(days=30))).all():
            entries.append(
                meeting_entry(
                    meeting_id=meeting.id,
                    start_date=meeting.start_date,
                    end_date=meeting.end_date,
                    title=pick(lang, meeting.title_en, meeting.title_es),
                    place=meeting.place,
                    domain=domain,
                )
            )
    title = pick(language or settings.secretariat.language, f"{tag} deadlines", f"Plazos {tag}")
    feed = calendar_feed(entries, now=now, name=title + (f" — {country}" if country else ""))
    return feed, len(entries)

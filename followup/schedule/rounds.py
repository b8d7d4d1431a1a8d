"""Planning the secretariat's own emails: the weekly digest and the meeting rounds.

Both are planned into the outbox with a dedupe key that names the week or
the meeting and round, so a restart or a second daemon plans nothing twice;
the dispatcher renders them at send time from the database as it is then.

Meeting rounds: N days before each meeting of the configured kinds (default
21 and 7 days before each RCGM), every owner with open items due by that
meeting gets one email listing them, and the secretariat gets the status of
all owners. After downtime only the latest round still ahead of the meeting
is planned, never a burst of stale ones.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.clock import as_utc, local_date
from followup.schedule.planner import insert_planned, mail_instants, out_of_office
from followup.schedule.sendwindow import Recipient, SendWindow, local_day, next_window_start
from followup.settings import Settings
from followup.store.models import Assignment, Commitment, Contact, Meeting, Party
from followup.store.vocabulary import OPEN_STATES


def digest_key(now: datetime, zone: str) -> str:
    """One digest per ISO week in the secretariat's zone."""
    year, week, _ = local_date(now, zone).isocalendar()
    return f"digest:{year}-W{week:02d}"


def plan_digest(engine: Engine, settings: Settings, now: datetime) -> int:
    """Plan this week's digest for the secretariat (once per week, whatever runs it)."""
    row = _row(
        key=digest_key(now, settings.secretariat.timezone),
        kind="digest",
        recipient=settings.secretariat.email,
        scheduled_at=as_utc(now),
        payload={"language": settings.secretariat.language},
    )
    return insert_planned(engine, [row])


def due_round(meeting_start: date, today: date, round_days: tuple[int, ...]) -> int | None:
    """The round (days before the meeting) to send on ``today``, if any: the latest one reached."""
    if today >= meeting_start:
        return None
    reached = [n for n in round_days if meeting_start - timedelta(days=n) <= today]
    return min(reached) if reached else None


def plan_meeting_rounds(engine: Engine, settings: Settings, now: datetime) -> int:
    return insert_planned(engine, meeting_round_rows(engine, settings, now))


def meeting_round_rows(engine: Engine, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """The outbox rows of the meeting rounds due at ``now`` (already planned ones included: keys dedupe them)."""
    sched = settings.schedule
    if not sched.meeting_round_days or not sched.meeting_round_kinds:
        return []
    today = local_date(now, settings.secretariat.timezone)
    window = SendWindow.from_settings(sched)
    rows: list[dict[str, Any]] = []
    with Session(engine) as session:
        meetings = session.exec(
            select(Meeting)
            .where(col(Meeting.kind).in_(sched.meeting_round_kinds), Meeting.start_date > today)
            .order_by(col(Meeting.start_date))
        ).all()
        for meeting in meetings:
            days = due_round(meeting.start_date, today, sched.meeting_round_days)
            if days is None:
                continue
            owners = _owners_with_open_items(session, meeting.start_date, now)
            base = f"round:{meeting.id}:{days}"
            payload = {"meeting_id": meeting.id, "days": days}
            ids = [c.id for _, contacts in owners.values() for c in contacts if c.id is not None]
            mailed = mail_instants(session.connection(), ids, as_utc(now), planned_reminders=True)
            for party, contacts in owners.values():
                for contact in contacts:
                    assert contact.id is not None
                    recipient = Recipient(contact.timezone or party.timezone, party.holiday_country)
                    # One email per contact per day: a round waits a day rather than join a reminder.
                    busy = frozenset(local_day(at, recipient) for at in mailed.get(contact.id, ()))
                    rows.append(
                        _row(
                            key=f"{base}:c{contact.id}",
                            kind="meeting_round",
                            recipient=contact.email,
                            contact_id=contact.id,
                            scheduled_at=next_window_start(as_utc(now), recipient, window, avoid=busy),
                            payload={**payload, "party_code": party.code},
                        )
                    )
            rows.append(
                _row(
                    key=f"{base}:secretariat",
                    kind="meeting_round",
                    recipient=settings.secretariat.email,
                    scheduled_at=as_utc(now),
                    payload={**payload, "party_code": ""},
                )
            )
    return rows


def _owners_with_open_items(session: Session, by: date, now: datetime) -> dict[str, tuple[Party, list[Contact]]]:
    """Owners with open assignments due by ``by``, with the contacts to write to (not those out of office)."""
    # Owners as a subquery, not a list of codes: nothing here grows a statement with the data.
    owners = (
        select(Assignment.party_code)
        .join(Commitment, col(Commitment.id) == Assignment.commitment_id)
        .where(col(Commitment.active), col(Assignment.state).in_(OPEN_STATES), Assignment.due_date <= by)
        .distinct()
    )
    contacts: dict[str, list[Contact]] = defaultdict(list)
    for c in session.exec(
        select(Contact).where(col(Contact.party_code).in_(owners), col(Contact.active), Contact.address_state == "ok")
    ).all():
        contacts[c.party_code].append(c)
    if not contacts:
        return {}
    away = out_of_office(session.connection(), [c for found in contacts.values() for c in found], as_utc(now))
    out: dict[str, tuple[Party, list[Contact]]] = {}
    for party in session.exec(select(Party).where(col(Party.code).in_(owners), col(Party.active))).all():
        found = [c for c in contacts.get(party.code, []) if c.id not in away]
        primaries = [c for c in found if c.role == "primary"] or [c for c in found if c.role == "alternate"]
        if primaries:
            out[party.code] = (party, primaries)
    return out


def _row(
    *,
    key: str,
    kind: str,
    recipient: str,
    scheduled_at: datetime,
    payload: dict[str, Any],
    contact_id: int | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "dedupe_key": key,
        "kind": kind,
        "assignment_id": None,
        "contact_id": contact_id,
        "recipient": recipient,
        "step": "",
        "due_date": None,
        "scheduled_at": scheduled_at,
        "state": "planned",
        "attempts": 0,
        "last_error": "",
        "lease_owner": "",
        "created_at": created_at or scheduled_at,
        "payload": payload,
    }

"""The weekly digest for the secretariat: what is overdue, what is coming, what happened.

:func:`collect_digest` reads the database once per section and returns the
typed context the templates render; it never sends anything. Sending goes
through the outbox like every other email (see :mod:`followup.outbound.dispatch`), so
a digest is planned once per week whatever the number of daemons.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.clock import local_date
from followup.outbound.compose import Mailbox
from followup.outbound.emails.base import BuildContext, Draft
from followup.outbound.render import DigestContext, FailureView, PartyItems, SubmissionView, UnmatchedView
from followup.outbound.views import item_view, secretariat_view
from followup.schedule.reminder_rules import DeliveryGroup
from followup.settings import Settings
from followup.store.models import (
    OPEN_STATES,
    Assignment,
    Commitment,
    Contact,
    Event,
    InboundMatch,
    InboundMessage,
    Notification,
    Party,
)

PERIOD_DAYS = 7


def collect_digest(engine: Engine, settings: Settings, now: datetime) -> DigestContext:
    zone = settings.secretariat.timezone
    language = settings.secretariat.language
    tag = settings.secretariat.tag
    today = local_date(now, zone)
    since = now - timedelta(days=PERIOD_DAYS)
    horizon = today + timedelta(days=settings.digest.upcoming_days)
    with Session(engine) as session:
        open_rows = session.exec(
            select(Assignment, Commitment, Party)
            .join(Commitment, col(Commitment.id) == Assignment.commitment_id)
            .join(Party, col(Party.code) == Assignment.party_code)
            .where(col(Commitment.active), col(Assignment.state).in_(OPEN_STATES), Assignment.due_date <= horizon)
            .order_by(col(Assignment.due_date), col(Assignment.party_code))
        ).all()
        ids = [a.id for a, _c, _p in open_rows if a.id is not None]
        sent = _reminders_sent(session, ids)
        replies = _last_replies(session, ids)
        overdue: dict[str, list[object]] = defaultdict(list)
        names: dict[str, str] = {}
        upcoming = []
        for a, c, p in open_rows:
            assert a.id is not None
            view = item_view(
                a,
                c,
                p,
                language=language,
                today=today,
                tag=tag,
                reminders_sent=sent.get(a.id, 0),
                last_reply_on=replies.get(a.id),
            )
            if a.due_date < today:
                overdue[p.code].append(view)
                names[p.code] = view.owner_name
            else:
                upcoming.append(view)
        submissions = _submissions(session, since, language, today, tag, zone)
        failures = _failures(session, since, zone)
        unmatched = [
            UnmatchedView(
                inbound_id=m.id or 0,
                sender=m.sender,
                subject=m.subject,
                received_on=local_date(m.received_at or now, zone),
                intent=m.intent,
            )
            for m in session.exec(
                select(InboundMessage).where(InboundMessage.triage == "open").order_by(col(InboundMessage.id))
            ).all()
        ]
    by_party = [
        PartyItems(party_name=names[code], items=tuple(items))  # type: ignore[arg-type]
        for code, items in sorted(overdue.items(), key=lambda kv: (-len(kv[1]), names[kv[0]]))
    ]
    return DigestContext(
        secretariat=secretariat_view(settings, language),
        period_start=local_date(since, zone),
        period_end=today,
        overdue_by_party=tuple(by_party),
        upcoming=tuple(upcoming),
        upcoming_days=settings.digest.upcoming_days,
        submissions=tuple(submissions),
        failures=tuple(failures),
        unmatched=tuple(unmatched),
    )


def _reminders_sent(session: Session, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = session.exec(
        select(Notification.assignment_id, func.count())
        .where(col(Notification.assignment_id).in_(ids), Notification.state == "sent")
        .group_by(col(Notification.assignment_id))
    ).all()
    return {aid: n for aid, n in rows if aid is not None}


def _last_replies(session: Session, ids: list[int]) -> dict[int, date]:
    if not ids:
        return {}
    rows = session.exec(
        select(InboundMatch.assignment_id, func.max(InboundMessage.received_at))
        .join(InboundMessage, col(InboundMessage.id) == InboundMatch.inbound_id)
        .where(col(InboundMatch.assignment_id).in_(ids))
        .group_by(col(InboundMatch.assignment_id))
    ).all()
    return {aid: when.date() for aid, when in rows if when is not None}


def _submissions(
    session: Session, since: datetime, language: str, today: date, tag: str, zone: str
) -> list[SubmissionView]:
    rows = session.exec(
        select(Event, Assignment, Commitment, Party)
        .join(Assignment, col(Assignment.id) == Event.assignment_id)
        .join(Commitment, col(Commitment.id) == Assignment.commitment_id)
        .join(Party, col(Party.code) == Assignment.party_code)
        .where(col(Event.action).in_(("submitted", "confirmed")), Event.at >= since)
        .order_by(col(Event.at))
    ).all()
    return [
        SubmissionView(
            item=item_view(a, c, p, language=language, today=today, tag=tag),
            state=e.action,
            on=local_date(e.at, zone),
            by=e.actor,
        )
        for e, a, c, p in rows
    ]


def _failures(session: Session, since: datetime, zone: str) -> list[FailureView]:
    rows = session.exec(
        select(Notification, Contact)
        .join(Contact, col(Contact.id) == Notification.contact_id, isouter=True)
        .where(col(Notification.state).in_(("failed", "bounced")), Notification.scheduled_at >= since)
        .order_by(col(Notification.scheduled_at))
    ).all()
    return [
        FailureView(
            recipient=contact.email if contact is not None else n.recipient,
            reference=f"#{n.assignment_id}" if n.assignment_id else n.kind,
            kind=n.state,
            error=n.last_error,
            on=local_date(n.scheduled_at, zone),
        )
        for n, contact in rows
    ]


def build_digest(ctx: BuildContext, group: DeliveryGroup, now: datetime) -> Draft | None:
    """This week's digest for the secretariat; None when empty and ``digest.send_when_empty`` is off."""
    settings = ctx.settings
    context = collect_digest(ctx.engine, settings, now)
    if context.is_empty and not settings.digest.send_when_empty:
        return None
    language = ctx.language(settings.secretariat.language)
    rendered = ctx.renderer.render("digest", language, context)
    return Draft("digest", rendered, to=[Mailbox(settings.secretariat.email, settings.secretariat.name)])

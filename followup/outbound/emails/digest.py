"""The weekly digest for the secretariat: what is overdue, what is coming, what happened.

:func:`collect_digest` reads the database once per section and returns the
typed context the templates render; it never sends anything. Sending goes
through the outbox like every other email (see :mod:`followup.outbound.dispatch`), so
a digest is planned once per week whatever the number of daemons.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.clock import local_date
from followup.outbound.compose import Mailbox
from followup.outbound.emails.base import BuildContext, Draft
from followup.outbound.outbox import held_for_quota
from followup.outbound.render import (
    AwayView,
    DigestContext,
    FailureView,
    OwnerRow,
    PartyItems,
    RelayWaitView,
    SubmissionView,
    UnmatchedView,
)
from followup.outbound.views import item_view, party_name, secretariat_view
from followup.schedule.planner import out_of_office
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


def collect_digest(engine: Engine, settings: Settings, now: datetime, language: str | None = None) -> DigestContext:
    """Everything the digest says; titles and names in ``language`` (default: the secretariat's)."""
    zone = settings.secretariat.timezone
    language = language or settings.secretariat.language
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
        people = _people(session)
        submissions = _submissions(session, since, language, today, tag, zone, people)
        failures = _failures(session, since, zone)
        unmatched = [
            UnmatchedView(
                inbound_id=m.id or 0,
                sender=m.sender,
                subject=m.subject,
                received_on=local_date(m.received_at or now, zone),
                intent=m.intent,
                sender_name=people.get(m.sender.lower(), (m.sender_name, ""))[0] or m.sender_name,
                proposed_date=m.proposed_date,
            )
            for m in session.exec(
                select(InboundMessage).where(InboundMessage.triage == "open").order_by(col(InboundMessage.id))
            ).all()
        ]
        owners = _owner_rows(session, [(a, p) for a, _c, p in open_rows], today, language)
        away, unreachable = _away_and_unreachable(session, [p for _a, _c, p in open_rows], now, language)
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
        owners=tuple(owners),
        away=tuple(away),
        unreachable=tuple(unreachable),
        waiting_for_relay=_waiting_for_relay(engine, zone),
    )


def _waiting_for_relay(engine: Engine, zone: str) -> RelayWaitView | None:
    """What waits for the relay's quota: one line in the digest, so nobody wonders where the emails went."""
    held = held_for_quota(engine)
    if not held.count or held.oldest is None:
        return None
    return RelayWaitView(held.count, local_date(held.oldest, zone))


def _people(session: Session) -> dict[str, tuple[str, str]]:
    """Every contact's address -> (name, party code), so the digest names people, not addresses."""
    return {c.email.lower(): (c.name, c.party_code) for c in session.exec(select(Contact)).all()}


def _owner_rows(
    session: Session, open_items: list[tuple[Assignment, Party]], today: date, language: str
) -> list[OwnerRow]:
    """Overdue, due soon and awaiting confirmation, per owner: the table the digest opens with."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    parties: dict[str, Party] = {}
    for a, p in open_items:
        parties[p.code] = p
        counts[p.code][0 if a.due_date < today else 1] += 1
    waiting = session.exec(
        select(Assignment.party_code, func.count())
        .join(Commitment, col(Commitment.id) == Assignment.commitment_id)
        .where(col(Commitment.active), Assignment.state == "submitted")
        .group_by(col(Assignment.party_code))
    ).all()
    for code, n in waiting:
        counts[code][2] += n
    missing = sorted(set(counts) - parties.keys())
    if missing:
        for p in session.exec(select(Party).where(col(Party.code).in_(missing))).all():
            parties[p.code] = p
    rows = [
        OwnerRow(party_name(parties[code], language), *values) for code, values in counts.items() if code in parties
    ]
    return sorted(rows, key=lambda r: (-r.overdue, -r.due_soon, -r.awaiting, r.owner_name))


def _away_and_unreachable(
    session: Session, owners: list[Party], now: datetime, language: str
) -> tuple[list[AwayView], list[str]]:
    """Focal points paused by an out-of-office reply, and owners with open items and nobody to write to."""
    codes = sorted({p.code for p in owners})
    names = {p.code: party_name(p, language) for p in owners}
    contacts = session.exec(select(Contact).where(col(Contact.party_code).in_(codes), col(Contact.active))).all()
    back = out_of_office(session.connection(), contacts, now)
    away: list[AwayView] = []
    unreachable: list[str] = []
    for code in codes:
        mine = [c for c in contacts if c.party_code == code]
        working = [c for c in mine if c.address_state == "ok"]
        present = [c for c in working if c.id not in back]
        stand_in = next((c.name for c in present if c.role == "alternate"), "")
        for c in working:
            if c.id in back:
                away.append(AwayView(c.name, names[code], back[c.id], stand_in if c.role == "primary" else ""))
        if not working:
            unreachable.append(names[code])
    return away, unreachable


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
    session: Session, since: datetime, language: str, today: date, tag: str, zone: str,
    people: dict[str, tuple[str, str]],
) -> list[SubmissionView]:  # fmt: skip
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
            by=_who(e.actor, people, language),
        )
        for e, a, c, p in rows
    ]


def _who(actor: str, people: dict[str, tuple[str, str]], language: str) -> str:
    """A person for an event's actor: a reply's sender by name, the secretariat as such."""
    if actor.startswith("reply:"):
        address = actor.removeprefix("reply:")
        return people.get(address.lower(), (address, ""))[0]
    if actor in ("secretariat", "cli", "web"):
        return "la Secretaría" if language == "es" else "the secretariat"
    return actor


def _failures(session: Session, since: datetime, zone: str) -> list[FailureView]:
    rows = session.exec(
        select(Notification, Contact)
        .join(Contact, col(Contact.id) == Notification.contact_id, isouter=True)
        .where(col(Notification.state).in_(("failed", "bounced")), Notification.scheduled_at >= since)
        .order_by(col(Notification.scheduled_at))
    ).all()
    # "7 reminders to X bounced" rather than seven lines that say the same.
    grouped: dict[tuple[str, str, str], list[FailureView]] = defaultdict(list)
    for n, contact in rows:
        recipient = f"{contact.name} <{contact.email}>" if contact is not None else n.recipient
        view = FailureView(
            recipient=recipient,
            reference=f"#{n.assignment_id}" if n.assignment_id else n.kind,
            kind=n.kind,
            error=n.last_error or n.state,
            on=local_date(n.scheduled_at, zone),
        )
        grouped[(recipient, n.kind, n.last_error)].append(view)
    out = []
    for views in grouped.values():
        last = views[-1]
        references = ", ".join(dict.fromkeys(v.reference for v in views))
        out.append(replace(last, reference=references, count=len(views)))
    return out


def build_digest(ctx: BuildContext, group: DeliveryGroup, now: datetime) -> Draft | None:
    """This week's digest for the secretariat; None when empty and ``digest.send_when_empty`` is off."""
    settings = ctx.settings
    language = ctx.language(settings.secretariat.language)
    context = collect_digest(ctx.engine, settings, now, language)
    if context.is_empty and not settings.digest.send_when_empty:
        return None
    rendered = ctx.renderer.render("digest", language, context)
    return Draft("digest", rendered, to=[Mailbox(settings.secretariat.email, settings.secretariat.name)])

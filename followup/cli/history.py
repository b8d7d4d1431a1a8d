"""``followup history``: the audit trail of an assignment or a contact, in time order.

Three sources make one timeline: the outbox (every email sent, bounced or
failed: the sends themselves), the inbound messages matched to the items
(every reply, auto-reply and bounce) and the event log (every state change,
extension and cancellation, with who made it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click
from sqlalchemy import and_, func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.cli.context import app
from followup.cli.output import emit_rows, format_option
from followup.clock import parse_now
from followup.errors import NotFoundError, UsageError
from followup.store.models import Contact, Event, InboundMatch, InboundMessage, Notification

COLUMNS = ("at", "assignment", "what", "who", "detail")


@dataclass(frozen=True, order=True)
class Entry:
    """One line of the trail."""

    at: datetime
    assignment: int | None
    what: str
    who: str
    detail: str

    def row(self) -> tuple[str, str, str, str, str]:
        return (
            self.at.isoformat(timespec="seconds"),
            f"#{self.assignment}" if self.assignment else "",
            self.what,
            self.who,
            self.detail,
        )


def sent_entries(rows: Iterable[Notification]) -> list[Entry]:
    """Emails that left (or tried to): sent, bounced, failed."""
    out = []
    for n in rows:
        at = n.sent_at or n.next_attempt_at or n.scheduled_at
        detail = f"to {n.recipient}" + (f" ({n.step})" if n.step else "")
        if n.state != "sent":
            detail += f": {n.last_error}" if n.last_error else ""
        out.append(Entry(at, n.assignment_id, f"{n.kind} {n.state}", "dispatch", detail))
    return out


def reply_entries(rows: Iterable[tuple[InboundMessage, int | None]]) -> list[Entry]:
    """Messages received about the items, as the sender wrote them."""
    out = []
    for m, aid in rows:
        if m.received_at is None:
            continue
        kind = m.intent if m.classification == "human" else m.classification
        detail = f"«{m.subject}»" + (f", until {m.proposed_date.isoformat()}" if m.proposed_date else "")
        if m.triage == "open":
            detail += ", waiting in triage"
        who = f"{m.sender_name} <{m.sender}>" if m.sender_name else m.sender
        out.append(Entry(m.received_at, aid, f"reply #{m.id}: {kind}", who, detail))
    return out


def event_entries(rows: Iterable[Event]) -> list[Entry]:
    """State changes and everything else the event log holds, with who made them."""
    out = []
    for e in rows:
        details = {k: v for k, v in e.details.items() if v not in (None, "", [], {})}
        detail = ", ".join(f"{k}={v}" for k, v in sorted(details.items()))
        out.append(Entry(e.at, e.assignment_id, e.action, e.actor, detail[:300]))
    return out


def timeline(*parts: Sequence[Entry]) -> list[Entry]:
    """Every entry, oldest first."""
    return sorted(entry for part in parts for entry in part)


def collect(engine: Engine, *, assignment_id: int | None, contact: str | None, since: datetime | None) -> list[Entry]:
    """The trail for one assignment, one contact (key or email address), or both."""
    with Session(engine) as session:
        email, contact_id = None, None
        if contact:
            found = session.exec(
                select(Contact).where(or_(col(Contact.key) == contact, func.lower(Contact.email) == contact.lower()))
            ).first()
            if found is None:
                raise NotFoundError(f"no contact {contact!r}: give its id from the data files or its email address")
            email, contact_id = found.email.lower(), found.id
        sent = select(Notification).where(col(Notification.state).in_(("sent", "bounced", "failed")))
        replies = select(InboundMessage, InboundMatch.assignment_id).join(
            InboundMatch, col(InboundMatch.inbound_id) == InboundMessage.id, isouter=True
        )
        events = select(Event)
        if assignment_id is not None:
            sent = sent.where(Notification.assignment_id == assignment_id)
            replies = replies.where(InboundMatch.assignment_id == assignment_id)
            events = events.where(Event.assignment_id == assignment_id)
        if email is not None:
            sent = sent.where(
                or_(col(Notification.contact_id) == contact_id, col(Notification.recipient_lower) == email)
            )
            replies = replies.where(col(InboundMessage.sender_lower) == email)
            about_contact = and_(col(Event.entity) == "contact", col(Event.entity_id) == contact)
            events = events.where(or_(col(Event.actor).ilike(f"%{email}%"), about_contact))
        if since is not None:
            sent = sent.where(Notification.scheduled_at >= since)
            replies = replies.where(col(InboundMessage.received_at) >= since)
            events = events.where(Event.at >= since)
        return timeline(
            sent_entries(session.exec(sent).all()),
            reply_entries(session.exec(replies).all()),
            event_entries(session.exec(events).all()),
        )


@click.command(name="history")
@click.option("--assignment", "assignment_id", type=int, help="One assignment's trail (the #N of 'followup status').")
@click.option("--contact", help="One contact's trail: its id in the data files, or its email address.")
@click.option("--since", help="Only from this date or instant on (ISO-8601; a bare date: midnight, secretariat zone).")
@format_option
def history_command(assignment_id: int | None, contact: str | None, since: str | None, fmt: str) -> None:
    """Every email sent, reply received and state change, and who made it, oldest first."""
    if assignment_id is None and not contact:
        raise UsageError("say whose history: --assignment N and/or --contact KEY")
    a = app()
    try:
        start = parse_now(since, a.settings.secretariat.timezone) if since else None
    except UsageError:
        raise UsageError(f"--since {since!r} is not an ISO-8601 date or datetime (e.g. 2026-08-15)") from None
    entries = collect(a.engine(), assignment_id=assignment_id, contact=contact, since=start)
    title = " ".join(p for p in (f"#{assignment_id}" if assignment_id else "", contact or "") if p)
    rows: list[Any] = [e.row() for e in entries]
    emit_rows(fmt, COLUMNS, rows, title=f"History of {title}")


commands = [history_command]

"""Reminder, due, overdue and escalation emails: one contact's open items, merged into one email."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session, col, select

from followup.errors import PermanentDeliveryError
from followup.outbound.compose import Mailbox, calendar_attachment
from followup.outbound.emails.base import BuildContext, Draft, deadline_entries
from followup.outbound.ics import calendar_feed
from followup.outbound.links import item_link
from followup.outbound.render import ItemView, ReminderContext, pick
from followup.outbound.views import item_view, salutation, secretariat_view
from followup.schedule.reminder_rules import DeliveryGroup
from followup.store.models import Contact
from followup.store.vocabulary import OPEN_STATES


def email_kind(kinds: Sequence[str]) -> str:
    """The template for a merged email: its items' kind when they share one.

    Items at different stages (one due today, one in two weeks) go in the
    neutral reminder, whose items each state their own deadline; an
    escalation keeps its wording (and its copies) whatever rides along.
    """
    distinct = set(kinds)
    if len(distinct) == 1:
        return kinds[0]
    return "escalation" if "escalation" in distinct else "reminder"


def build_reminder(ctx: BuildContext, group: DeliveryGroup, now: datetime) -> Draft | None:
    """The email for a contact's due reminder steps; None when every item was resolved meanwhile."""
    rows = ctx.rows
    settings = ctx.settings
    contact = rows.contact(group.contact_id)
    if contact is None:
        raise PermanentDeliveryError(f"contact {group.contact_id} no longer exists")
    party = rows.party(contact.party_code)
    language = ctx.language(contact.language, party.language)
    today = group.local_date
    kinds = {r.assignment_id: r.kind for r in group.items}
    sent_before = rows.reminders_sent(a for a in kinds if a is not None)
    items: list[ItemView] = []
    for row in group.items:
        assignment = rows.assignment(row.assignment_id)
        if assignment is None or assignment.state not in OPEN_STATES or assignment.id is None:
            continue
        commitment = rows.commitment(assignment.commitment_id)
        owner = rows.party(assignment.party_code)
        view = item_view(
            assignment,
            commitment,
            owner,
            language=language,
            today=today,
            tag=settings.secretariat.tag,
            reminders_sent=sent_before.get(assignment.id, 0),
            link=item_link(settings, assignment.id or 0, contact.id, assignment.original_due_date, assignment.due_date),
        )
        items.append(replace(view, escalated=row.kind == "escalation"))
    if not items:
        return None
    kind = email_kind([r.kind for r in group.items])
    # Escalated items first: the copies are about them.
    items.sort(key=lambda i: not i.escalated)
    number = max((i.reminders_sent for i in items if i.escalated or kind != "escalation"), default=0) + 1
    cc = [Mailbox(address) for address in group.cc]
    entries = deadline_entries(ctx, items, language)
    context = ReminderContext(
        recipient_name=contact.name,
        salutation=salutation(contact, language),
        items=tuple(items),
        secretariat=secretariat_view(settings, language),
        reminder_number=number,
        copied_to=tuple(copy_names(rows.session, [box.address for box in cc], settings.secretariat.email, language)),
        has_calendar=bool(entries),
    )
    rendered = ctx.renderer.render(kind, language, context)
    attachments = []
    if entries:
        ics = calendar_feed(entries, now=now, name=pick(language, "Deadlines", "Plazos"))
        name = pick(language, "deadline", "plazo") + ("s" if len(entries) > 1 else "") + ".ics"
        attachments.append(calendar_attachment(ics, name))
    return Draft(
        kind,
        rendered,
        to=[Mailbox(contact.email, contact.name)],
        cc=cc,
        assignment_ids=[i.assignment_id for i in items],
        attachments=attachments,
    )


_ROLES = {
    "en": {"alternate": "alternate focal point", "primary": "focal point"},
    "es": {"alternate": "punto focal alterno", "primary": "punto focal"},
}


def copy_names(session: Session, addresses: Sequence[str], secretariat_email: str, language: str) -> list[str]:
    """The people copied as a reader names them: "Luis Pérez (punto focal alterno)", never a bare address."""
    if not addresses:
        return []
    roles = _ROLES.get(language, _ROLES["en"])
    wanted = [a.lower() for a in addresses]
    known = {
        c.email.lower(): c for c in session.exec(select(Contact).where(col(Contact.email_lower).in_(wanted))).all()
    }
    names: list[str] = []
    for address in wanted:
        if address == secretariat_email.lower():
            names.append(pick(language, "the Technical Secretariat", "la Secretaría Técnica"))
            continue
        contact = known.get(address)
        if contact is None:
            names.append(address)
            continue
        role = roles.get(contact.role)
        names.append(f"{contact.name} ({role})" if role else contact.name)
    return names

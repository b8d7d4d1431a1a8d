"""Reminder, due, overdue and escalation emails: one contact's open items, merged into one email."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from followup.errors import PermanentDeliveryError
from followup.outbound.compose import Mailbox, calendar_attachment
from followup.outbound.emails.base import BuildContext, Draft
from followup.outbound.ics import calendar_feed, deadline_entry
from followup.outbound.links import item_link
from followup.outbound.render import ItemView, ReminderContext, pick
from followup.outbound.views import item_view, secretariat_view
from followup.schedule.reminder_rules import DeliveryGroup
from followup.store.models import OPEN_STATES


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
    items: list[ItemView] = []
    for row in group.items:
        assignment = rows.assignment(row.assignment_id)
        if assignment is None or assignment.state not in OPEN_STATES:
            continue
        commitment = rows.commitment(assignment.commitment_id)
        owner = rows.party(assignment.party_code)
        link = item_link(settings, assignment.id or 0, contact.id, assignment.original_due_date, assignment.due_date)
        items.append(
            item_view(
                assignment, commitment, owner, language=language, today=today, tag=settings.secretariat.tag, link=link
            )
        )
    if not items:
        return None
    kind = email_kind([r.kind for r in group.items])
    ordinal = max(int(r.payload.get("ordinal", 1) or 1) for r in group.items)
    cc = [Mailbox(address) for address in group.cc]
    entries = [
        deadline_entry(
            assignment_id=i.assignment_id,
            due_date=i.due_date,
            title=i.title,
            reference=i.reference,
            owner_name=i.owner_name,
            language=language,
            domain=settings.mail.domain,
            description=i.description,
        )
        for i in items
    ]
    context = ReminderContext(
        recipient_name=contact.name,
        items=tuple(items),
        secretariat=secretariat_view(settings, language),
        reminder_number=ordinal,
        copied_to=tuple(box.address for box in cc),
        has_calendar=True,
    )
    rendered = ctx.renderer.render(kind, language, context)
    ics = calendar_feed(entries, now=now, name=pick(language, "Deadlines", "Plazos"))
    return Draft(
        kind,
        rendered,
        to=[Mailbox(contact.email, contact.name)],
        cc=cc,
        assignment_ids=[i.assignment_id for i in items],
        attachments=[calendar_attachment(ics, "deadlines.ics" if len(items) > 1 else "deadline.ics")],
    )

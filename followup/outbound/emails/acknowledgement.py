"""The acknowledgement a focal point gets for a confirmation, an extension request or a question.

Planned by :func:`followup.inbound.ingest.plan_acknowledgements` (which
refuses anything that could loop or flood), built here at send time: it
thanks the sender, says what was recorded (or, for a confirmation that did
not say which items it covers, asks), and threads under their message
(``In-Reply-To``, ``Auto-Submitted: auto-replied``).
"""

from __future__ import annotations

from datetime import datetime

from followup.clock import local_date
from followup.outbound.compose import Mailbox
from followup.outbound.emails.base import BuildContext, Draft
from followup.outbound.render import AckContext
from followup.outbound.views import item_view, salutation, secretariat_view
from followup.schedule.reminder_rules import DeliveryGroup
from followup.store.models import InboundMessage


def build_acknowledgement(ctx: BuildContext, group: DeliveryGroup, now: datetime) -> Draft | None:
    """The thank-you for the reply the row names; None when the reply or its items are gone."""
    row = group.rows[0]
    settings = ctx.settings
    cache = ctx.rows
    inbound = cache.session.get(InboundMessage, int(row.payload.get("inbound_id", 0)))
    if inbound is None:
        return None
    contact = cache.contact(row.contact_id)
    party = cache.party(contact.party_code) if contact is not None else None
    language = ctx.language((contact.language or party.language) if contact is not None and party is not None else "en")
    today = local_date(now, settings.secretariat.timezone)
    items = []
    for aid in row.payload.get("assignment_ids", []):
        assignment = cache.assignment(int(aid))
        if assignment is None:
            continue
        commitment = cache.commitment(assignment.commitment_id)
        items.append(
            item_view(
                assignment,
                commitment,
                cache.party(assignment.party_code),
                language=language,
                today=today,
                tag=settings.secretariat.tag,
            )
        )
    if not items:
        return None
    context = AckContext(
        recipient_name=contact.name if contact is not None else inbound.sender_name or inbound.sender,
        intent=inbound.intent,
        items=tuple(items),
        secretariat=secretariat_view(settings, language),
        received_subject=inbound.subject,
        received_on=local_date(inbound.received_at or now, settings.secretariat.timezone),
        proposed_date=inbound.proposed_date,
        attachments=tuple(str(a.get("filename") or "") for a in inbound.attachments if a.get("filename")),
        ask_which=bool(row.payload.get("ask_which")),
        salutation=salutation(contact, language),
    )
    rendered = ctx.renderer.render("acknowledgement", language, context)
    to = [Mailbox(row.recipient, contact.name if contact is not None else inbound.sender_name)]
    return Draft(
        "acknowledgement",
        rendered,
        to=to,
        assignment_ids=[i.assignment_id for i in items],
        in_reply_to=str(row.payload.get("in_reply_to") or "") or None,
        references=[str(r) for r in row.payload.get("references", [])],
    )

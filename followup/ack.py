"""The acknowledgement a focal point gets for a confirming reply.

Planned by :func:`followup.ingest.plan_acknowledgement` (which refuses
anything that could loop or flood), built here at send time: it thanks the
sender, says what was recorded, and threads under their message
(``In-Reply-To``, ``Auto-Submitted: auto-replied``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from followup.clock import local_date
from followup.compose import Mailbox
from followup.models import InboundMessage
from followup.render import AckContext
from followup.views import item_view, secretariat_view

if TYPE_CHECKING:
    from followup.dispatch import Dispatcher, Outgoing, _Cache
    from followup.reminder_rules import DeliveryGroup


def build_acknowledgement(
    dispatcher: Dispatcher, group: DeliveryGroup, cache: _Cache, now: datetime
) -> Outgoing | None:
    row = group.rows[0]
    settings = dispatcher.settings
    inbound = cache.session.get(InboundMessage, int(row.payload.get("inbound_id", 0)))
    if inbound is None:
        return None
    contact = cache.contact(row.contact_id)
    party = cache.party(contact.party_code) if contact is not None else None
    language = dispatcher.language_override or (
        (contact.language or party.language) if contact is not None and party is not None else "en"
    )
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
    )
    rendered = dispatcher.renderer.render("acknowledgement", language, context)
    to = [Mailbox(row.recipient, contact.name if contact is not None else inbound.sender_name)]
    return dispatcher.compose_for(
        group,
        "acknowledgement",
        rendered,
        now,
        to=to,
        assignment_ids=[i.assignment_id for i in items],
        in_reply_to=str(row.payload.get("in_reply_to") or "") or None,
        references=[str(r) for r in row.payload.get("references", [])],
    )

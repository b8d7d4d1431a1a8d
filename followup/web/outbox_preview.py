"""An outbox row's email as its recipient will see it, built by the dispatcher's own code, never sent."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from followup.clock import local_date
from followup.errors import FollowupError
from followup.outbound.dispatch import Dispatcher
from followup.outbound.emails.lookup import RowCache
from followup.outbound.transports.base import BaseTransport, Refusals
from followup.schedule.policy import load_schedule_policies
from followup.schedule.reminder_rules import DeliveryGroup
from followup.settings import Settings
from followup.store.models import Contact, Notification, Party


class _NoTransport(BaseTransport):
    """A preview never sends."""

    async def send(self, sender: str, recipients: list[str], data: bytes) -> Refusals:
        raise RuntimeError("preview does not send")


async def preview_text(
    engine: Engine, settings: Settings, secret: bytes, row: Notification, now: datetime
) -> tuple[str, str, str]:
    """(subject, text body, error): the email for ``row`` as it would be built at ``now``."""
    dispatcher = Dispatcher(
        engine, settings, _NoTransport(), secret=secret, policies=load_schedule_policies(settings.schedule)
    )
    try:
        with Session(engine) as session:
            zone = settings.secretariat.timezone
            contact = session.get(Contact, row.contact_id) if row.contact_id is not None else None
            if contact is not None:
                party = session.get(Party, contact.party_code)
                zone = contact.timezone or (party.timezone if party is not None else zone)
            group = DeliveryGroup(row.contact_id, row.recipient, local_date(now, zone), (row,), (row,))
            built = dispatcher.build(group, RowCache(session), now)
    except (FollowupError, ValueError) as exc:
        return "", "", f"cannot be built now: {exc}"
    if built is None:
        return "", "", "nothing left to say: its items were resolved meanwhile"
    msg = email.message_from_bytes(built.message.data, policy=email.policy.default)
    text = ""
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            text = str(part.get_content())
            break
    return str(msg["Subject"] or ""), text, ""

"""What an email builder gets and what it gives back.

A builder turns outbox rows and the database as it is now into a
:class:`Draft`: what the email says and to whom. It never composes wire
bytes, stores anything or sends: the dispatcher does that for every kind
alike, so a new kind of email is one new builder and no change to sending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from followup.outbound.compose import Attachment, Mailbox
from followup.outbound.emails.lookup import RowCache
from followup.outbound.ics import CalendarEntry, deadline_entry
from followup.outbound.render import ItemView, Rendered, Renderer
from followup.settings import Settings


@dataclass(frozen=True)
class BuildContext:
    """Everything a builder may read: settings, templates and the batch's rows."""

    engine: Engine
    settings: Settings
    renderer: Renderer
    rows: RowCache
    #: Render in this language instead of the reader's (``followup preview --language``).
    language_override: str | None = None

    def language(self, *preferences: str | None) -> str:
        """The override when set, else the first preference given, else English."""
        return self.language_override or next((p for p in preferences if p), "en")


@dataclass(frozen=True)
class Draft:
    """One email's content and addressees, before composition."""

    kind: str
    rendered: Rendered
    to: Sequence[Mailbox]
    cc: Sequence[Mailbox] = ()
    assignment_ids: Sequence[int] = ()
    attachments: Sequence[Attachment] = ()
    in_reply_to: str | None = None
    references: Sequence[str] = field(default_factory=tuple)


def deadline_entries(ctx: BuildContext, items: Sequence[ItemView], language: str) -> list[CalendarEntry]:
    """Calendar events for the items still ahead (an email attaches no past events).

    SEQUENCE counts the extensions granted, so a calendar moves the event
    instead of adding a second one.
    """
    ahead = [i for i in items if not i.overdue]
    moved = ctx.rows.extensions_granted(i.assignment_id for i in ahead)
    return [
        deadline_entry(
            assignment_id=i.assignment_id,
            due_date=i.due_date,
            title=i.title,
            reference=i.reference,
            owner_name=i.owner_name,
            language=language,
            domain=ctx.settings.mail.domain,
            description=i.description,
            sequence=moved.get(i.assignment_id, 0),
        )
        for i in ahead
    ]

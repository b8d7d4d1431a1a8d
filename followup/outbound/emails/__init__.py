"""One builder per kind of email: rows and the database in, a :class:`~.base.Draft` out.

The dispatcher asks :func:`build_email` for a draft and knows nothing about
what any email says.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from followup.errors import PermanentDeliveryError
from followup.outbound.emails.acknowledgement import build_acknowledgement
from followup.outbound.emails.base import BuildContext, Draft
from followup.outbound.emails.digest import build_digest
from followup.outbound.emails.meeting_round import build_meeting_round
from followup.outbound.emails.reminder import build_reminder
from followup.schedule.reminder_rules import REMINDER_KINDS, DeliveryGroup

Builder = Callable[[BuildContext, DeliveryGroup, datetime], Draft | None]

BUILDERS: dict[str, Builder] = {
    **dict.fromkeys(REMINDER_KINDS, build_reminder),
    "digest": build_digest,
    "meeting_round": build_meeting_round,
    "acknowledgement": build_acknowledgement,
}


def build_email(ctx: BuildContext, group: DeliveryGroup, now: datetime) -> Draft | None:
    """The draft for ``group`` (named by its first row's kind); None when nothing is left to say."""
    kind = group.rows[0].kind
    builder = BUILDERS.get(kind)
    if builder is None:
        raise PermanentDeliveryError(f"no builder for notification kind {kind!r}")
    return builder(ctx, group, now)

"""Due rules to dated occurrences (pure).

A commitment's due rule says when something is owed; an occurrence is one
concrete deadline: the single date of a fixed rule, one per meeting for a
meeting-relative rule, one per period for a recurring rule. Recurring rules
are expanded up to a horizon so the table grows with time, not all at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from followup.clock import add_months

ONCE = "once"
RECURRING_HORIZON_DAYS = 92


@dataclass(frozen=True)
class Occurrence:
    key: str
    due: date
    meeting_id: str | None = None


class RuleLike(Protocol):
    """The due-rule columns of :class:`followup.store.models.Commitment`."""

    due_kind: str
    due_date: date | None
    due_meeting_kind: str | None
    due_meeting_id: str | None
    due_offset_days: int
    recurrence_months: int | None
    recurrence_anchor: date | None
    recurrence_until: date | None


class MeetingLike(Protocol):
    id: str
    kind: str
    start_date: date


def occurrences(rule: RuleLike, meetings: Iterable[MeetingLike], today: date) -> list[Occurrence]:
    """Every occurrence of ``rule`` known at ``today``, in date order."""
    if rule.due_kind == "date":
        return [Occurrence(ONCE, rule.due_date)] if rule.due_date else []
    if rule.due_kind == "meeting":
        before = timedelta(days=rule.due_offset_days)
        chosen = [
            m
            for m in meetings
            if (rule.due_meeting_id and m.id == rule.due_meeting_id)
            or (not rule.due_meeting_id and rule.due_meeting_kind and m.kind == rule.due_meeting_kind)
        ]
        return sorted((Occurrence(m.id, m.start_date - before, m.id) for m in chosen), key=lambda o: (o.due, o.key))
    if rule.due_kind == "recurring" and rule.recurrence_anchor and rule.recurrence_months:
        horizon = today + timedelta(days=RECURRING_HORIZON_DAYS)
        if rule.recurrence_until is not None:
            horizon = min(horizon, rule.recurrence_until)
        found: list[Occurrence] = []
        step = 0
        while True:
            due = add_months(rule.recurrence_anchor, step * rule.recurrence_months)
            if due > horizon:
                break
            found.append(Occurrence(due.isoformat(), due))
            step += 1
        return found
    return []

"""The status matrix (pure): commitments x owners, one cell each.

Overdue is derived here from the due date and ``today`` (a date in the
secretariat's zone); it is never stored. For commitments with several
occurrences (one per meeting, or recurring), a cell shows the occurrence that
matters now: the earliest one still open, else the latest one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from followup.store.models import OPEN_STATES

#: Open items due within this many days are shown as "due in N days".
SOON_DAYS = 30


@dataclass(frozen=True)
class Cell:
    #: One of: pending, due_soon, due_today, overdue, submitted, confirmed, waived, extended.
    code: str
    label: str
    assignment_id: int | None
    state: str
    due_date: date | None
    #: Days until the due date (negative: overdue), for open items.
    days: int | None
    replies: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "assignment_id": self.assignment_id,
            "code": self.code,
            "state": self.state,
            "label": self.label,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "days": self.days,
            "replies": self.replies,
        }


@dataclass(frozen=True)
class AssignmentView:
    """The few assignment fields the matrix needs (decoupled from the ORM)."""

    id: int
    commitment_id: str
    party_code: str
    occurrence: str
    state: str
    due_date: date
    replies: int = 0


def cell_for(view: AssignmentView, today: date) -> Cell:
    """What one assignment looks like on ``today``."""
    days = (view.due_date - today).days
    if view.state not in OPEN_STATES:
        return Cell(view.state, view.state, view.id, view.state, view.due_date, None, view.replies)
    prefix = "extended, " if view.state == "extended" else ""
    if days < 0:
        code, label = "overdue", f"{prefix}overdue {-days} day{'s' if days != -1 else ''}"
    elif days == 0:
        code, label = "due_today", f"{prefix}due today"
    elif days <= SOON_DAYS:
        code, label = "due_soon", f"{prefix}due in {days} day{'s' if days != 1 else ''}"
    else:
        code, label = ("extended", f"extended to {view.due_date.isoformat()}") if prefix else ("pending", "pending")
    return Cell(code, label, view.id, view.state, view.due_date, days, view.replies)


def current_occurrence(views: Sequence[AssignmentView]) -> AssignmentView:
    """The occurrence that matters now: earliest open one, else the latest."""
    open_views = [v for v in views if v.state in OPEN_STATES]
    if open_views:
        return min(open_views, key=lambda v: (v.due_date, v.occurrence))
    return max(views, key=lambda v: (v.due_date, v.occurrence))


@dataclass(frozen=True)
class Row:
    commitment_id: str
    title: str
    due_rule: str
    cells: dict[str, Cell]


@dataclass(frozen=True)
class Matrix:
    today: date
    owners: list[tuple[str, str]]
    rows: list[Row]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows:
            for cell in row.cells.values():
                out[cell.code] = out.get(cell.code, 0) + 1
        return out


def build_matrix(
    commitments: Iterable[tuple[str, str, str]],
    owners: Iterable[tuple[str, str]],
    views: Iterable[AssignmentView],
    today: date,
) -> Matrix:
    """Assemble the matrix from (id, title, due rule) rows, (code, name) owners and assignments."""
    grouped: dict[tuple[str, str], list[AssignmentView]] = {}
    for v in views:
        grouped.setdefault((v.commitment_id, v.party_code), []).append(v)
    used_owners = {owner for (_cid, owner) in grouped}
    owner_list = [(code, name) for code, name in owners if code in used_owners]
    rows = []
    for cid, title, rule in commitments:
        cells = {
            code: cell_for(current_occurrence(grouped[(cid, code)]), today)
            for code, _name in owner_list
            if (cid, code) in grouped
        }
        if cells:
            rows.append(Row(cid, title, rule, cells))
    return Matrix(today, owner_list, rows)


class RuleColumns(Protocol):
    """The due-rule columns of :class:`followup.store.models.Commitment`."""

    due_kind: str
    due_date: date | None
    due_precision: str
    due_meeting_kind: str | None
    due_meeting_id: str | None
    due_offset_days: int
    recurrence_months: int | None


def rule_text(c: RuleColumns) -> str:
    """:func:`describe_rule` for a commitment row."""
    return describe_rule(
        c.due_kind,
        c.due_date,
        c.due_precision,
        c.due_meeting_kind,
        c.due_meeting_id,
        c.due_offset_days,
        c.recurrence_months,
    )


def describe_rule(
    due_kind: str,
    due_date: date | None,
    precision: str,
    meeting_kind: str | None,
    meeting_id: str | None,
    offset: int,
    months: int | None,
) -> str:
    """A short human description of a due rule, for lists and the matrix."""
    if due_kind == "date" and due_date is not None:
        return f"by end of {due_date:%B %Y}" if precision == "month" else f"by {due_date.isoformat()}"
    if due_kind == "meeting":
        target = meeting_id or f"each {(meeting_kind or '').upper()} meeting"
        return f"{offset} days before {target}" if offset else f"at {target}"
    if due_kind == "recurring":
        return f"every {months} months"
    return due_kind

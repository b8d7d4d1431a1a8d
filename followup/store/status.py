"""The status matrix (pure): commitments x owners, one cell each.

Overdue is derived here from the due date and ``today`` (a date in the
secretariat's zone); it is never stored. For commitments with several
occurrences (one per meeting, or recurring), a cell shows the occurrence that
matters now: the earliest one still open, else the latest one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple, Protocol

from followup.store.vocabulary import OPEN_STATES

#: Open items due within this many days are shown as "due in N days".
SOON_DAYS = 30


class Cell(NamedTuple):
    """One matrix cell. A named tuple: the whole matrix makes a million of them, and a tuple is cheap to make."""

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
    code, label, days = cell_kind(view.state, view.due_date, today)
    return Cell(code, label, view.id, view.state, view.due_date, days, view.replies)


def cell_kind(state: str, due_date: date, today: date) -> tuple[str, str, int | None]:
    """A cell's code, label and days left, which depend only on the state and the due date."""
    days = (due_date - today).days
    if state not in OPEN_STATES:
        return state, state, None
    prefix = "extended, " if state == "extended" else ""
    if days < 0:
        return "overdue", f"{prefix}overdue {-days} day{'s' if days != -1 else ''}", days
    if days == 0:
        return "due_today", f"{prefix}due today", days
    if days <= SOON_DAYS:
        return "due_soon", f"{prefix}due in {days} day{'s' if days != 1 else ''}", days
    if prefix:
        return "extended", f"extended to {due_date.isoformat()}", days
    return "pending", "pending", days


class CellMaker:
    """:func:`cell_for` on raw column values, remembered per (state, due date).

    A million assignments share a few thousand (state, due date) pairs, so
    the whole matrix computes each label once. Due dates come as the driver
    gives them: ISO text from SQLite, ``date`` from PostgreSQL.
    """

    def __init__(self, today: date) -> None:
        self.today = today
        #: (state, raw due date) -> what :meth:`kind` says; read directly in the matrix's inner loop.
        self.kinds: dict[tuple[str, object], tuple[str, str, date, int | None]] = {}

    def kind(self, state: str, due: Any) -> tuple[str, str, date, int | None]:
        """(code, label, due date, days) for a state and a raw due date."""
        found = self.kinds.get((state, due))
        if found is None:
            day = due if isinstance(due, date) else date.fromisoformat(str(due))
            code, label, days = cell_kind(state, day, self.today)
            found = self.kinds[(state, due)] = (code, label, day, days)
        return found

    def cell(self, assignment_id: int, state: str, due: object, replies: int = 0) -> Cell:
        code, label, day, days = self.kind(state, due)
        return Cell(code, label, assignment_id, state, day, days, replies)


#: One assignment as the matrix query streams it: id, commitment, owner, occurrence, state, raw due date.
RawAssignment = tuple[int, str, str, str, str, Any]


def current_by_commitment(rows: Iterable[RawAssignment]) -> Iterator[tuple[str, list[RawAssignment]]]:
    """Each commitment with the current occurrence of each of its owners (see :func:`current_occurrence`).

    ``rows`` come ordered by (commitment, owner); any order within one pair.
    One commitment's rows are held at a time, so memory does not grow with
    the number of assignments. Raw due dates compare as dates do (ISO text
    or ``date``), so no row is converted before it is chosen. The loop is
    written for speed: it runs once per assignment.
    """
    commitment: str | None = None
    party: str | None = None
    picks: list[RawAssignment] = []
    last: RawAssignment | None = None
    more: list[RawAssignment] | None = None
    for row in rows:
        if row[2] == party and row[1] == commitment:
            if more is None:
                more = [last]  # type: ignore[list-item]
            more.append(row)
            continue
        if last is not None:
            picks.append(_current(more) if more else last)
            more = None
        last = row
        party = row[2]
        if row[1] != commitment:
            if commitment is not None:
                yield commitment, picks
                picks = []
            commitment = row[1]
    if last is not None:
        picks.append(_current(more) if more else last)
    if commitment is not None:
        yield commitment, picks


def _current(group: list[RawAssignment]) -> RawAssignment:
    open_rows = [r for r in group if r[4] in OPEN_STATES]
    if open_rows:
        return min(open_rows, key=lambda r: (r[5], r[3]))
    return max(group, key=lambda r: (r[5], r[3]))


class Tally:
    """The matrix's counts per cell code, added up as rows stream past (same order as :meth:`Matrix.counts`)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, row: Row) -> Row:
        counts = self.counts
        for cell in row.cells.values():
            counts[cell.code] = counts.get(cell.code, 0) + 1
        return row


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

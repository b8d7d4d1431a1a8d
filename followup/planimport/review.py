"""What a person should check before loading, and how the table shows it.

The extraction's own doubts (owner not stated, lead time assumed, ...) come
with each proposal; whether a deadline is already past depends on the day of
the import, so it is added here, from ``today``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from followup.planimport.extract import ImportResult, Proposal
from followup.store.dataset import DueRule, MeetingRecord

COLUMNS = ("id", "title", "owner", "due", "conf.", "needs review")


@dataclass(frozen=True)
class ReviewRow:
    id: str
    title: str
    owner: str
    due: str
    confidence: float
    review: tuple[str, ...]


def describe_due(rule: DueRule, meetings: dict[str, MeetingRecord] | None = None) -> str:
    """A due rule in a few words: "2006-08-15", "by end of 2006-11", "14 days before each RCGM"."""
    if rule.kind == "date" and rule.on is not None:
        return f"by end of {rule.on:%Y-%m}" if rule.precision == "month" else rule.on.isoformat()
    if rule.kind == "meeting" and rule.meeting_id:
        meeting = (meetings or {}).get(rule.meeting_id)
        when = f" ({meeting.start.isoformat()})" if meeting else ""
        before = f"{_days(rule.days_before)} before " if rule.days_before else "at "
        return f"{before}{rule.meeting_id}{when}"
    if rule.kind == "meeting" and rule.meeting_kind:
        kind = rule.meeting_kind.upper()
        return f"{_days(rule.days_before)} before each {kind}" if rule.days_before else f"at each {kind} meeting"
    if rule.kind == "recurring" and rule.every_months and rule.anchor is not None:
        until = f" until {rule.until.isoformat()}" if rule.until else ""
        return f"every {rule.every_months} months from {rule.anchor.isoformat()}{until}"
    return "?"


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def first_due(rule: DueRule, meetings: dict[str, MeetingRecord]) -> date | None:
    """The first deadline a rule sets, when it sets a fixed one."""
    if rule.kind == "date":
        return rule.on
    if rule.kind == "meeting" and rule.meeting_id and rule.meeting_id in meetings:
        return meetings[rule.meeting_id].start - timedelta(days=rule.days_before)
    if rule.kind == "recurring":
        return rule.anchor
    return None


def review_notes(proposal: Proposal, today: date, meetings: dict[str, MeetingRecord]) -> tuple[str, ...]:
    notes = list(proposal.notes)
    due = first_due(proposal.record.due, meetings)
    if due is not None and due < today:
        if proposal.record.due.kind == "recurring":
            notes.append(
                f"recurs since {due.isoformat()}, before today ({today.isoformat()}): past occurrences show as overdue"
            )
        else:
            notes.append(f"due {due.isoformat()} is past (today {today.isoformat()})")
    return tuple(notes)


def review_rows(result: ImportResult, today: date) -> list[ReviewRow]:
    meetings = {m.id: m for m in result.meetings}
    rows = []
    for proposal in result.commitments:
        record = proposal.record
        owner = "all members" if record.owners_all_members else ", ".join(record.owners)
        if owner != proposal.owner_label and proposal.owner_label not in ("(not stated)",):
            owner = f"{owner} ({proposal.owner_label})"
        rows.append(
            ReviewRow(
                record.id,
                record.title.en,
                owner,
                describe_due(record.due, meetings),
                proposal.confidence,
                review_notes(proposal, today, meetings),
            )
        )
    return rows


def needs_review(rows: list[ReviewRow]) -> int:
    return sum(1 for r in rows if r.review)

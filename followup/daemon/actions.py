"""State changes made by the secretariat: confirm, waive, extend, reopen.

Each change writes an event, and cancels the reminders still planned for the
assignment so nothing goes out after the decision. ``extend`` moves the due
date; the planner then plans the steps for the new date (steps keyed by the
old date are not sent again).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from followup.errors import NotFoundError, StateError
from followup.schedule.planner import cancel_for_assignment
from followup.store.events import record_event
from followup.store.models import Assignment
from followup.store.vocabulary import OPEN_STATES


def _get(session: Session, assignment_id: int) -> Assignment:
    row = session.get(Assignment, assignment_id)
    if row is None:
        raise NotFoundError(f"no assignment {assignment_id} (see 'followup status --format json' for ids)")
    return row


def set_state(
    engine: Engine, assignment_id: int, new_state: str, *, now: datetime, actor: str, note: str = "", **details: Any
) -> Assignment:
    """Move an assignment to confirmed, submitted or waived (``details`` go into the event, e.g. the channel)."""
    with Session(engine, expire_on_commit=False) as session:
        row = _get(session, assignment_id)
        if row.state == new_state:
            raise StateError(f"assignment {assignment_id} is already {new_state}")
        if new_state == "submitted" and row.state in ("confirmed", "waived"):
            raise StateError(f"assignment {assignment_id} is {row.state}; it cannot go back to submitted")
        old = row.state
        row.state = new_state
        row.state_changed_at = now
        if note:
            row.note = note
        session.add(row)
        cancelled = cancel_for_assignment(session, assignment_id, now)
        record_event(
            session,
            now,
            actor,
            new_state,
            assignment_id=assignment_id,
            previous=old,
            note=note,
            cancelled=cancelled,
            **details,
        )
        session.commit()
        return row


def extend(
    engine: Engine, assignment_id: int, new_due: date, *, now: datetime, actor: str, note: str = "", **details: Any
) -> Assignment:
    """Give an assignment a new due date; its reminders re-arm for that date."""
    with Session(engine, expire_on_commit=False) as session:
        row = _get(session, assignment_id)
        if row.state in ("confirmed", "waived"):
            raise StateError(f"assignment {assignment_id} is {row.state}; reopen it before extending")
        if new_due == row.due_date:
            raise StateError(f"assignment {assignment_id} is already due on {new_due.isoformat()}")
        old_due, old_state = row.due_date, row.state
        row.due_date = new_due
        row.state = "extended"
        row.state_changed_at = now
        row.extension_requested_to = None
        if note:
            row.note = note
        session.add(row)
        cancelled = cancel_for_assignment(session, assignment_id, now, reason="extended")
        record_event(
            session,
            now,
            actor,
            "extended",
            assignment_id=assignment_id,
            previous=old_state,
            old_due=old_due,
            new_due=new_due,
            note=note,
            cancelled=cancelled,
            **details,
        )
        session.commit()
        return row


def reopen(
    engine: Engine, assignment_id: int, *, now: datetime, actor: str, note: str = "", **details: Any
) -> Assignment:
    """Undo a decision: a submitted, confirmed or waived assignment is open again (pending, or extended)."""
    with Session(engine, expire_on_commit=False) as session:
        row = _get(session, assignment_id)
        if row.state in OPEN_STATES:
            raise StateError(f"assignment {assignment_id} is already open ({row.state})")
        old = row.state
        row.state = "extended" if row.due_date != row.original_due_date else "pending"
        row.state_changed_at = now
        if note:
            row.note = note
        session.add(row)
        record_event(session, now, actor, "reopened", assignment_id=assignment_id, previous=old, note=note, **details)
        session.commit()
        return row

"""Triage decisions on inbound messages: attach one to an assignment, or dismiss it.

Shared by ``followup replies assign|dismiss`` and the web triage page.
State changes stay separate decisions (confirm, extend).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.errors import NotFoundError, StateError
from followup.store.events import record_event
from followup.store.models import Assignment, InboundMatch, InboundMessage


def get_message(session: Session, message: int) -> InboundMessage:
    m = session.get(InboundMessage, message)
    if m is None:
        total = session.exec(select(func.count()).select_from(InboundMessage)).one()
        raise NotFoundError(f"no inbound message {message} ({total} stored; see 'followup replies')")
    return m


def assign_message(engine: Engine, message: int, assignment: int, *, now: datetime, actor: str, **details: Any) -> None:
    """Attach a message waiting in triage to an assignment."""
    with Session(engine) as session:
        m = get_message(session, message)
        if session.get(Assignment, assignment) is None:
            raise NotFoundError(f"no assignment {assignment}")
        if session.get(InboundMatch, (message, assignment)) is None:
            session.add(InboundMatch(inbound_id=message, assignment_id=assignment))
        m.triage = "assigned"
        m.match_method = m.match_method or "manual"
        session.add(m)
        record_event(session, now, actor, "reply-assigned", assignment_id=assignment, inbound_id=message, **details)
        session.commit()


def dismiss_message(engine: Engine, message: int, *, now: datetime, actor: str, note: str = "", **details: Any) -> None:
    """Take a message out of triage without attaching it to anything."""
    with Session(engine) as session:
        m = get_message(session, message)
        if m.triage == "dismissed":
            raise StateError(f"message {message} is already dismissed")
        m.triage = "dismissed"
        session.add(m)
        record_event(
            session, now, actor, "reply-dismissed", entity="inbound", entity_id=str(message), note=note, **details
        )
        session.commit()

"""Triage decisions on inbound messages: attach one to an assignment, grant or refuse an extension, dismiss.

Shared by ``followup replies assign|grant|refuse|dismiss`` and the web
triage page. Attaching a message decides nothing about the item's state
(confirm, extend stay separate decisions); an extension request stays in
triage once attached, until it is granted or refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.daemon.actions import extend
from followup.errors import NotFoundError, StateError, UsageError
from followup.inbound.archive import archive_replies
from followup.settings import Settings
from followup.store.events import record_event
from followup.store.models import Assignment, InboundMatch, InboundMessage


def get_message(session: Session, message: int) -> InboundMessage:
    m = session.get(InboundMessage, message)
    if m is None:
        total = session.exec(select(func.count()).select_from(InboundMessage)).one()
        raise NotFoundError(f"no inbound message {message} ({total} stored; see 'followup replies')")
    return m


def _asks_for_time(m: InboundMessage) -> bool:
    return m.intent == "extension" and m.proposed_date is not None


def assign_message(
    engine: Engine, settings: Settings, message: int, assignment: int, *, now: datetime, actor: str, **details: Any
) -> None:
    """Attach a message waiting in triage to an assignment, and archive its attachments for that item.

    The secretariat's choice vouches for the message, so its files join the
    archive even when the sender was not recognised. An extension request
    also records the date asked on the item and stays in triage for the
    decision.
    """
    with Session(engine) as session:
        m = get_message(session, message)
        row = session.get(Assignment, assignment)
        if row is None:
            raise NotFoundError(f"no assignment {assignment}")
        if m.triage == "dismissed":
            raise StateError(f"message {message} is dismissed; it cannot be attached any more")
        if session.get(InboundMatch, (message, assignment)) is None:
            session.add(InboundMatch(inbound_id=message, assignment_id=assignment))
        m.match_method = m.match_method or "manual"
        if _asks_for_time(m):
            row.extension_requested_to = m.proposed_date
            session.add(row)
        else:
            m.triage = "assigned"
        session.add(m)
        record_event(session, now, actor, "reply-assigned", assignment_id=assignment, inbound_id=message, **details)
        session.commit()
        has_files = bool(m.attachments)
    if has_files:
        archive_replies(engine, settings, [message], now, vouched=True)


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


def _extension_request(session: Session, message: int) -> tuple[InboundMessage, list[Assignment]]:
    """The open extension request and the items it is attached to, or why it cannot be decided."""
    m = get_message(session, message)
    if not _asks_for_time(m):
        raise UsageError(f"message {message} asks for no new date")
    if m.triage != "open":
        raise StateError(f"message {message} was already decided ({m.triage})")
    ids = session.exec(select(InboundMatch.assignment_id).where(InboundMatch.inbound_id == message)).all()
    rows = [a for a in (session.get(Assignment, aid) for aid in sorted(ids)) if a is not None]
    if not rows:
        raise StateError(f"message {message} is not attached to an item: assign it first")
    return m, rows


def grant_extension(
    engine: Engine, message: int, *, now: datetime, actor: str, note: str = "", **details: Any
) -> list[int]:
    """Extend every item the request is attached to until the date it asks, and close it; return the items.

    Every item is checked before any changes, so a request covering an item
    already confirmed changes none of them.
    """
    with Session(engine) as session:
        m, rows = _extension_request(session, message)
        until = m.proposed_date
        assert until is not None
        for row in rows:
            if row.state in ("confirmed", "waived"):
                raise StateError(f"assignment {row.id} is {row.state}; reopen it before extending")
        ids = [row.id for row in rows if row.id is not None and row.due_date != until]
    for aid in ids:
        extend(engine, aid, until, now=now, actor=actor, note=note, inbound_id=message, **details)
    _close(engine, message, "granted", now=now, actor=actor, note=note, **details)
    return ids


def refuse_extension(
    engine: Engine, message: int, *, now: datetime, actor: str, note: str = "", **details: Any
) -> list[int]:
    """Refuse the request: the items keep their due date and no longer show the date asked; return the items."""
    with Session(engine) as session:
        m, rows = _extension_request(session, message)
        ids: list[int] = []
        for row in rows:
            assert row.id is not None
            if row.extension_requested_to == m.proposed_date:  # a later request for another date stays
                row.extension_requested_to = None
                session.add(row)
            record_event(
                session, now, actor, "extension-refused", assignment_id=row.id, inbound_id=message, note=note,
                proposed=m.proposed_date, **details,
            )  # fmt: skip
            ids.append(row.id)
        session.commit()
    _close(engine, message, "refused", now=now, actor=actor, note=note, **details)
    return ids


def _close(
    engine: Engine, message: int, decision: str, *, now: datetime, actor: str, note: str, **details: Any
) -> None:
    """The request is dealt with: out of triage, still attached to its items."""
    with Session(engine) as session:
        m = get_message(session, message)
        m.triage = "assigned"
        session.add(m)
        record_event(
            session, now, actor, "reply-decided", entity="inbound", entity_id=str(message), decision=decision,
            note=note, **details,
        )  # fmt: skip
        session.commit()

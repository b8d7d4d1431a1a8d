"""The audit trail: one helper so every state change is logged the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from followup.store.models import Event


def record_event(
    session: Session,
    now: datetime,
    actor: str,
    action: str,
    *,
    assignment_id: int | None = None,
    entity: str = "",
    entity_id: str = "",
    **details: Any,
) -> Event:
    """Add an Event row to ``session`` (committed with the change it describes)."""
    event = Event(
        at=now,
        actor=actor,
        action=action,
        assignment_id=assignment_id,
        entity=entity,
        entity_id=entity_id,
        details={k: jsonable(v) for k, v in details.items()},
    )
    session.add(event)
    return event


def jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)

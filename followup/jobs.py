"""The daemon's job bodies, and how they are scheduled from the settings.

Each body does one unit of work against the database and returns; the
daemon decides when. Blocking database work runs in a worker thread so the
event loop (and SMTP/IMAP I/O) keeps moving.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.engine import Engine
from sqlmodel import Session

from followup.assignments import sync_assignments
from followup.clock import Clock, local_date
from followup.daemon import JobSpec, interval
from followup.settings import Settings

log = logging.getLogger("followup.jobs")


def sync(engine: Engine, settings: Settings, clock: Clock) -> int:
    """Roll recurring and meeting-relative occurrences forward."""
    now = clock.now()
    with Session(engine) as session:
        result = sync_assignments(session, local_date(now, settings.secretariat.timezone), now)
        session.commit()
    if result.created:
        log.info("%d new assignment(s)", result.created, extra={"event": "assignments.created"})
    return result.created


def build_jobs(engine: Engine, settings: Settings, clock: Clock) -> list[JobSpec]:
    async def dispatch() -> None:
        await asyncio.to_thread(sync, engine, settings, clock)

    return [
        JobSpec(
            "dispatch",
            dispatch,
            interval(settings.schedule.tick_seconds, start_now=True, clock=clock),
            f"dispatch tick every {settings.schedule.tick_seconds}s",
        ),
    ]

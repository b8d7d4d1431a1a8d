"""One-shot units of work shared by the CLI (``followup tick``) and the daemon's jobs.

Each function takes the clock's ``now``: the daemon passes the real time,
tests and ``--now`` pass any instant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from followup.clock import Clock, local_date
from followup.outbound.dispatch import Dispatcher, TickResult
from followup.outbound.signing import signing_key
from followup.outbound.transports import make_transport
from followup.outbound.transports.base import Transport
from followup.schedule.assignments import sync_assignments
from followup.schedule.policy import load_schedule_policies
from followup.schedule.rounds import plan_digest, plan_meeting_rounds
from followup.settings import Settings

log = logging.getLogger("followup.services")
#: Due rules whose occurrences appear with time; fixed dates change only when data is loaded.
ROLLING_KINDS = ("meeting", "recurring")


@dataclass
class Mailer:
    """What sending needs, built once per process from the settings."""

    engine: Engine
    settings: Settings
    transport: Transport
    dispatcher: Dispatcher

    @classmethod
    def create(
        cls, engine: Engine, settings: Settings, transport: Transport | None = None, *, lease_clock: Clock | None = None
    ) -> Mailer:
        """``lease_clock`` is the real time for outbox leases (the CLI's clock), whatever instant is planned for."""
        transport = transport or make_transport(settings)
        dispatcher = Dispatcher(
            engine,
            settings,
            transport,
            secret=signing_key(settings),
            policies=load_schedule_policies(settings.schedule),
            lease_clock=lease_clock,
        )
        return cls(engine, settings, transport, dispatcher)

    async def close(self) -> None:
        await self.transport.close()


def sync(engine: Engine, settings: Settings, now: datetime) -> int:
    """Roll recurring and meeting-relative occurrences forward (new meetings, new periods)."""
    with Session(engine) as session:
        result = sync_assignments(session, local_date(now, settings.secretariat.timezone), now, kinds=ROLLING_KINDS)
        session.commit()
    if result.created:
        log.info("%d new assignment(s)", result.created, extra={"event": "assignments.created"})
    return result.created


async def tick(mailer: Mailer, now: datetime, *, dry_run: bool = False) -> TickResult:
    """Everything due at ``now``: new occurrences, meeting rounds, reminders; then send."""
    if not dry_run:
        sync(mailer.engine, mailer.settings, now)
        plan_meeting_rounds(mailer.engine, mailer.settings, now)
    return await mailer.dispatcher.tick(now, dry_run=dry_run)


async def send_digest(mailer: Mailer, now: datetime) -> TickResult:
    """Plan this week's digest (once per week) and send what is due."""
    plan_digest(mailer.engine, mailer.settings, now)
    return await mailer.dispatcher.tick(now)

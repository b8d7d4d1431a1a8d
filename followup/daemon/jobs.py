"""The daemon's jobs, built from the settings at every start.

- dispatch: every ``schedule.tick_seconds``, plan the reminder steps due and
  send what the outbox holds (cost proportional to what is due);
- occurrences: hourly, roll recurring and meeting-relative commitments
  forward and plan the meeting rounds that have come due;
- digest: weekly, on ``schedule.digest_day`` at ``digest_hour`` in the
  secretariat's zone;
- inbox: every ``imap.poll_seconds`` when an IMAP host is configured.

Blocking database work runs in a worker thread so SMTP and IMAP I/O keep
moving on the event loop.
"""

from __future__ import annotations

import asyncio
import logging

from followup.clock import Clock
from followup.daemon.lifecycle import JobFn, JobSpec, interval, weekly
from followup.daemon.services import Mailer, send_digest, sync
from followup.schedule.rounds import plan_meeting_rounds

log = logging.getLogger("followup.jobs")

InboxPoll = JobFn


def build_jobs(mailer: Mailer, clock: Clock, inbox_poll: InboxPoll | None = None) -> list[JobSpec]:
    settings = mailer.settings
    sched = settings.schedule

    async def dispatch() -> None:
        result = await mailer.dispatcher.tick(clock.now())
        if result.sent or result.failed or result.retrying:
            log.info(
                "tick: %d sent, %d failed, %d to retry",
                result.sent,
                result.failed,
                result.retrying,
                extra={"event": "tick.done", "sent": result.sent, "failed": result.failed},
            )

    async def occurrences() -> None:
        now = clock.now()
        await asyncio.to_thread(sync, mailer.engine, settings, now)
        await asyncio.to_thread(plan_meeting_rounds, mailer.engine, settings, now)

    async def digest() -> None:
        await send_digest(mailer, clock.now())

    jobs = [
        JobSpec(
            "occurrences",
            occurrences,
            interval(3600, start_now=True, clock=clock),
            "roll occurrences forward and plan meeting rounds, hourly",
        ),
        JobSpec(
            "dispatch",
            dispatch,
            interval(sched.tick_seconds, start_now=True, clock=clock),
            f"plan and send reminders every {sched.tick_seconds}s",
        ),
        JobSpec(
            "digest",
            digest,
            weekly(sched.digest_day, sched.digest_hour, settings.secretariat.timezone),
            f"weekly digest, {sched.digest_day} {sched.digest_hour:02d}:00 {settings.secretariat.timezone}",
        ),
    ]
    if inbox_poll is not None:
        jobs.append(
            JobSpec(
                "inbox",
                inbox_poll,
                interval(settings.imap.poll_seconds, start_now=True, clock=clock),
                f"poll {settings.imap.host} {settings.imap.folder} every {settings.imap.poll_seconds}s",
            )
        )
    return jobs

"""The daemon: APScheduler wakes work up; the database says what work there is.

Jobs are rebuilt from configuration at every start and kept in memory, so a
restart, a crash or a second replica loses and duplicates nothing: each job
reads what is due from the database and claims it before acting.

Stopping (SIGINT/SIGTERM): ``on_stopping`` runs at once (the dispatcher
stops claiming and starting SMTP transactions), running jobs get
``stop_timeout`` seconds to finish what is in flight, a job still running
then is cancelled (it hands back its claims on the way out), ``on_stop``
closes the rest, and the process exits 0 with no row left ``sending``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from followup.clock import Clock
from followup.settings import Settings

log = logging.getLogger("followup.daemon")

JobFn = Callable[[], Coroutine[Any, Any, object]]


@dataclass
class JobSpec:
    """One scheduled job: what to run and when (an APScheduler trigger)."""

    id: str
    func: JobFn
    trigger: object
    description: str


@dataclass
class Daemon:
    settings: Settings
    clock: Clock
    jobs: list[JobSpec]
    on_stop: Callable[[], Awaitable[None]] | None = None
    #: Called as soon as a stop is asked for (from the signal handler): stop taking new work.
    on_stopping: Callable[[], None] | None = None
    #: Seconds running jobs get to finish once a stop is asked; None: ``schedule.stop_timeout_seconds``.
    stop_timeout: float | None = None
    _inflight: set[asyncio.Task[object]] = field(default_factory=set)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def _stop_timeout(self) -> float:
        return self.settings.schedule.stop_timeout_seconds if self.stop_timeout is None else self.stop_timeout

    def _wrap(self, spec: JobSpec) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self._stopping.is_set():
                return
            task: asyncio.Task[object] = asyncio.create_task(spec.func(), name=spec.id)
            self._inflight.add(task)
            task.add_done_callback(lambda done: self._finished(spec, done))
            # Shielded: APScheduler cancels the jobs it runs when it shuts down; a job in the middle
            # of sending must instead be stopped (Dispatcher.stop) and given stop_timeout to finish.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(task)

        return run

    def _finished(self, spec: JobSpec, task: asyncio.Task[object]) -> None:
        self._inflight.discard(task)
        if task.cancelled():
            # Cut short by the stop timeout; the job released its claims on the way out.
            log.warning("job %s cancelled at shutdown", spec.id, extra={"event": "job.cancelled", "job": spec.id})
            return
        exc = task.exception()
        if exc is not None:
            # A failing job must never take the daemon down; it runs again next time.
            log.error(
                "job %s failed",
                spec.id,
                exc_info=(type(exc), exc, exc.__traceback__),
                extra={"event": "job.failed", "job": spec.id},
            )

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self.on_stopping is not None:
            self.on_stopping()

    async def run(self) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        for spec in self.jobs:
            scheduler.add_job(
                self._wrap(spec),
                trigger=spec.trigger,
                id=spec.id,
                name=spec.description,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        scheduler.start()
        try:
            for job in scheduler.get_jobs():
                log.info(
                    "job %s: %s; next run %s",
                    job.id,
                    job.name,
                    job.next_run_time.isoformat() if job.next_run_time else "never",
                    extra={"event": "job.scheduled", "job": job.id},
                )
            log.info("daemon started with %d jobs", len(self.jobs), extra={"event": "daemon.started"})
            self.started.set()
            await self._stopping.wait()
        finally:
            scheduler.shutdown(wait=False)
            if self._inflight:
                log.info(
                    "waiting for %d running job(s) to finish", len(self._inflight), extra={"event": "daemon.draining"}
                )
                _done, pending = await asyncio.wait(set(self._inflight), timeout=self._stop_timeout)
                for task in pending:
                    task.cancel()
                if pending:
                    # Let the cancelled jobs run their cleanup (releasing claims) before we close.
                    await asyncio.wait(pending, timeout=10.0)
            if self.on_stop is not None:
                await self.on_stop()
            log.info("daemon stopped", extra={"event": "daemon.stopped"})


def interval(seconds: float, *, start_now: bool, clock: Clock) -> IntervalTrigger:
    """An interval trigger; ``start_now`` fires the first run immediately."""
    first = clock.now() + timedelta(milliseconds=10) if start_now else None
    return IntervalTrigger(seconds=seconds, start_date=first, timezone=UTC)


def weekly(day: str, hour: int, zone: str) -> CronTrigger:
    return CronTrigger(day_of_week=day, hour=hour, minute=0, timezone=zone)


def daily(hour: int, zone: str) -> CronTrigger:
    return CronTrigger(hour=hour, minute=5, timezone=zone)


def install_signal_handlers(daemon: Daemon) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, daemon.stop)

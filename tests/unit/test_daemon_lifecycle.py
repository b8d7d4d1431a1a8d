"""Stopping the daemon: running jobs are stopped and waited for, not cancelled by the scheduler (issue 9)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from followup.clock import FixedClock, SystemClock
from followup.daemon.lifecycle import Daemon, JobSpec, interval
from followup.settings import Settings


def _daemon(job: JobSpec, stop_timeout: float = 10.0) -> Daemon:
    return Daemon(Settings(), FixedClock(datetime(2026, 8, 3, tzinfo=UTC)), [job], stop_timeout=stop_timeout)


async def test_stop_lets_a_running_job_finish_and_tells_it_to_stop_first() -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    outcome: list[str] = []

    async def sending() -> None:
        entered.set()
        try:
            await release.wait()
            outcome.append("finished")
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    daemon = _daemon(JobSpec("dispatch", sending, interval(3600, start_now=True, clock=SystemClock()), "test"))
    daemon.on_stopping = lambda: (outcome.append("stopping"), release.set())[0]  # type: ignore[func-returns-value]
    running = asyncio.create_task(daemon.run())
    await asyncio.wait_for(entered.wait(), 30)
    daemon.stop()
    daemon.stop()  # a second signal changes nothing
    await asyncio.wait_for(running, 30)
    assert outcome == ["stopping", "finished"]


def _stuck_job(entered: asyncio.Event, outcome: list[str]) -> JobSpec:
    """A job that never finishes on its own; it records being cancelled."""

    async def stuck() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    return JobSpec("dispatch", stuck, interval(3600, start_now=True, clock=SystemClock()), "t")


async def test_a_job_that_outlasts_the_stop_timeout_is_cancelled_and_the_daemon_still_stops() -> None:
    entered = asyncio.Event()
    outcome: list[str] = []
    daemon = _daemon(_stuck_job(entered, outcome), 0.1)
    running = asyncio.create_task(daemon.run())
    await asyncio.wait_for(entered.wait(), 30)
    daemon.stop()
    await asyncio.wait_for(running, 30)
    assert outcome == ["cancelled"]


async def test_the_stop_timeout_is_a_setting() -> None:
    entered = asyncio.Event()
    outcome: list[str] = []
    settings = Settings.model_validate({"schedule": {"stop_timeout_seconds": 0.2}})
    daemon = Daemon(settings, FixedClock(datetime(2026, 8, 3, tzinfo=UTC)), [_stuck_job(entered, outcome)])
    running = asyncio.create_task(daemon.run())
    await asyncio.wait_for(entered.wait(), 30)
    daemon.stop()
    # Well within the 60 s default: the setting, not the default, bounded the wait.
    await asyncio.wait_for(running, 20)
    assert outcome == ["cancelled"]

"""Time as an argument.

Core code never asks the system for the time; it receives ``now`` (an aware
UTC datetime) or a :class:`Clock`. Only the CLI and the daemon construct a
:class:`SystemClock`; tests use :class:`FixedClock` and move it forward.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from followup.errors import UsageError


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""
        ...


class SystemClock:
    """The real clock; used only at the edges (CLI, daemon)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = as_utc(when)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def as_utc(when: datetime) -> datetime:
    """Return ``when`` in UTC; a naive datetime is taken to be UTC already."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def parse_now(text: str, default_zone: str = "UTC") -> datetime:
    """Parse a ``--now`` value: an ISO-8601 date or datetime.

    A bare date means midnight in ``default_zone`` (the secretariat's zone),
    since that is what a person typing ``--now 2026-08-15`` means.
    """
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(default_zone)).astimezone(UTC)
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--now {text!r} is not an ISO-8601 date or datetime (e.g. 2026-08-15T09:00:00Z)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(default_zone))
    return parsed.astimezone(UTC)


def local_date(when: datetime, zone: str) -> date:
    """The calendar date of an instant as seen in ``zone``."""
    return as_utc(when).astimezone(ZoneInfo(zone)).date()


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months; a month-end anchor stays at month end."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    at_end = day.day == calendar.monthrange(day.year, day.month)[1]
    return date(year, month, last if at_end else min(day.day, last))

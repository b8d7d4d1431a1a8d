"""When, in UTC, a notice may reach a recipient: their working days, their hours.

A focal point should read us at the start of a working day in their own zone,
not at 3 a.m. or on a national holiday. A step names a calendar day relative to
the due date; this module moves it onto a working day and returns the window
start on that day as a UTC instant. Wall-clock arithmetic is done in the
recipient's zone and only then converted, so DST changes (Canada, the United
States, Mexico's border zones) never shift the local hour.

Which way a step moves matters: a reminder promises notice, so it moves
EARLIER to the previous working day (a "due in 3 days" that arrives a day late
breaks the promise). The due-date notice moves earlier too: arriving after the
deadline it would be an overdue notice wearing the wrong words, so it arrives on
the last working day before the deadline instead, and templates should say the
date ("due on Sunday 15 August") rather than "today". Overdue and escalation
notices move LATER: the recipient was not at work to be chased anyway.

Everything here is pure; holiday calendars are cached because building them is
the slowest thing the planner does per recipient.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from followup.errors import ConfigError
from followup.settings import ScheduleSettings

WEEKDAYS = frozenset(range(5))
#: ``schedule.working_days`` names, Monday = 0 as in :meth:`datetime.date.weekday`.
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: A step never moves further than this; past it (a misconfigured calendar) it keeps its day.
MAX_SHIFT_DAYS = 14


class Shift(StrEnum):
    EARLIER = "earlier"
    LATER = "later"


#: Steps that promise notice move earlier; steps that chase move later.
_SHIFT_BY_KIND = {"reminder": Shift.EARLIER, "due_today": Shift.EARLIER}


def shift_for(kind: str) -> Shift:
    """The direction a step of notification ``kind`` moves off a non-working day."""
    return _SHIFT_BY_KIND.get(kind, Shift.LATER)


@dataclass(frozen=True)
class SendWindow:
    """Local hours and weekdays (Monday = 0) in which mail may go out."""

    start: time = time(9, 0)
    end: time = time(17, 0)
    working_days: frozenset[int] = field(default=WEEKDAYS)

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ConfigError(f"send window start {self.start:%H:%M} must be before its end {self.end:%H:%M}")
        if not self.working_days or not self.working_days <= frozenset(range(7)):
            raise ConfigError("send window working days must be a non-empty set of weekdays 0-6")

    @classmethod
    def from_settings(cls, schedule: ScheduleSettings) -> SendWindow:
        days = frozenset(DAY_NAMES.index(day) for day in schedule.working_days)
        return cls(start=schedule.send_window_start, end=schedule.send_window_end, working_days=days)


@dataclass(frozen=True)
class Recipient:
    """Where a recipient reads mail: an IANA zone and a ``holidays`` country code ('' = none)."""

    zone: str
    holiday_country: str = ""


@functools.lru_cache(maxsize=64)
def zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"time zone {name!r} is not an IANA zone such as America/Tegucigalpa") from None


@functools.lru_cache(maxsize=512)
def holiday_dates(country: str, year: int) -> frozenset[date]:
    """Public holidays of ``country`` in ``year``: ``HN`` national, ``CA-ON`` adds a province ('' = none)."""
    if not country:
        return frozenset()
    code, _, subdivision = country.partition("-")
    try:
        calendar = holidays.country_holidays(code, subdiv=subdivision or None, years=year)
    except NotImplementedError:
        raise ConfigError(f"holiday country {country!r} is not known to the holidays package") from None
    return frozenset(calendar)


def is_working_day(day: date, country: str, window: SendWindow) -> bool:
    return day.weekday() in window.working_days and day not in holiday_dates(country, day.year)


def send_day(nominal: date, country: str, window: SendWindow, shift: Shift) -> date:
    """The working day a step due on ``nominal`` moves to (itself if it is one)."""
    step = timedelta(days=-1 if shift is Shift.EARLIER else 1)
    day = nominal
    for _ in range(MAX_SHIFT_DAYS + 1):
        if is_working_day(day, country, window):
            return day
        day += step
    return nominal


def window_start(day: date, zone: str, window: SendWindow) -> datetime:
    """The UTC instant at which ``window.start`` strikes on ``day`` in ``zone``."""
    return datetime.combine(day, window.start, tzinfo=zone_info(zone)).astimezone(UTC)


def send_at(nominal: date, recipient: Recipient, window: SendWindow, shift: Shift) -> datetime:
    """The UTC instant for a step due on ``nominal``: window start on its working day."""
    return window_start(send_day(nominal, recipient.holiday_country, window, shift), recipient.zone, window)


def local_day(now: datetime, recipient: Recipient) -> date:
    return now.astimezone(zone_info(recipient.zone)).date()


def in_window(now: datetime, recipient: Recipient, window: SendWindow) -> bool:
    """Whether ``now`` is inside the recipient's hours on one of their working days."""
    local = now.astimezone(zone_info(recipient.zone))
    wall = local.time()
    return window.start <= wall < window.end and is_working_day(local.date(), recipient.holiday_country, window)


def next_window_start(
    now: datetime, recipient: Recipient, window: SendWindow, avoid: frozenset[date] = frozenset()
) -> datetime:
    """The first instant at or after ``now`` inside the window, skipping local days in ``avoid``.

    ``now`` itself when the window is open; otherwise the window start of the
    next working day. ``avoid`` holds days the recipient has already had mail,
    so a late-comer waits for the next day rather than making a second email.
    """
    local = now.astimezone(zone_info(recipient.zone))
    today = local.date()
    if today not in avoid and in_window(now, recipient, window):
        return now.astimezone(UTC)
    day = today if local.time() < window.start else today + timedelta(days=1)
    for _ in range(MAX_SHIFT_DAYS + len(avoid) + 7):
        if day not in avoid and is_working_day(day, recipient.holiday_country, window):
            return window_start(day, recipient.zone, window)
        day += timedelta(days=1)
    return window_start(day, recipient.zone, window)

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followup.errors import ConfigError
from followup.schedule.sendwindow import (
    MAX_SHIFT_DAYS,
    Recipient,
    SendWindow,
    Shift,
    holiday_dates,
    in_window,
    is_working_day,
    next_window_start,
    send_at,
    send_day,
    shift_for,
)
from followup.settings import ScheduleSettings

WINDOW = SendWindow()
RCM_COUNTRIES = ("BZ", "CA", "CR", "DO", "SV", "GT", "HN", "MX", "NI", "PA", "US")
TORONTO = Recipient("America/Toronto", "CA")
LOS_ANGELES = Recipient("America/Los_Angeles", "US")
TEGUCIGALPA = Recipient("America/Tegucigalpa", "HN")
MEXICO_CITY = Recipient("America/Mexico_City", "MX")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_every_rcm_member_has_a_holiday_calendar() -> None:
    for code in RCM_COUNTRIES:
        days = holiday_dates(code, 2026)
        assert date(2026, 1, 1) in days, code
        assert date(2026, 12, 25) in days, code


def test_holiday_calendars_are_cached() -> None:
    holiday_dates("GT", 2031)
    before = holiday_dates.cache_info().hits
    assert holiday_dates("GT", 2031) is holiday_dates("GT", 2031)
    assert holiday_dates.cache_info().hits == before + 2


@pytest.mark.parametrize(
    ("recipient", "day", "expected"),
    [
        # Canada: EST (UTC-5) until Sunday 8 March 2026, EDT (UTC-4) from then until Sunday 1 November.
        (TORONTO, date(2026, 3, 6), utc(2026, 3, 6, 14, 0)),
        (TORONTO, date(2026, 3, 9), utc(2026, 3, 9, 13, 0)),
        (TORONTO, date(2026, 10, 30), utc(2026, 10, 30, 13, 0)),
        (TORONTO, date(2026, 11, 2), utc(2026, 11, 2, 14, 0)),
        # United States, Pacific: PST (UTC-8) / PDT (UTC-7), same change days.
        (LOS_ANGELES, date(2026, 3, 6), utc(2026, 3, 6, 17, 0)),
        (LOS_ANGELES, date(2026, 3, 9), utc(2026, 3, 9, 16, 0)),
        (LOS_ANGELES, date(2026, 10, 30), utc(2026, 10, 30, 16, 0)),
        (LOS_ANGELES, date(2026, 11, 2), utc(2026, 11, 2, 17, 0)),
        # Honduras keeps UTC-6 all year.
        (TEGUCIGALPA, date(2026, 3, 6), utc(2026, 3, 6, 15, 0)),
        (TEGUCIGALPA, date(2026, 3, 9), utc(2026, 3, 9, 15, 0)),
    ],
)
def test_window_start_is_nine_local_across_dst(recipient: Recipient, day: date, expected: datetime) -> None:
    for shift in Shift:
        assert send_at(day, recipient, WINDOW, shift) == expected
        assert expected.astimezone(ZoneInfo(recipient.zone)).time() == time(9, 0)


def test_step_on_the_dst_sunday_moves_to_a_working_day_at_local_nine() -> None:
    sunday = date(2026, 3, 8)
    assert send_at(sunday, TORONTO, WINDOW, Shift.EARLIER) == utc(2026, 3, 6, 14, 0)  # Friday, EST
    assert send_at(sunday, TORONTO, WINDOW, Shift.LATER) == utc(2026, 3, 9, 13, 0)  # Monday, EDT
    assert send_at(date(2026, 11, 1), LOS_ANGELES, WINDOW, Shift.LATER) == utc(2026, 11, 2, 17, 0)


def test_weekend_moves_reminders_to_friday_and_overdue_to_monday() -> None:
    saturday = date(2026, 8, 15)
    assert send_day(saturday, "CR", WINDOW, shift_for("reminder")) == date(2026, 8, 14)
    assert send_day(saturday, "CR", WINDOW, shift_for("due_today")) == date(2026, 8, 14)
    assert send_day(saturday, "CR", WINDOW, shift_for("overdue")) == date(2026, 8, 17)
    assert send_day(saturday, "CR", WINDOW, shift_for("escalation")) == date(2026, 8, 17)
    assert send_day(date(2026, 8, 12), "CR", WINDOW, Shift.EARLIER) == date(2026, 8, 12)


def test_honduran_holidays_move_a_reminder_earlier_and_an_overdue_later() -> None:
    independence = date(2026, 9, 15)  # a Tuesday
    assert not is_working_day(independence, "HN", WINDOW)
    assert send_day(independence, "HN", WINDOW, Shift.EARLIER) == date(2026, 9, 14)
    assert send_day(independence, "HN", WINDOW, Shift.LATER) == date(2026, 9, 16)
    # Morazán week: Wednesday 7 to Friday 9 October, then a weekend.
    assert send_day(date(2026, 10, 9), "HN", WINDOW, Shift.EARLIER) == date(2026, 10, 6)
    assert send_day(date(2026, 10, 7), "HN", WINDOW, Shift.LATER) == date(2026, 10, 12)
    # The same Tuesday is an ordinary working day next door.
    assert send_day(independence, "MX", WINDOW, Shift.EARLIER) == independence


def test_mexican_long_weekend() -> None:
    revolution_day = date(2026, 11, 16)  # a Monday
    assert send_at(revolution_day, MEXICO_CITY, WINDOW, Shift.EARLIER) == utc(2026, 11, 13, 15, 0)
    assert send_at(date(2026, 11, 14), MEXICO_CITY, WINDOW, Shift.LATER) == utc(2026, 11, 17, 15, 0)


def test_a_subdivision_adds_its_own_holidays() -> None:
    family_day = date(2026, 2, 16)  # Ontario only
    assert is_working_day(family_day, "CA", WINDOW)
    assert not is_working_day(family_day, "CA-ON", WINDOW)
    with pytest.raises(ConfigError, match="'CA-ZZ'"):
        is_working_day(family_day, "CA-ZZ", WINDOW)


def test_no_holiday_country_means_weekends_only() -> None:
    assert is_working_day(date(2026, 12, 25), "", WINDOW)
    assert not is_working_day(date(2026, 12, 26), "", WINDOW)


def test_in_window() -> None:
    monday = utc(2026, 3, 9, 13, 0)  # 09:00 EDT
    assert in_window(monday, TORONTO, WINDOW)
    assert not in_window(monday - timedelta(seconds=1), TORONTO, WINDOW)
    assert in_window(utc(2026, 3, 9, 20, 59), TORONTO, WINDOW)
    assert not in_window(utc(2026, 3, 9, 21, 0), TORONTO, WINDOW)  # 17:00: the end is exclusive
    assert not in_window(utc(2026, 3, 7, 15, 0), TORONTO, WINDOW)  # Saturday
    assert not in_window(utc(2026, 9, 15, 16, 0), TEGUCIGALPA, WINDOW)  # Independence Day
    assert in_window(utc(2026, 9, 15, 16, 0), MEXICO_CITY, WINDOW)


def test_next_window_start() -> None:
    inside = utc(2026, 3, 9, 15, 30)
    assert next_window_start(inside, TORONTO, WINDOW) == inside
    early = utc(2026, 3, 9, 11, 0)  # 07:00 EDT Monday
    assert next_window_start(early, TORONTO, WINDOW) == utc(2026, 3, 9, 13, 0)
    friday_evening = utc(2026, 3, 6, 23, 0)  # 18:00 EST Friday; Monday is already EDT
    assert next_window_start(friday_evening, TORONTO, WINDOW) == utc(2026, 3, 9, 13, 0)
    holiday_eve = utc(2026, 10, 6, 23, 30)  # Tuesday evening before Morazán week
    assert next_window_start(holiday_eve, TEGUCIGALPA, WINDOW) == utc(2026, 10, 12, 15, 0)


def test_next_window_start_skips_days_to_avoid() -> None:
    inside = utc(2026, 3, 9, 15, 30)
    avoid = frozenset({date(2026, 3, 9), date(2026, 3, 10)})
    assert next_window_start(inside, TORONTO, WINDOW, avoid=avoid) == utc(2026, 3, 11, 13, 0)


def test_window_from_settings_and_validation() -> None:
    window = SendWindow.from_settings(ScheduleSettings(send_window_start=time(8, 30), send_window_end=time(12, 0)))
    assert window.start == time(8, 30)
    assert send_at(date(2026, 3, 9), TORONTO, window, Shift.LATER) == utc(2026, 3, 9, 12, 30)
    with pytest.raises(ConfigError, match="must be before its end"):
        SendWindow(start=time(17, 0), end=time(9, 0))
    with pytest.raises(ConfigError, match="working days"):
        SendWindow(working_days=frozenset())


def test_unknown_zone_or_holiday_country_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'Mars/Olympus'"):
        send_at(date(2026, 3, 9), Recipient("Mars/Olympus", ""), WINDOW, Shift.LATER)
    with pytest.raises(ConfigError, match="holiday country 'XX'"):
        send_day(date(2026, 3, 7), "XX", WINDOW, Shift.LATER)


@settings(deadline=None)
@given(
    nominal=st.dates(min_value=date(2024, 1, 1), max_value=date(2032, 12, 31)),
    country=st.sampled_from(RCM_COUNTRIES),
    shift=st.sampled_from(list(Shift)),
)
def test_send_day_is_the_nearest_working_day_in_the_right_direction(nominal: date, country: str, shift: Shift) -> None:
    day = send_day(nominal, country, WINDOW, shift)
    assert is_working_day(day, country, WINDOW)
    gap = (day - nominal).days
    assert (gap <= 0) if shift is Shift.EARLIER else (gap >= 0)
    assert abs(gap) <= MAX_SHIFT_DAYS
    step = 1 if gap > 0 else -1
    for between in range(0, gap, step):
        assert not is_working_day(nominal + timedelta(days=between), country, WINDOW)


@settings(deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
    recipient=st.sampled_from([TORONTO, LOS_ANGELES, TEGUCIGALPA, MEXICO_CITY, Recipient("America/Panama", "PA")]),
)
def test_next_window_start_is_the_first_open_instant(now: datetime, recipient: Recipient) -> None:
    start = next_window_start(now, recipient, WINDOW)
    assert start >= now
    assert in_window(start, recipient, WINDOW)
    if start > now:
        assert start.astimezone(ZoneInfo(recipient.zone)).time() == WINDOW.start
        assert not in_window(now, recipient, WINDOW)


def test_a_sunday_to_thursday_week_from_settings() -> None:
    week = ScheduleSettings(working_days=("sun", "mon", "tue", "wed", "thu"))
    window = SendWindow.from_settings(week)
    assert window.working_days == frozenset({6, 0, 1, 2, 3})
    friday = utc(2026, 3, 13, 15, 0)  # 11:00 in Toronto, a Friday: no mail until Sunday's window
    assert next_window_start(friday, Recipient("America/Toronto"), window) == utc(2026, 3, 15, 13, 0)

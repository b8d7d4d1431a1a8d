"""Calendar files for deadlines and meetings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar

from followup.outbound.ics import (
    CalendarEntry,
    calendar_bytes,
    calendar_feed,
    deadline_entry,
    deadline_ics,
    icalendar_calendar,
    meeting_entry,
)

NOW = datetime(2026, 8, 3, 14, 0, 30, 123456, tzinfo=UTC)
DOMAIN = "rcm.example.org"


def entry(language: str = "es", due: date = date(2026, 8, 15)) -> CalendarEntry:
    return deadline_entry(
        assignment_id=12,
        due_date=due,
        title="Matriz de integración",
        reference="[RCM-12]",
        owner_name="Costa Rica",
        language=language,
        domain=DOMAIN,
        description="La matriz completa; con datos, de contacto.",
    )


def test_deadline_is_an_all_day_event() -> None:
    cal = Calendar.from_ical(deadline_ics(entry(), now=NOW))
    assert cal["METHOD"] == "PUBLISH"
    assert cal["VERSION"] == "2.0"
    [event] = cal.walk("VEVENT")
    assert event.decoded("DTSTART") == date(2026, 8, 15)
    assert event.decoded("DTEND") == date(2026, 8, 16)
    assert event.decoded("DTSTAMP") == datetime(2026, 8, 3, 14, 0, 30, tzinfo=UTC)
    assert str(event["SUMMARY"]) == "Plazo: Matriz de integración [RCM-12]"
    assert str(event["DESCRIPTION"]).startswith(
        "La matriz completa; con datos, de contacto.\n\nPlazo [RCM-12] para Costa Rica."
    )
    assert str(event["TRANSP"]) == "TRANSPARENT"
    assert str(event["UID"]) == f"deadline-12@{DOMAIN}"
    assert "SEQUENCE" not in event and "STATUS" not in event


def test_summary_in_the_recipient_language() -> None:
    en = Calendar.from_ical(deadline_ics(entry("en"), now=NOW)).walk("VEVENT")[0]
    assert str(en["SUMMARY"]) == "Due: Matriz de integración [RCM-12]"
    other = Calendar.from_ical(deadline_ics(entry("fr"), now=NOW)).walk("VEVENT")[0]
    assert str(other["SUMMARY"]).startswith("Due:")


def test_uid_is_stable_per_assignment_and_an_extension_raises_the_sequence() -> None:
    later = NOW + timedelta(days=3)
    assert entry().uid == entry("en").uid
    first = Calendar.from_ical(deadline_ics(entry(), now=NOW)).walk("VEVENT")[0]
    again = Calendar.from_ical(deadline_ics(entry(), now=later)).walk("VEVENT")[0]
    assert first["UID"] == again["UID"]
    # Extended: the same event moves (same UID, higher SEQUENCE) instead of a second one appearing.
    moved_entry = replace(entry(due=date(2026, 9, 30)), sequence=1)
    moved = Calendar.from_ical(deadline_ics(moved_entry, now=later)).walk("VEVENT")[0]
    assert moved["UID"] == first["UID"] and moved["SEQUENCE"] == 1
    assert moved.decoded("DTSTART") == date(2026, 9, 30)
    gone = deadline_entry(assignment_id=12, due_date=date(2026, 9, 30), title="x", reference="[RCM-12]",
                          owner_name="CR", language="es", domain=DOMAIN, sequence=1, cancelled=True)  # fmt: skip
    assert str(Calendar.from_ical(deadline_ics(gone, now=later)).walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert deadline_ics(moved_entry, now=NOW) == icalendar_calendar([moved_entry], now=NOW)
    assert deadline_ics(gone, now=NOW) == icalendar_calendar([gone], now=NOW)


def test_same_inputs_same_bytes() -> None:
    assert deadline_ics(entry(), now=NOW) == deadline_ics(entry(), now=NOW)


def test_feed_of_deadlines_and_meetings() -> None:
    meeting = meeting_entry(
        meeting_id="rcgm-2026-09",
        start_date=date(2026, 9, 10),
        end_date=date(2026, 9, 11),
        title="Reunión del GRCM",
        place="San José, Costa Rica",
        domain=DOMAIN,
    )
    other = deadline_entry(assignment_id=13, due_date=date(2026, 9, 30), title="Informe", reference="[RCM-13]",
                           owner_name="Costa Rica", language="es", domain=DOMAIN)  # fmt: skip
    feed = Calendar.from_ical(calendar_feed([entry(), other, meeting], now=NOW, name="CRM"))
    assert str(feed["X-WR-CALNAME"]) == "CRM"
    events = {str(e["UID"]): e for e in feed.walk("VEVENT")}
    assert len(events) == 3
    held = events[f"meeting-rcgm-2026-09@{DOMAIN}"]
    assert held.decoded("DTSTART") == date(2026, 9, 10)
    assert held.decoded("DTEND") == date(2026, 9, 12)  # exclusive: the meeting covers the 11th
    assert str(held["LOCATION"]) == "San José, Costa Rica"


def test_entry_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="must be after start"):
        CalendarEntry(uid="x", start=date(2026, 1, 2), end=date(2026, 1, 2), summary="x")


text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=300)


@given(
    summary=text.filter(str.strip),
    description=text,
    location=text,
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 1)),
    days=st.integers(min_value=1, max_value=30),
)
def test_fast_writer_matches_icalendar(summary: str, description: str, location: str, start: date, days: int) -> None:
    item = CalendarEntry(
        uid="deadline-1-x@example.org",
        start=start,
        end=start + timedelta(days=days),
        summary=summary,
        description=description,
        location=location,
    )
    assert deadline_ics(item, now=NOW) == icalendar_calendar([item], now=NOW)


def test_fast_writer_matches_icalendar_on_line_breaks_and_escapes() -> None:
    item = CalendarEntry(
        uid="u@x",
        start=date(2026, 8, 15),
        end=date(2026, 8, 16),
        summary="a;b,c\\d",
        description="línea 1\r\nlínea 2\nlínea 3 " + "ñ" * 80,
    )
    assert deadline_ics(item, now=NOW) == icalendar_calendar([item], now=NOW)


@given(
    st.lists(st.tuples(text.filter(str.strip), text), max_size=4),
    st.one_of(st.none(), text),
)
def test_fast_writer_matches_icalendar_for_calendars(events: list[tuple[str, str]], name: str | None) -> None:
    entries = [
        CalendarEntry(uid=f"e{n}@x", start=date(2026, 8, n + 1), end=date(2026, 8, n + 2), summary=s, location=loc)
        for n, (s, loc) in enumerate(events)
    ]
    assert calendar_bytes(entries, now=NOW, name=name) == icalendar_calendar(entries, now=NOW, name=name)

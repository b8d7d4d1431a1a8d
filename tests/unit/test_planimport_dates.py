"""Date phrases: every way a plan writes a date, and which ones set a deadline."""

from __future__ import annotations

from datetime import date

import pytest

from followup.planimport.dates import DateValue, DuePhrase, add_months, find_dates, find_due_phrases, format_range


def only(text: str) -> DuePhrase:
    phrases = [p for p in find_due_phrases(text) if p.sets_deadline]
    assert len(phrases) == 1, phrases
    return phrases[0]


@pytest.mark.parametrize(
    ("text", "start", "end", "precision"),
    [
        ("AUGUST 15TH, 2006", date(2006, 8, 15), date(2006, 8, 15), "day"),
        ("August 15, 2006", date(2006, 8, 15), date(2006, 8, 15), "day"),
        ("15 AUGUST 2006", date(2006, 8, 15), date(2006, 8, 15), "day"),
        ("1 ST DECEMBER, 2003", date(2003, 12, 1), date(2003, 12, 1), "day"),
        ("DECEMBER 1, 2004", date(2004, 12, 1), date(2004, 12, 1), "day"),
        ("27-29 NOVEMBER, 2006", date(2006, 11, 27), date(2006, 11, 29), "day"),
        ("NOVEMBER 27-29, 2006", date(2006, 11, 27), date(2006, 11, 29), "day"),
        ("18 - 19 JULY, 2006", date(2006, 7, 18), date(2006, 7, 19), "day"),
        ("JULY 18 - 19, 2006", date(2006, 7, 18), date(2006, 7, 19), "day"),
        ("NOVEMBER, 2006", date(2006, 11, 1), date(2006, 11, 1), "month"),
        ("NOVEMBER 2006", date(2006, 11, 1), date(2006, 11, 1), "month"),
        ("OCT 05", date(2005, 10, 1), date(2005, 10, 1), "month"),
        ("NOV 2005", date(2005, 11, 1), date(2005, 11, 1), "month"),
        ("Sept. 2007", date(2007, 9, 1), date(2007, 9, 1), "month"),
        ("2006-08-15", date(2006, 8, 15), date(2006, 8, 15), "day"),
        ("15/08/2006", date(2006, 8, 15), date(2006, 8, 15), "day"),
        ("15 de agosto de 2006", date(2006, 8, 15), date(2006, 8, 15), "day"),
        ("noviembre de 2006", date(2006, 11, 1), date(2006, 11, 1), "month"),
    ],
)
def test_date_forms(text: str, start: date, end: date, precision: str) -> None:
    found = find_dates(f"DUE {text} HERE")
    assert [f.value for f in found] == [DateValue(start, end, precision)]


def test_impossible_dates_and_bare_years_are_not_dates() -> None:
    assert find_dates("31 FEBRUARY 2006") == []
    assert find_dates("SIGNED AN MOU IN 2004") == []
    assert find_dates("THE FUND MAY BE FURTHER SUPPLEMENTED") == []


def test_month_precision_is_due_on_the_last_day() -> None:
    assert DateValue(date(2006, 11, 1), date(2006, 11, 1), "month").due == date(2006, 11, 30)
    assert DateValue(date(2008, 2, 1), date(2008, 2, 1), "month").due == date(2008, 2, 29)


def test_by_a_day() -> None:
    phrase = only("COUNTRIES WILL SUBMIT THE MATRIX TO THE TS BY AUGUST 15TH, 2006")
    assert (phrase.kind, phrase.text, phrase.value.due if phrase.value else None) == (
        "deadline",
        "BY AUGUST 15TH, 2006",
        date(2006, 8, 15),
    )


def test_by_a_month() -> None:
    phrase = only("MEMBER COUNTRIES WILL COMPLETE IT BY NOVEMBER, 2006")
    assert phrase.kind == "deadline"
    assert phrase.value is not None
    assert (phrase.value.precision, phrase.value.due) == ("month", date(2006, 11, 30))


def test_by_the_end_of_a_month() -> None:
    phrase = only("STATES TO SUBMIT THEIR COMMENTS BY THE END OF APRIL 2005")
    assert phrase.text == "BY THE END OF APRIL 2005"
    assert phrase.value is not None
    assert phrase.value.due == date(2005, 4, 30)


def test_other_deadline_words() -> None:
    assert only("NO LATER THAN 1 MARCH 2007").kind == "deadline"
    assert only("antes del 15 de agosto de 2006").kind == "deadline"


def test_date_in_parentheses_after_an_action() -> None:
    phrase = only("IOM WILL SEND ELECTRONIC VERSIONS TO TS (OCTOBER 2006)")
    assert (phrase.kind, phrase.meeting_kind, phrase.text) == ("paren", None, "(OCTOBER 2006)")


def test_meeting_and_date_in_parentheses() -> None:
    phrase = only("ANALYZE BEST PRACTICES (RCGM, NOVEMBER 2006)")
    assert (phrase.kind, phrase.meeting_kind) == ("paren", "rcgm")


def test_during_a_meeting_with_its_days() -> None:
    phrase = only("A PROPOSAL TO BE PRESENTED DURING RCGM, 27-29 NOVEMBER, 2006")
    assert phrase.kind == "meeting"
    assert phrase.meeting_kind == "rcgm"
    assert phrase.value == DateValue(date(2006, 11, 27), date(2006, 11, 29), "day")


def test_in_a_month_is_a_weak_deadline() -> None:
    assert only("COSTA RICA WILL HOST A WORKSHOP IN MARCH 2007").kind == "weak"


@pytest.mark.parametrize(
    ("text", "kind", "days"),
    [
        ("IN PREPARATION FOR EACH MEETING OF THE RCGM, MEMBER COUNTRIES WILL SUPPLY INPUT", "rcgm", None),
        ("SCHEDULE MEETINGS PRIOR TO EACH MEETING OF THE RCGM", "rcgm", None),
        ("MEETING TO BE SCHEDULED ONE DAY PRIOR TO EACH MEETING OF THE RCGM", "rcgm", 1),
        ("REPORTS DUE TWO WEEKS BEFORE EACH RCM MEETING", "rcm", 14),
        ("10 DAYS BEFORE EVERY RCGM", "rcgm", 10),
        ("IN EACH RCM MEETING, THE COUNTRIES WILL REPORT", "rcm", 0),
        ("AT EACH MEETING OF THE REGIONAL CONSULTATION GROUP ON MIGRATION", "rcgm", 0),
    ],
)
def test_each_meeting(text: str, kind: str, days: int | None) -> None:
    phrase = only(text)
    assert (phrase.kind, phrase.meeting_kind, phrase.days_before) == ("each_meeting", kind, days)


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("A MATRIX TO BE UPDATED SEMI-ANNUALLY", 6),
        ("SHARE SEMIANNUALLY INFORMATION", 6),
        ("TWICE A YEAR", 6),
        ("REPORT ANNUALLY", 12),
        ("EACH YEAR", 12),
        ("QUARTERLY REPORTS", 3),
        ("EVERY FOUR MONTHS", 4),
        ("EVERY 2 MONTHS", 2),
        ("MONTHLY", 1),
        ("semestralmente", 6),
    ],
)
def test_recurring(text: str, months: int) -> None:
    phrase = only(text)
    assert (phrase.kind, phrase.every_months) == ("every", months)


def test_dates_that_set_no_deadline() -> None:
    attribution = find_due_phrases("INTERESTED COUNTRIES WILL REQUEST TRAINING – RCGM, OCT 2005")
    assert [p.kind for p in attribution] == ["attribution"]
    bare = find_due_phrases("TRAINING SESSIONS WERE HELD 7-11 FEBRUARY, 2005, IN SAN SALVADOR")
    assert [p.kind for p in bare] == ["bare"]
    assert not any(p.sets_deadline for p in attribution + bare)


def test_a_meeting_without_a_date() -> None:
    phrase = only("A PROPOSAL – TO BE SHARED AT THE XI RCM")
    assert (phrase.kind, phrase.meeting_kind) == ("meeting_ref", "rcm")
    assert only("INCLUDE IT IN NEXT MEETING OF RCGM").kind == "meeting_ref"


def test_add_months_keeps_the_month_end() -> None:
    assert add_months(date(2006, 11, 30), 6) == date(2007, 5, 31)
    assert add_months(date(2007, 8, 31), 6) == date(2008, 2, 29)
    assert add_months(date(2007, 1, 15), 1) == date(2007, 2, 15)


def test_format_range() -> None:
    assert format_range(date(2006, 11, 27), date(2006, 11, 29), "en") == "27-29 November 2006"
    assert format_range(date(2006, 11, 27), date(2006, 11, 29), "es") == "27-29 de noviembre de 2006"
    assert format_range(date(2006, 11, 30), date(2006, 12, 1), "en") == "30 November-1 December 2006"

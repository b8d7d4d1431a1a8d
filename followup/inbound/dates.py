"""Dates written in English and Spanish replies: "5 December 2026", "15 de septiembre", "7/12".

Focal points write dates the way people do, not the way parsers like:
"until 30 September", "hasta el 15 de septiembre de 2026", "el lunes 7/12",
"December 5th". Numeric dates are read day first (the Latin American order
most focal points use) unless only the other order makes sense. A date
without a year is the first such day on or after a month before the
reference date: a reply written in December that says "5 de enero" means
next January.

Matching runs on a folded copy of the text (lower case, accents removed)
that keeps every character at its original offset, so callers can relate a
date to the words around it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

_MONTHS = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "sep": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
    "enero": 1,
    "ene": 1,
    "febrero": 2,
    "marzo": 3,
    "abril": 4,
    "abr": 4,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "agosto": 8,
    "ago": 8,
    "septiembre": 9,
    "setiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
    "dic": 12,
}
_WEEKDAYS = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
    "lunes": 0,
    "martes": 1,
    "miercoles": 2,
    "jueves": 3,
    "viernes": 4,
    "sabado": 5,
    "domingo": 6,
}
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "another": 1,
    "un": 1,
    "una": 1,
    "uno": 1,
    "otra": 1,
    "otro": 1,
    "two": 2,
    "dos": 2,
    "couple of": 2,
    "three": 3,
    "tres": 3,
    "four": 4,
    "cuatro": 4,
    "five": 5,
    "cinco": 5,
    "six": 6,
    "seis": 6,
    "seven": 7,
    "siete": 7,
    "eight": 8,
    "ocho": 8,
    "ten": 10,
    "diez": 10,
    "fifteen": 15,
    "quince": 15,
    "thirty": 30,
    "treinta": 30,
}

_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAY = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_NUMBER = "|".join(sorted((re.escape(k) for k in _NUMBERS), key=len, reverse=True))

_DAY_MONTH_RE = re.compile(
    rf"\b(?P<day>[0-3]?\d)(?:st|nd|rd|th|º|°|o)?(?:\s+(?:de|of))?\s+(?P<month>{_MONTH})\b\.?"
    rf"(?:,?\s+(?:de\s+|del\s+|of\s+)?(?P<year>\d{{4}}))?"
)
_MONTH_DAY_RE = re.compile(
    rf"\b(?P<month>{_MONTH})\b\.?\s+(?P<day>[0-3]?\d)(?:st|nd|rd|th)?\b(?:,?\s+(?P<year>\d{{4}}))?"
)
_ISO_RE = re.compile(r"\b(?P<year>\d{4})-(?P<month>[01]?\d)-(?P<day>[0-3]?\d)\b")
_NUMERIC_RE = re.compile(
    r"(?<![\d/.-])(?P<a>[0-3]?\d)(?P<sep>[/.-])(?P<b>[0-3]?\d)(?:(?P=sep)(?P<year>\d{4}|\d{2}))?(?![\d/]|\.\d)"
)
_WEEKDAY_RE = re.compile(rf"\b(?:(?P<next>next|el\s+proximo|este|this|el)\s+)?(?P<weekday>{_WEEKDAY})\b")
_PERIOD_RE = re.compile(
    rf"\b(?P<count>\d{{1,3}}|{_NUMBER})\s+(?:(?:more|additional|extra|further)\s+)?"
    rf"(?P<unit>weeks?|days?|months?|semanas?|dias?|meses?|mes)\b"
)


@dataclass(frozen=True, slots=True)
class FoundDate:
    """A date found in text, with where it was (offsets into the original text)."""

    value: date
    start: int
    end: int


class _FoldTable(dict[int, str]):
    """``str.translate`` table of :func:`fold`, filled in as characters are first met."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if code < 128:
            folded = ch.lower()
        else:
            base = unicodedata.normalize("NFKD", ch)[:1] or ch
            folded = base.lower()[:1] or base
        self[code] = folded
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """Lower-case and strip accents, keeping one output character per input character."""
    if text.isascii():
        return text.lower()
    return text.translate(_FOLD)


def find_dates(text: str, reference: date, *, folded: str | None = None) -> list[FoundDate]:
    """Every calendar date written in ``text``, in order of appearance."""
    low = folded if folded is not None else fold(text)
    found: list[FoundDate] = []
    taken: list[tuple[int, int]] = []

    def add(value: date | None, start: int, end: int) -> None:
        if value is None or any(s < end and start < e for s, e in taken):
            return
        taken.append((start, end))
        found.append(FoundDate(value, start, end))

    for m in _ISO_RE.finditer(low):
        add(_make(int(m["year"]), int(m["month"]), int(m["day"])), m.start(), m.end())
    for regex in (_DAY_MONTH_RE, _MONTH_DAY_RE):
        for m in regex.finditer(low):
            year = int(m["year"]) if m["year"] else None
            add(_complete(year, _MONTHS[m["month"]], int(m["day"]), reference), m.start(), m.end())
    for m in _NUMERIC_RE.finditer(low):
        if m["sep"] == "." and not m["year"]:
            continue  # "3.5" is a number, not the 3rd of May
        add(_numeric(int(m["a"]), int(m["b"]), m["year"], reference), m.start(), m.end())
    found.sort(key=lambda f: f.start)
    return found


def find_weekday(text: str, reference: date, *, folded: str | None = None) -> FoundDate | None:
    """ "Monday" / "el próximo lunes": the first such day after the reference date."""
    low = folded if folded is not None else fold(text)
    m = _WEEKDAY_RE.search(low)
    if not m:
        return None
    target = _WEEKDAYS[m["weekday"]]
    delta = (target - reference.weekday()) % 7 or 7
    return FoundDate(reference + timedelta(days=delta), m.start(), m.end())


def find_period(text: str, reference: date, *, folded: str | None = None) -> FoundDate | None:
    """ "two more weeks", "dos semanas más", "15 días adicionales": the reference date plus that."""
    low = folded if folded is not None else fold(text)
    m = _PERIOD_RE.search(low)
    if not m:
        return None
    raw = m["count"]
    count = int(raw) if raw.isdigit() else _NUMBERS.get(raw, 0)
    if count <= 0 or count > 366:
        return None
    unit = m["unit"]
    if unit.startswith(("week", "semana")):
        value = reference + timedelta(weeks=count)
    elif unit.startswith(("day", "dia")):
        value = reference + timedelta(days=count)
    else:
        value = _add_months(reference, count)
    return FoundDate(value, m.start(), m.end())


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _complete(year: int | None, month: int, day: int, reference: date) -> date | None:
    if year is not None:
        return _make(year, month, day)
    floor = reference - timedelta(days=31)
    for candidate_year in (reference.year - 1, reference.year, reference.year + 1):
        candidate = _make(candidate_year, month, day)
        if candidate is not None and candidate >= floor:
            return candidate
    return None


def _numeric(a: int, b: int, year_text: str | None, reference: date) -> date | None:
    day, month = a, b
    if month > 12 and day <= 12:
        day, month = month, day
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    year = None
    if year_text:
        year = int(year_text)
        if len(year_text) == 2:
            year += 2000
    return _complete(year, month, day, reference)


def _add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    for day in (start.day, 30, 29, 28):
        value = _make(year, month, day)
        if value is not None:
            return value
    return start


_RELATIVE_RE = re.compile(
    r"\b(?P<end>(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?month|(?:a\s+)?(?:fin(?:es)?|final(?:es)?)\s+de(?:l)?"
    r"\s+mes)\b"
    r"|\b(?P<month>next\s+month|(?:el\s+)?proximo\s+mes|(?:el\s+)?mes\s+que\s+viene)\b"
    r"|\b(?P<week>next\s+week|(?:la\s+)?proxima\s+semana|(?:la\s+)?semana\s+que\s+viene)\b"
    r"|\b(?P<day>tomorrow|(?<!esta\s)(?<!la\s)manana(?!\s+(?:por|de)\s+la))\b"
)


def find_relative(text: str, reference: date, *, folded: str | None = None) -> FoundDate | None:
    """ "next week", "la próxima semana", "tomorrow", "a fin de mes": a date counted from the reference."""
    low = folded if folded is not None else fold(text)
    m = _RELATIVE_RE.search(low)
    if not m:
        return None
    if m["end"]:
        value = _add_months(reference.replace(day=1), 1) - timedelta(days=1)
    elif m["month"]:
        value = _add_months(reference, 1)
    elif m["week"]:
        value = reference + timedelta(weeks=1)
    else:
        value = reference + timedelta(days=1)
    return FoundDate(value, m.start(), m.end())

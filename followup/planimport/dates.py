"""Date phrases in plan text, and what each one means for a deadline.

A plan writes dates many ways ("AUGUST 15TH, 2006", "27-29 NOVEMBER, 2006",
"OCT 05", "NOVEMBER, 2006", "15 de agosto de 2006"). Whether a date is a
deadline depends on the words around it, not on the date itself: "BY
AUGUST 2006" and "(OCTOBER 2006)" after an action set a deadline, "– RCGM,
OCT 05" after an item only says when it was agreed, and a bare date next to a
past-tense verb is the date of an event. So this module finds dates and
classifies each by its left context; :mod:`.obligations` then decides which
promise, if any, it belongs to.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

MONTHS: dict[str, int] = {
    "JANUARY": 1, "JAN": 1, "ENERO": 1, "ENE": 1,
    "FEBRUARY": 2, "FEB": 2, "FEBRERO": 2,
    "MARCH": 3, "MAR": 3, "MARZO": 3,
    "APRIL": 4, "APR": 4, "ABRIL": 4, "ABR": 4,
    "MAY": 5, "MAYO": 5,
    "JUNE": 6, "JUN": 6, "JUNIO": 6,
    "JULY": 7, "JUL": 7, "JULIO": 7,
    "AUGUST": 8, "AUG": 8, "AGOSTO": 8, "AGO": 8,
    "SEPTEMBER": 9, "SEPT": 9, "SEP": 9, "SEPTIEMBRE": 9, "SETIEMBRE": 9,
    "OCTOBER": 10, "OCT": 10, "OCTUBRE": 10,
    "NOVEMBER": 11, "NOV": 11, "NOVIEMBRE": 11,
    "DECEMBER": 12, "DEC": 12, "DICIEMBRE": 12, "DIC": 12,
}  # fmt: skip

MONTH_NAMES_EN = (
    "", "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
MONTH_NAMES_ES = (
    "", "enero", "febrero", "marzo", "abril", "mayo", "junio",
    "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
)  # fmt: skip

_MONTH = "(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_ORD = r"(?:\s?(?:ST|ND|RD|TH))?"
_DAY = rf"\d{{1,2}}{_ORD}"
_RANGE_SEP = r"\s*(?:-|–|—|TO|AL)\s*"

#: Meeting kinds as plans name them; the value is the ``kind`` of the load format.
MEETING_WORDS: dict[str, str] = {
    "REGIONAL CONSULTATION GROUP ON MIGRATION": "rcgm",
    "GRUPO REGIONAL DE CONSULTA SOBRE MIGRACIÓN": "rcgm",
    "RCGM": "rcgm",
    "GRCM": "rcgm",
    "VICE-MINISTERIAL MEETING": "rcm",
    "VICEMINISTERIAL MEETING": "rcm",
    "REGIONAL CONFERENCE ON MIGRATION": "rcm",
    "RCM": "rcm",
    "CRM": "rcm",
    "NETWORK": "network",
}
KIND_RE = (
    "(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(MEETING_WORDS, key=len, reverse=True)) + ")"
)

_FLAGS = re.IGNORECASE | re.VERBOSE

_ISO = re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d1>\d{2})\b")
_NUMERIC = re.compile(r"\b(?P<d1>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})\b")
_DMY = re.compile(
    rf"""\b(?P<d1>\d{{1,2}}){_ORD}(?:{_RANGE_SEP}(?P<d2>\d{{1,2}}){_ORD})?\s*(?:DE\s+)?(?:,\s*)?
    (?P<mn>{_MONTH})\s*,?\s*(?:DE(?:L)?\s+)?(?P<y>\d{{4}})\b""",
    _FLAGS,
)
_MDY = re.compile(
    rf"""\b(?P<mn>{_MONTH})\s+(?P<d1>\d{{1,2}}){_ORD}(?:{_RANGE_SEP}(?P<d2>\d{{1,2}}){_ORD})?\s*,?\s+(?P<y>\d{{4}})\b""",
    _FLAGS,
)
_MY = re.compile(rf"""\b(?P<mn>{_MONTH})\s*,?\s+(?:DE(?:L)?\s+)?(?P<y>\d{{4}}|\d{{2}})(?![\w/-])""", _FLAGS)


@dataclass(frozen=True)
class DateValue:
    """A calendar date or month; a day range keeps its last day in ``end``."""

    start: date
    end: date
    precision: str  # "day" | "month"

    @property
    def due(self) -> date:
        """The deadline it sets: the day itself, or the last day of the month."""
        if self.precision == "month":
            return month_end(self.start.year, self.start.month)
        return self.start


@dataclass(frozen=True)
class FoundDate:
    start: int
    end: int
    value: DateValue


@dataclass(frozen=True)
class DuePhrase:
    """A piece of text that may set when something is due.

    ``kind`` is one of:

    - ``deadline``: "BY <date>", "BY THE END OF <month>";
    - ``paren``: "(<date>)" or "(<meeting>, <date>)" right after an action;
    - ``meeting``: "DURING RCGM, 27-29 NOVEMBER, 2006";
    - ``weak``: "IN MARCH 2007" (a time, less surely a deadline);
    - ``each_meeting``: "PRIOR TO EACH MEETING OF THE RCGM";
    - ``every``: "SEMI-ANNUALLY";
    - ``meeting_ref``: "AT THE XI RCM" (a meeting the text gives no date for);
    - ``attribution``: "– RCGM, OCT 05" (when something was agreed: never a deadline);
    - ``bare``: any other date (the date of an event).
    """

    kind: str
    start: int
    end: int
    text: str
    value: DateValue | None = None
    meeting_kind: str | None = None
    days_before: int | None = None
    every_months: int | None = None

    @property
    def sets_deadline(self) -> bool:
        return self.kind not in ("attribution", "bare")


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months, staying at the month's end when it was there."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    at_end = day.day == calendar.monthrange(day.year, day.month)[1]
    return date(year, month, last if at_end else min(day.day, last))


def meeting_kind(word: str) -> str:
    """The load-format kind for a meeting word ("RCGM" -> "rcgm")."""
    key = re.sub(r"\s+", " ", word.strip().upper())
    return MEETING_WORDS.get(key, "other")


def _year(raw: str) -> int:
    value = int(raw)
    if len(raw) == 2:
        return 2000 + value if value < 70 else 1900 + value
    return value


def _value(m: re.Match[str]) -> DateValue | None:
    groups = m.groupdict()
    month = int(groups["m"]) if groups.get("m") else MONTHS[groups["mn"].rstrip(".").upper()]
    year = _year(groups["y"])
    try:
        if groups.get("d1") is None:
            first = date(year, month, 1)
            return DateValue(first, first, "month")
        start = date(year, month, int(groups["d1"]))
        end = date(year, month, int(groups["d2"])) if groups.get("d2") else start
    except ValueError:
        return None
    if end < start:
        return None
    return DateValue(start, end, "day")


def find_dates(text: str) -> list[FoundDate]:
    """Every date or month written in ``text``, left to right, without overlaps."""
    found: list[FoundDate] = []
    taken: list[tuple[int, int]] = []
    for pattern in (_ISO, _NUMERIC, _DMY, _MDY, _MY):
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            value = _value(m)
            taken.append((m.start(), m.end()))  # an impossible date is not re-read as a month
            if value is None:
                continue
            found.append(FoundDate(m.start(), m.end(), value))
    return sorted(found, key=lambda f: f.start)


_NUMBER_WORDS = {
    "A": 1, "AN": 1, "ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4, "FIVE": 5, "SIX": 6, "SEVEN": 7,
    "EIGHT": 8, "NINE": 9, "TEN": 10, "TWELVE": 12, "FOURTEEN": 14, "FIFTEEN": 15, "TWENTY": 20, "THIRTY": 30,
}  # fmt: skip
_NUMBER = r"(?:\d{1,3}|" + "|".join(_NUMBER_WORDS) + ")"

_EACH_MEETING = re.compile(
    rf"""(?:(?P<n>{_NUMBER})\s+(?P<unit>DAYS?|WEEKS?|MONTHS?)\s+)?
    (?P<rel>IN\s+PREPARATION\s+FOR|PRIOR\s+TO|BEFORE|AHEAD\s+OF|IN\s+ADVANCE\s+OF|IN|AT|DURING|FOR)\s+
    (?:EACH|EVERY|ALL)\s+
    (?:(?:MEETING|SESSION)S?\s+OF\s+(?:THE\s+)?(?P<k1>{KIND_RE})|(?P<k2>{KIND_RE})(?:\s+(?:MEETING|SESSION)S?)?)\b""",
    _FLAGS,
)
_EVERY = (
    (re.compile(r"\bSEMI-?ANNUAL(?:LY)?\b|\bTWICE\s+A\s+YEAR\b|\bSEMESTRAL(?:MENTE)?\b", re.I), 6),
    (re.compile(r"\bANNUALLY\b|\b(?:EVERY|EACH|ONCE\s+A)\s+YEAR\b|\bYEARLY\b|\bANUALMENTE\b", re.I), 12),
    (re.compile(r"\bQUARTERLY\b|\bTRIMESTRAL(?:MENTE)?\b", re.I), 3),
    (re.compile(r"\bMONTHLY\b|\b(?:EVERY|EACH)\s+MONTH\b|\bMENSUALMENTE\b", re.I), 1),
    (re.compile(rf"\bEVERY\s+(?P<n>{_NUMBER})\s+MONTHS\b", re.I), 0),
)
_ORDINAL = (
    r"(?:NEXT|[IVXL]+|\d{1,2}(?:ST|ND|RD|TH)|FIRST|SECOND|THIRD|FOURTH|FIFTH|SIXTH|SEVENTH|EIGHTH|NINTH|TENTH"
    r"|ELEVENTH|TWELFTH|THIRTEENTH|FOURTEENTH|FIFTEENTH)"
)
_MEETING_REF = re.compile(
    rf"""\b(?:AT|DURING|IN|FOR|BEFORE)\s+(?:(?:THE|ITS)\s+)?(?P<which>{_ORDINAL})\s+
    (?:(?:MEETING|SESSION)\s+OF\s+(?:THE\s+)?(?P<k1>{KIND_RE})|(?P<k2>{KIND_RE})|(?P<bare>MEETING))\b""",
    _FLAGS,
)

# Left contexts, matched against the text just before a date.
_BY = re.compile(
    r"""(?:\bBY|\bNO\s+LATER\s+THAN|\bNOT\s+LATER\s+THAN|\bBEFORE|\bUNTIL|\bANTES\s+DEL?|\bA\s+M[AÁ]S\s+TARDAR\s+EL?
    |\bHASTA\s+EL?)\s+(?:THE\s+|EL\s+)?(?P<end>(?:END|CLOSE)\s+OF\s+(?:THE\s+)?(?:MONTH\s+OF\s+)?|FINAL(?:ES)?\s+DE\s+)?
    (?:THE\s+MONTH\s+OF\s+)?$""",
    _FLAGS,
)
_PAREN_OPEN = re.compile(r"\(\s*(?:(?P<pre>[^()]{0,60}?)\s*,\s*)?$")
_PAREN_CLOSE = re.compile(r"^\s*\)")
_AT_MEETING = re.compile(
    rf"""\b(?:DURING|AT|IN|FOR|ON\s+THE\s+OCCASION\s+OF)\s+(?:THE\s+)?(?:MEETING\s+OF\s+(?:THE\s+)?)?
    (?P<kind>{KIND_RE})(?:\s+MEETING)?\s*,?\s*(?:HELD\s+(?:ON|IN)\s+|ON\s+)?$""",
    _FLAGS,
)
_ATTRIBUTION = re.compile(rf"(?:–|—|\s-)\s*(?:(?:{KIND_RE})\s*,?\s*)?$", re.I)
_WEAK = re.compile(r"\b(?:IN|DURING|EN|DURANTE)\s+(?:THE\s+MONTH\s+OF\s+)?$", re.I)
_KIND_IN = re.compile(rf"\b(?P<kind>{KIND_RE})\b", re.I)


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS.get(word.upper(), 0)


def _days(n: str | None, unit: str | None) -> int | None:
    if n is None or unit is None:
        return None
    return _count(n) * {"D": 1, "W": 7, "M": 30}[unit[0].upper()]


def _classify(text: str, found: FoundDate) -> DuePhrase:
    left = text[max(0, found.start - 80) : found.start]
    right = text[found.end :]
    span = text[found.start : found.end]
    by = _BY.search(left)
    if by:
        value = found.value
        if by.group("end") and value.precision == "day":
            value = DateValue(value.start, value.end, "month")
        return DuePhrase("deadline", found.start - len(by.group(0)), found.end, left[by.start() :] + span, value)
    paren = _PAREN_OPEN.search(left)
    close = _PAREN_CLOSE.match(right)
    if paren and close:
        pre = paren.group("pre") or ""
        kind_m = _KIND_IN.search(pre)
        start = found.start - len(paren.group(0))
        end = found.end + close.end()
        return DuePhrase(
            "paren",
            start,
            end,
            text[start:end],
            found.value,
            meeting_kind=meeting_kind(kind_m["kind"]) if kind_m else None,
        )
    at = _AT_MEETING.search(left)
    if at:
        start = found.start - len(at.group(0))
        return DuePhrase("meeting", start, found.end, text[start : found.end], found.value, meeting_kind(at["kind"]))
    attr = _ATTRIBUTION.search(left)
    if attr:
        start = found.start - len(attr.group(0))
        return DuePhrase("attribution", start, found.end, text[start : found.end], found.value)
    weak = _WEAK.search(left)
    if weak:
        start = found.start - len(weak.group(0))
        return DuePhrase("weak", start, found.end, text[start : found.end], found.value)
    return DuePhrase("bare", found.start, found.end, span, found.value)


def find_due_phrases(text: str) -> list[DuePhrase]:
    """Every phrase of ``text`` that says when something happens or is due, left to right."""
    phrases: list[DuePhrase] = []
    for m in _EACH_MEETING.finditer(text):
        rel = re.sub(r"\s+", " ", m["rel"].upper())
        days = _days(m["n"], m["unit"])
        if rel in ("IN", "AT", "DURING") and days is None:
            days = 0
        kind = meeting_kind(m["k1"] or m["k2"])
        phrases.append(DuePhrase("each_meeting", m.start(), m.end(), m.group(0), meeting_kind=kind, days_before=days))
    for pattern, months in _EVERY:
        for m in pattern.finditer(text):
            every = months or _count(m["n"])
            if not every:
                continue
            phrases.append(DuePhrase("every", m.start(), m.end(), m.group(0), every_months=every))
    for found in find_dates(text):
        phrases.append(_classify(text, found))
    for m in _MEETING_REF.finditer(text):
        word = m["k1"] or m["k2"]
        phrases.append(
            DuePhrase("meeting_ref", m.start(), m.end(), m.group(0), meeting_kind=meeting_kind(word) if word else None)
        )
    return _without_overlaps(phrases)


_PRIORITY = ("each_meeting", "deadline", "paren", "meeting", "every", "attribution", "weak", "bare", "meeting_ref")


def _without_overlaps(phrases: list[DuePhrase]) -> list[DuePhrase]:
    """Keep the more telling phrase where two overlap ("BY ..." over a bare date)."""
    kept: list[DuePhrase] = []
    for phrase in sorted(phrases, key=lambda p: (_PRIORITY.index(p.kind), p.start)):
        if any(phrase.start < k.end and k.start < phrase.end for k in kept):
            continue
        kept.append(phrase)
    return sorted(kept, key=lambda p: p.start)


def format_range(start: date, end: date, language: str) -> str:
    """'27-29 November 2006' / '27-29 de noviembre de 2006' for meeting titles."""
    names = MONTH_NAMES_ES if language == "es" else MONTH_NAMES_EN
    glue = " de " if language == "es" else " "
    if start == end:
        days = str(start.day)
    elif start.month == end.month:
        days = f"{start.day}-{end.day}"
    else:
        days = f"{start.day}{glue}{names[start.month]}-{end.day}"
    return f"{days}{glue}{names[end.month]}{glue}{end.year}"

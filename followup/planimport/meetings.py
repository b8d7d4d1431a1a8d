"""The meetings a plan's deadlines point at.

"TO BE PRESENTED DURING RCGM, 27-29 NOVEMBER, 2006" is due at a meeting the
data set may not know yet, so the import creates it with a stable id
(``rcgm-2006-11``). A deadline that names only the month ("(RCGM, NOVEMBER
2006)") points at the same meeting when the document gives its days
somewhere else: in another row, or in the page header that says which
meeting updated the plan ("Updated by ... (RCGM)" / "San Salvador, El
Salvador, 27-29 November 2006"), which also gives the place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from followup.planimport.cleaning import strip_markup
from followup.planimport.dates import KIND_RE, DateValue, find_dates, format_range, meeting_kind
from followup.store.dataset import MeetingRecord, Origin, Text

_KIND = re.compile(rf"\b(?P<kind>{KIND_RE})\b", re.I)
_MENTION_LEFT = re.compile(
    rf"\b(?P<kind>{KIND_RE})\b(?:\s+MEETING)?\s*,?\s*(?:HELD\s+)?(?:(?:IN|ON|OF)\s+)?(?:[A-Z][^\W\d_]+(?:\s+[A-Z][^\W\d_]+)?,\s*)?$",
    re.I,
)
_AS_OF = re.compile(r"\bAS\s+OF\s+$", re.I)
TITLES = {
    "rcgm": ("RCGM meeting", "Reunión del GRCM"),
    "rcm": ("RCM meeting", "Reunión de la CRM"),
    "network": ("Network meeting", "Reunión de la red"),
    "other": ("Meeting", "Reunión"),
}


@dataclass(frozen=True)
class KnownMeeting:
    kind: str
    start: date
    end: date
    place: str = ""


@dataclass(frozen=True)
class Edition:
    """When the plan was updated (last day of that month) and at which meeting, when it says so."""

    as_of: date | None
    meeting: KnownMeeting | None


def read_edition(notes: Iterable[str]) -> Edition:
    """The edition date and meeting from the text around the table (titles, page headers)."""
    lines = [strip_markup(n) for n in notes]
    as_of: date | None = None
    meeting: KnownMeeting | None = None
    for index, line in enumerate(lines):
        for found in find_dates(line):
            if as_of is None and _AS_OF.search(line[: found.start]):
                as_of = found.value.due
        if meeting is None and _KIND.search(line) and index + 1 < len(lines):
            meeting = _place_and_dates(lines[index + 1], meeting_kind(_KIND.search(line)["kind"]))  # type: ignore[index]
    if as_of is None and meeting is not None:
        as_of = DateValue(meeting.end, meeting.end, "month").due
    return Edition(as_of, meeting)


def _place_and_dates(line: str, kind: str) -> KnownMeeting | None:
    """ "San Salvador, El Salvador, 27-29 November 2006" -> that place and those days."""
    dates = find_dates(line)
    if len(dates) != 1 or dates[0].value.precision != "day" or line[dates[0].end :].strip(" .,"):
        return None
    place = line[: dates[0].start].strip(" ,")
    if re.search(r"\d", place):
        return None
    value = dates[0].value
    return KnownMeeting(kind, value.start, value.end, place)


def mentioned_meetings(texts: Iterable[str]) -> list[KnownMeeting]:
    """Meetings whose days the text gives: "RCGM, 2-3 DECEMBER 2004", "AT RCGM, DECEMBER 1, 2004"."""
    found: list[KnownMeeting] = []
    for text in texts:
        for date_found in find_dates(text):
            if date_found.value.precision != "day":
                continue
            m = _MENTION_LEFT.search(text[max(0, date_found.start - 60) : date_found.start])
            if m:
                value = date_found.value
                found.append(KnownMeeting(meeting_kind(m["kind"]), value.start, value.end))
    return found


def meeting_id(kind: str, start: date) -> str:
    return f"{kind}-{start.year:04d}-{start.month:02d}"


@dataclass
class MeetingBook:
    """Known meetings, and the ones deadlines have used (to be written out)."""

    known: list[KnownMeeting]
    used: dict[str, KnownMeeting] = field(default_factory=dict)

    def _place(self, kind: str, start: date, end: date) -> str:
        for k in self.known:
            if k.kind == kind and k.start == start and k.end == end and k.place:
                return k.place
        return ""

    def find(self, kind: str, value: DateValue) -> KnownMeeting | None:
        """The meeting of ``kind`` at ``value``: its days, or the one known meeting of that month."""
        if value.precision == "day":
            return KnownMeeting(kind, value.start, value.end, self._place(kind, value.start, value.end))
        same_month = {
            (k.start, k.end)
            for k in self.known
            if k.kind == kind and (k.start.year, k.start.month) == (value.start.year, value.start.month)
        }
        if len(same_month) != 1:
            return None
        start, end = same_month.pop()
        return KnownMeeting(kind, start, end, self._place(kind, start, end))

    def use(self, meeting: KnownMeeting) -> str:
        """The stable id of ``meeting``, remembering it for the data file."""
        mid = meeting_id(meeting.kind, meeting.start)
        other = self.used.get(mid)
        if other is not None and (other.start, other.end) != (meeting.start, meeting.end):
            mid = f"{mid}-{meeting.start.day:02d}"
        self.used.setdefault(mid, meeting)
        return mid

    def records(self, document: str) -> list[MeetingRecord]:
        out = []
        for mid, m in sorted(self.used.items(), key=lambda item: (item[1].start, item[0])):
            en, es = TITLES.get(m.kind, TITLES["other"])
            title = Text(f"{en}, {format_range(m.start, m.end, 'en')}", f"{es}, {format_range(m.start, m.end, 'es')}")
            out.append(MeetingRecord(mid, m.kind, title, m.start, m.end, m.place, Origin(document, 0)))
        return out

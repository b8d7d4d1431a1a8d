"""The in-memory form of data files: what ``followup load`` validates and upserts.

Parsing (:mod:`followup.store.datafile`) produces these records; loading
(:mod:`followup.schedule.loading`) writes them; the demo (:mod:`followup.store.demo`) and the
plan importer (:mod:`followup.planimport`) produce or transform them. Each
record remembers where it came from (``origin``) so that any later problem can
still be reported as ``FILE:LINE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Origin:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Text:
    """A text in English with an optional Spanish version."""

    en: str
    es: str = ""

    def get(self, language: str) -> str:
        return self.es if language == "es" and self.es else self.en


@dataclass(frozen=True)
class PartyRecord:
    code: str
    kind: str  # "country" | "organisation"
    name: Text
    timezone: str
    language: str
    member: bool
    holiday_country: str
    origin: Origin
    #: The name in running text, article included, per language; empty: the name as is.
    name_in_text: Text = Text("")


@dataclass(frozen=True)
class ContactRecord:
    key: str
    party: str
    name: str
    email: str
    role: str
    language: str | None
    timezone: str | None
    active: bool
    origin: Origin
    #: The greeting per language ("Estimada señora López:"); empty: the templates' neutral one.
    salutation: Text = Text("")


@dataclass(frozen=True)
class MeetingRecord:
    id: str
    kind: str
    title: Text
    start: date
    end: date
    place: str
    origin: Origin


@dataclass(frozen=True)
class DueRule:
    """One of the due-rule forms; ``kind`` says which fields matter.

    - ``date``: ``on`` with ``precision`` "day" or "month" (month: ``on`` is the
      last day of that month).
    - ``meeting``: ``meeting_id`` (a specific meeting) or ``meeting_kind`` (each
      meeting of that kind), due ``days_before`` days before its start.
    - ``recurring``: every ``every_months`` months from ``anchor``, optionally
      ``until``.
    """

    kind: str
    on: date | None = None
    precision: str = "day"
    meeting_id: str | None = None
    meeting_kind: str | None = None
    days_before: int = 0
    every_months: int | None = None
    anchor: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class SourceRef:
    document: str = ""
    subject: str = ""
    objective: str = ""
    text: str = ""


@dataclass(frozen=True)
class CommitmentRecord:
    id: str
    title: Text
    description: Text
    owners_all_members: bool
    owners: tuple[str, ...]
    due: DueRule
    policy: str | None
    status: str
    source: SourceRef
    origin: Origin


@dataclass
class DataSet:
    """Everything read from one or more data files."""

    parties: list[PartyRecord] = field(default_factory=list)
    contacts: list[ContactRecord] = field(default_factory=list)
    meetings: list[MeetingRecord] = field(default_factory=list)
    commitments: list[CommitmentRecord] = field(default_factory=list)
    #: Ids of proposals still waiting for a due rule (the ``undated`` section): not loaded.
    undated: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def extend(self, other: DataSet) -> None:
        self.parties.extend(other.parties)
        self.contacts.extend(other.contacts)
        self.meetings.extend(other.meetings)
        self.commitments.extend(other.commitments)
        self.undated.extend(other.undated)
        self.files.extend(other.files)

"""A plan table to proposed commitments, meetings and the promises left without a date.

Only a promise with a usable deadline becomes a commitment: a date, a month,
a meeting, a recurrence. A promise with an owner but no date (or a meeting the
plan never dates) is proposed all the same, complete but for its due rule,
flagged "no date: choose one": a person gives it a date and it is tracked;
until then it is kept beside the commitments, never lost and never chased.
Records of past events are never proposed: :mod:`.obligations` already sets
them aside.

Everything here is pure: ``today`` is only used when the plan does not say
when it was updated, to anchor recurring deadlines.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from followup.planimport.cleaning import split_sentences
from followup.planimport.dates import MONTH_NAMES_EN, DuePhrase, add_months, month_end
from followup.planimport.layout import PlanItem, plan_items
from followup.planimport.meetings import Edition, MeetingBook, mentioned_meetings, read_edition
from followup.planimport.naming import acronyms_in, id_words, make_id, sentence_case, shorten
from followup.planimport.obligations import Obligation, find_obligations
from followup.planimport.owners import MEMBER_CODES, OwnerGuess
from followup.planimport.reading import PlanTable, read_plan
from followup.store.dataset import CommitmentRecord, DueRule, MeetingRecord, Origin, SourceRef, Text

DEFAULT_LEAD_DAYS = 14

# How much each doubt lowers the confidence of a proposal.
OWNER_NOT_STATED = 0.3
OWNER_UNCLEAR = 0.3
OWNER_PARTLY_UNKNOWN = 0.1
LEAD_ASSUMED = 0.1
ANCHOR_ASSUMED = 0.1
WEAK_DATE = 0.25
MEETING_UNKNOWN = 0.2


@dataclass(frozen=True)
class Proposal:
    """A commitment proposed for the data file, with what a person should check."""

    record: CommitmentRecord
    location: str
    owner_label: str
    due_text: str
    notes: tuple[str, ...]
    confidence: float


#: Why an obligation with an owner and a verb of obligation was not proposed with a due rule.
NO_DATE = "no date"


@dataclass(frozen=True)
class Unscheduled:
    """A promise the plan gives no usable date for: proposed without a due rule, for a person to date."""

    subject: str
    objective: str
    location: str
    owner_label: str
    text: str
    reason: str
    #: The proposal as a commitment would be written, less its due rule.
    title: Text
    description: Text
    id: str = ""
    owners_all_members: bool = False
    owners: tuple[str, ...] = ()
    source: SourceRef | None = None
    notes: tuple[str, ...] = ()


@dataclass
class ImportResult:
    document: str
    edition: Edition
    commitments: list[Proposal] = field(default_factory=list)
    meetings: list[MeetingRecord] = field(default_factory=list)
    unscheduled: list[Unscheduled] = field(default_factory=list)


@dataclass
class _Doubts:
    notes: list[str] = field(default_factory=list)
    penalty: float = 0.0

    def add(self, note: str, penalty: float) -> None:
        self.notes.append(note)
        self.penalty += penalty


def _month_label(day: date) -> str:
    return f"{MONTH_NAMES_EN[day.month]} {day.year}"


class _Extractor:
    def __init__(self, table: PlanTable, today: date, lead_days: int) -> None:
        self.table = table
        self.document = table.document
        self.today = today
        self.lead_days = lead_days
        self.items = plan_items(table)
        self.edition = read_edition(table.notes)
        texts = [i.text for i in self.items]
        known = mentioned_meetings(texts)
        if self.edition.meeting is not None:
            known.append(self.edition.meeting)
        self.book = MeetingBook(known)
        self.acronyms = acronyms_in(texts)
        self.taken: set[str] = set()
        self.seen: set[tuple[str, ...]] = set()
        self.result = ImportResult(self.document, self.edition)

    def run(self) -> ImportResult:
        for item in self.items:
            for sentence in split_sentences(item.text):
                for obligation in find_obligations(sentence):
                    self.consider(item, obligation)
        self.result.meetings = self.book.records(self.document)
        # Ids after every dated proposal's: adding or dating an undated one never renames a tracked commitment.
        self.result.unscheduled = [
            replace(u, id=make_id(u.subject, u.objective, u.title.en, self.taken)) for u in self.result.unscheduled
        ]
        return self.result

    def unscheduled(self, item: PlanItem, ob: Obligation, reason: str) -> None:
        label = ob.owners.label() if ob.owners is not None else "(not stated)"
        doubts = _Doubts()
        all_members, codes = self.owners(ob.owners, doubts)
        action = ob.action or ob.text
        self.result.unscheduled.append(
            Unscheduled(
                item.subject,
                item.objective,
                item.location,
                label,
                ob.text,
                reason,
                title=Text(shorten(sentence_case(action, self.acronyms))),
                description=Text(_sentence(sentence_case(ob.text, self.acronyms))),
                owners_all_members=all_members,
                owners=codes,
                source=SourceRef(self.document, item.subject, item.objective, ob.sentence),
                notes=tuple(doubts.notes),
            )
        )

    def consider(self, item: PlanItem, ob: Obligation) -> None:
        if ob.due is None:
            if ob.owners is not None and ob.owners.stated:
                self.unscheduled(item, ob, NO_DATE)
            return
        if ob.due.kind == "meeting_ref":
            self.unscheduled(item, ob, f"due '{ob.due.text}', a meeting the plan gives no date for")
            return
        doubts = _Doubts()
        due = self.due_rule(ob.due, doubts)
        all_members, codes = self.owners(ob.owners, doubts)
        key = (item.subject.upper(), item.objective, " ".join(id_words(ob.action or ob.text)), repr(due))
        if key in self.seen:
            return
        self.seen.add(key)
        action = ob.action or ob.text
        record = CommitmentRecord(
            id=make_id(item.subject, item.objective, action, self.taken),
            title=Text(shorten(sentence_case(action, self.acronyms))),
            description=Text(_sentence(sentence_case(ob.text, self.acronyms))),
            owners_all_members=all_members,
            owners=codes,
            due=due,
            policy=None,
            status="active" if item.emphasised else "",
            source=SourceRef(self.document, item.subject, item.objective, ob.sentence),
            origin=Origin(self.document, item.line),
        )
        label = ob.owners.label() if ob.owners is not None else "(not stated)"
        confidence = round(max(0.05, 1.0 - doubts.penalty), 2)
        self.result.commitments.append(
            Proposal(record, item.location, label, ob.due.text, tuple(doubts.notes), confidence)
        )

    def owners(self, guess: OwnerGuess | None, doubts: _Doubts) -> tuple[bool, tuple[str, ...]]:
        if guess is None or not guess.stated:
            doubts.add("owner not stated: all member countries assumed", OWNER_NOT_STATED)
            return True, ()
        if guess.unclear and guess.named:
            doubts.add(
                f"also named, not a known party: {'; '.join(u.lower() for u in guess.unclear)}", OWNER_PARTLY_UNKNOWN
            )
        if guess.all_members and guess.codes:
            extra = tuple(c for c in guess.codes if c not in MEMBER_CODES)
            doubts.add("all members and others named: members listed one by one", OWNER_PARTLY_UNKNOWN)
            return False, MEMBER_CODES + extra
        if guess.codes:
            return False, guess.codes
        if guess.all_members:
            return True, ()
        doubts.add(
            f"owner unclear ({'; '.join(u.lower() for u in guess.unclear)}): all member countries assumed",
            OWNER_UNCLEAR,
        )
        return True, ()

    def due_rule(self, phrase: DuePhrase, doubts: _Doubts) -> DueRule:
        if phrase.kind == "each_meeting":
            kind = phrase.meeting_kind or "other"
            days = phrase.days_before
            if days is None:
                days = self.lead_days
                doubts.add(
                    f"lead time not stated: {days} days before each {kind.upper()} meeting assumed", LEAD_ASSUMED
                )
            return DueRule("meeting", meeting_kind=kind, days_before=days)
        if phrase.kind == "every":
            months = phrase.every_months or 12
            base = self.edition.as_of
            if base is None:
                base = month_end(self.today.year, self.today.month)
                doubts.add(
                    f"the plan does not say when it was updated: first due {months} months from now", ANCHOR_ASSUMED
                )
            anchor = add_months(base, months)
            doubts.add(
                f"first occurrence assumed {anchor.isoformat()}, {months} months after the plan's edition "
                f"({_month_label(base)})",
                ANCHOR_ASSUMED,
            )
            return DueRule("recurring", every_months=months, anchor=anchor)
        value = phrase.value
        assert value is not None  # every other kind that sets a deadline carries a date
        if phrase.meeting_kind is not None and phrase.kind in ("meeting", "paren"):
            meeting = self.book.find(phrase.meeting_kind, value)
            if meeting is not None:
                return DueRule("meeting", meeting_id=self.book.use(meeting))
            doubts.add(
                f"the plan gives no days for the {phrase.meeting_kind.upper()} meeting of {_month_label(value.start)}:"
                " due at the end of that month",
                MEETING_UNKNOWN,
            )
            return DueRule("date", on=value.due, precision="month")
        if phrase.kind == "weak":
            doubts.add(f"'{phrase.text}' taken as the deadline", WEAK_DATE)
        return DueRule("date", on=value.due, precision=value.precision)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def extract_plan(table: PlanTable, *, today: date, lead_days: int = DEFAULT_LEAD_DAYS) -> ImportResult:
    """Proposed commitments and meetings from a plan table (pure)."""
    return _Extractor(table, today, lead_days).run()


def import_plan(path: Path, *, today: date, lead_days: int = DEFAULT_LEAD_DAYS) -> ImportResult:
    """Read ``path`` (txt, docx or csv) and extract its commitments."""
    return extract_plan(read_plan(path), today=today, lead_days=lead_days)

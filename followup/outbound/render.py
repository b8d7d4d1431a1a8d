"""Email templates: typed contexts in, (subject, text, HTML) out.

Each kind of email is three templates, ``<lang>/<kind>.subject.txt``,
``<lang>/<kind>.txt`` and ``<lang>/<kind>.html``, over a per-language base
layout. An operator's ``templates_dir`` overrides any of them file by file.
A language without its own templates for a kind gets the English ones, and
then English dates too, so one email never mixes two languages.

Contexts are plain frozen dataclasses, built by the caller from database rows
(titles already picked in the recipient's language with :func:`pick`), so the
templates never reach into the database and a missing value fails loudly
(``StrictUndefined``) instead of mailing a focal point an empty sentence.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date
from babel.numbers import format_decimal

from followup.paths import templates_dir

BUNDLED_TEMPLATES = templates_dir()
FALLBACK_LANGUAGE = "en"
KINDS = ("reminder", "due_today", "overdue", "escalation", "meeting_round", "digest", "acknowledgement")
_PARTS = ("subject.txt", "txt", "html")
#: Babel locale per template language. British English writes "15 August 2026",
#: which no reader in the region can take for the 8th of March.
_LOCALES = {"en": "en_GB", "es": "es"}

_ORDINALS = {
    "en": ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"),
    "es": ("primer", "segundo", "tercer", "cuarto", "quinto", "sexto", "séptimo", "octavo", "noveno", "décimo"),
}


def pick(language: str, en: str, es: str) -> str:
    """The Spanish text for Spanish readers when there is one, else the English."""
    return es if language == "es" and es.strip() else en


# --------------------------------------------------------------------------- contexts


@dataclass(frozen=True)
class SecretariatView:
    name: str
    email: str


@dataclass(frozen=True)
class ItemView:
    """One assignment as a reader sees it: reference, what, by when, for whom."""

    assignment_id: int
    #: ``[RCM-1234]`` (see :func:`followup.outbound.tokens.reference_tag`).
    reference: str
    title: str
    due_date: date
    #: Days from the recipient's today to the due date; negative when overdue.
    days_left: int
    #: The owing party (country or organisation), in the reader's language.
    owner_name: str
    #: What to send: the commitment's description in the reader's language.
    description: str = ""
    #: Where the commitment comes from ("Plan of Action 2006-11, Objective 2.1").
    source_ref: str = ""
    state: str = "pending"
    #: Set when the deadline was extended: the date it was first due.
    original_due_date: date | None = None
    #: For the digest: reminders already sent and the last reply received.
    reminders_sent: int = 0
    last_reply_on: date | None = None
    #: This item's own page for the reader (``BASE/s/<token>``); empty without ``web.base_url``.
    link: str = ""
    #: In an escalation email: this item reached the escalation step (the copies are about it).
    escalated: bool = False
    #: The owner as running text says it ("the International Organization for Migration"); empty: the name.
    owner_in_text: str = ""

    @property
    def owner_text(self) -> str:
        return self.owner_in_text or self.owner_name

    @property
    def overdue(self) -> bool:
        return self.days_left < 0

    @property
    def days_overdue(self) -> int:
        return max(0, -self.days_left)

    @property
    def extended(self) -> bool:
        return self.original_due_date is not None and self.original_due_date != self.due_date


@dataclass(frozen=True)
class PartyItems:
    """Items grouped under one owner (digest, secretariat meeting round)."""

    party_name: str
    items: Sequence[ItemView]
    #: How many items the owner has in all, when ``items`` shows only the oldest few (0: all are shown).
    total: int = 0

    @property
    def more(self) -> int:
        """Items of this owner not listed."""
        return max(0, self.total - len(self.items))


@dataclass(frozen=True)
class ReminderContext:
    """For ``reminder``, ``due_today``, ``overdue`` and ``escalation``.

    Several items make one merged email (one per contact per day); each keeps
    its own reference.
    """

    recipient_name: str
    items: Sequence[ItemView]
    secretariat: SecretariatView
    #: The recipient's own greeting in this email's language; empty: the template's neutral one.
    salutation: str = ""
    #: Which reminder this is for a single item: the emails really sent about it, plus this one.
    reminder_number: int = 1
    #: Who is copied, as a reader names them ("Luis Pérez (punto focal alterno)", "la Secretaría Técnica").
    copied_to: Sequence[str] = ()
    #: True when a calendar file for the deadline is attached.
    has_calendar: bool = False

    def __post_init__(self) -> None:
        if not self.items:
            raise ValueError("a reminder needs at least one item")

    @property
    def owner_once(self) -> bool:
        """Every item is owed by the same party: the introduction names it, the items do not repeat it."""
        return len({i.owner_name for i in self.items}) == 1


@dataclass(frozen=True)
class MeetingView:
    title: str
    start_date: date
    end_date: date
    place: str = ""


@dataclass(frozen=True)
class RoundSummary:
    """Counts for the secretariat's copy of a meeting round."""

    parties: int
    commitments: int
    open: int
    overdue: int
    submitted: int
    confirmed: int
    waived: int


@dataclass(frozen=True)
class MeetingRoundContext:
    """Items due by an upcoming meeting.

    To an owner: ``items`` are theirs. To the secretariat: ``summary`` is set,
    ``open_by_party`` lists what is still missing and the status matrix is
    attached as CSV.
    """

    recipient_name: str
    owner_name: str
    meeting: MeetingView
    days_to_meeting: int
    items: Sequence[ItemView]
    secretariat: SecretariatView
    summary: RoundSummary | None = None
    open_by_party: Sequence[PartyItems] = ()
    has_attachment: bool = False
    #: A calendar file of the meeting and of the deadlines listed still ahead is attached.
    has_calendar: bool = False
    #: See :attr:`ReminderContext.salutation`.
    salutation: str = ""
    #: The owner as running text says it; empty: ``owner_name``.
    owner_in_text: str = ""

    @property
    def owner_text(self) -> str:
        return self.owner_in_text or self.owner_name

    #: Owners with items missing (``open_by_party`` lists the first ones by code; None: all are listed).
    open_owners_total: int | None = None
    #: The attached matrix is large and comes zipped.
    attachment_zipped: bool = False

    @property
    def more_owners(self) -> int:
        """Owners with missing items that ``open_by_party`` does not list."""
        return 0 if self.open_owners_total is None else max(0, self.open_owners_total - len(self.open_by_party))

    @property
    def for_secretariat(self) -> bool:
        return self.summary is not None


@dataclass(frozen=True)
class SubmissionView:
    item: ItemView
    #: ``submitted`` (a reply claimed it) or ``confirmed`` (the secretariat accepted it).
    state: str
    on: date
    by: str = ""


@dataclass(frozen=True)
class FailureView:
    recipient: str
    reference: str
    kind: str
    error: str
    on: date
    #: Identical failures (same recipient, state and error) collapse into one line with a count.
    count: int = 1


@dataclass(frozen=True)
class UnmatchedView:
    inbound_id: int
    sender: str
    subject: str
    received_on: date
    intent: str = "unknown"
    #: The sender as a person: the focal point's name when known.
    sender_name: str = ""
    #: For an extension request: the date asked for.
    proposed_date: date | None = None


@dataclass(frozen=True)
class OwnerRow:
    """The digest's opening table: one row per owner."""

    owner_name: str
    overdue: int
    due_soon: int
    #: Submitted by a reply, waiting for the secretariat to confirm.
    awaiting: int


@dataclass(frozen=True)
class CommitmentRow:
    """The digest's count per commitment: how many owners are late with it."""

    title: str
    overdue: int
    due_soon: int
    #: Owners with an open item of it.
    owners: int


@dataclass(frozen=True)
class AwayView:
    """A focal point whose out-of-office reply pauses their reminders."""

    contact_name: str
    owner_name: str
    back_on: date
    #: Who receives the reminders meanwhile; empty when nobody (they wait).
    stand_in: str = ""


@dataclass(frozen=True)
class RelayWaitView:
    """Emails held back by the relay's quota or a throttling pause (``templates/*/_relay_wait.*``)."""

    count: int
    #: The day the oldest of them was due.
    oldest: date


@dataclass(frozen=True)
class DigestContext:
    """The weekly digest to the secretariat.

    Every list is bounded, so the email stays small whatever the size of
    the database: each ``*_total`` says how many there are in all when a
    list shows only the first ones (None: the list is complete), and the
    attachment lists every open item.
    """

    secretariat: SecretariatView
    period_start: date
    period_end: date
    overdue_by_party: Sequence[PartyItems] = ()
    upcoming: Sequence[ItemView] = ()
    upcoming_days: int = 14
    submissions: Sequence[SubmissionView] = ()
    failures: Sequence[FailureView] = ()
    unmatched: Sequence[UnmatchedView] = ()
    owners: Sequence[OwnerRow] = ()
    away: Sequence[AwayView] = ()
    #: Owners with open items and no contact we can write to.
    unreachable: Sequence[str] = ()
    #: Emails waiting for the relay's quota; None when none waits.
    waiting_for_relay: RelayWaitView | None = None
    commitments: Sequence[CommitmentRow] = ()
    overdue_total: int | None = None
    upcoming_total: int | None = None
    owners_total: int | None = None
    commitments_total: int | None = None
    #: Owners with overdue items (``overdue_by_party`` lists the most overdue ones).
    overdue_owners_total: int | None = None
    submissions_total: int | None = None
    failures_total: int | None = None
    unmatched_total: int | None = None
    #: How many items ``overdue_by_party`` shows per owner (the oldest ones).
    items_per_owner: int = 0
    #: The attached list of items: its file name ("" when none), how many items it lists and how many there are.
    attachment: str = ""
    attachment_items: int = 0
    items_total: int = 0

    @property
    def overdue_count(self) -> int:
        if self.overdue_total is not None:
            return self.overdue_total
        return sum(group.total or len(group.items) for group in self.overdue_by_party)

    @property
    def upcoming_count(self) -> int:
        return len(self.upcoming) if self.upcoming_total is None else self.upcoming_total

    @property
    def more(self) -> dict[str, int]:
        """How many of each list are not shown: owners, commitments, overdue_owners, upcoming, submissions, ..."""
        pairs = {
            "owners": (self.owners_total, self.owners),
            "commitments": (self.commitments_total, self.commitments),
            "overdue_owners": (self.overdue_owners_total, self.overdue_by_party),
            "upcoming": (self.upcoming_total, self.upcoming),
            "submissions": (self.submissions_total, self.submissions),
            "failures": (self.failures_total, self.failures),
            "unmatched": (self.unmatched_total, self.unmatched),
        }
        return {name: max(0, total - len(shown)) if total is not None else 0 for name, (total, shown) in pairs.items()}

    @property
    def attachment_partial(self) -> bool:
        return bool(self.attachment) and self.attachment_items < self.items_total

    @property
    def is_empty(self) -> bool:
        return not (
            self.overdue_by_party
            or self.upcoming
            or self.submissions
            or self.failures
            or self.unmatched
            or self.owners
            or self.away
            or self.unreachable
            or self.waiting_for_relay
        )


@dataclass(frozen=True)
class AckContext:
    """An acknowledgement of a focal point's reply: what we recorded."""

    recipient_name: str
    #: ``confirmation``, ``extension``, ``question`` or ``unknown``.
    intent: str
    items: Sequence[ItemView]
    secretariat: SecretariatView
    received_subject: str
    received_on: date
    proposed_date: date | None = None
    attachments: Sequence[str] = field(default_factory=tuple)
    #: A confirmation that did not say which of several items it covers: the email asks.
    ask_which: bool = False
    #: See :attr:`ReminderContext.salutation`.
    salutation: str = ""


Context = ReminderContext | MeetingRoundContext | DigestContext | AckContext


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    #: The language the templates were actually written in (after fallback).
    language: str


# --------------------------------------------------------------------------- filters


def _locale(language: str) -> str:
    return _LOCALES.get(language, language)


#: Spanish running text writes "el lunes 17 de agosto de 2026", without Babel's comma after the weekday.
_PATTERNS = {("es", "full"): "EEEE d 'de' MMMM 'de' y"}


@functools.lru_cache(maxsize=4096)
def _format_date(day: date, language: str, fmt: str) -> str:
    result: str = format_date(day, format=_PATTERNS.get((language, fmt), fmt), locale=_locale(language))
    return result


def _date_range(language: str, start: date, end: date) -> str:
    """``10–11 September 2026`` / ``10–11 de septiembre de 2026``; full dates across months."""
    if start == end:
        return _format_date(start, language, "long")
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{_format_date(end, language, 'long')}"
    return f"{_format_date(start, language, 'long')} – {_format_date(end, language, 'long')}"


def _date_span(language: str, start: date, end: date) -> str:
    """A period in running text: "del 31 de agosto al 2 de septiembre de 2026", "from 31 August to 2 September 2026"."""
    es = language == "es"
    if start == end:
        return ("el " if es else "on ") + _format_date(start, language, "long")
    if start.year != end.year:
        first = _format_date(start, language, "long")
    elif start.month != end.month:
        first = format_date(start, format="d 'de' MMMM" if es else "d MMMM", locale=_locale(language))
    else:
        first = str(start.day)
    last = _format_date(end, language, "long")
    return f"del {first} al {last}" if es else f"from {first} to {last}"


def _number(language: str, value: float) -> str:
    result: str = format_decimal(value, locale=_locale(language))
    return result


def _ordinal(language: str, value: int) -> str:
    """``second`` / ``segundo``; digits past the tenth."""
    words = _ORDINALS.get(language, _ORDINALS["en"])
    if 1 <= value <= len(words):
        return words[value - 1]
    return f"{value}.º" if language == "es" else f"{value}th"


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def _de(name: str) -> str:
    """Spanish "de" before a name, contracted as the grammar asks ("del Ecuador", "de la OIM").

    Only a lower-case article contracts: "El" belonging to a proper name stays ("de El Salvador").
    """
    return f"del {name[3:]}" if name.startswith("el ") else f"de {name}"


# --------------------------------------------------------------------------- renderer


class Renderer:
    """Compiled templates for one override directory (or none).

    One Jinja environment per language, whose filters (``date``,
    ``date_range``, ``number``, ``ordinal``) and ``lang`` global are bound to
    that language: macros imported without context then stay cached across
    renders, and a date in an English fallback template is English.
    Templates are compiled once and never re-read (``auto_reload`` off): a
    daemon renders thousands of messages from the same few files.
    """

    def __init__(self, templates_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if templates_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
        loaders.append(jinja2.FileSystemLoader(str(BUNDLED_TEMPLATES)))
        self._loader = jinja2.ChoiceLoader(loaders)
        self._envs: dict[str, jinja2.Environment] = {}
        self._chosen: dict[tuple[str, str], tuple[str, tuple[jinja2.Template, ...]]] = {}

    def environment(self, language: str) -> jinja2.Environment:
        env = self._envs.get(language)
        if env is None:
            env = jinja2.Environment(
                loader=self._loader,
                undefined=jinja2.StrictUndefined,
                autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
                auto_reload=False,
            )
            env.filters["date"] = lambda day, fmt="long": _format_date(day, language, fmt)
            env.filters["date_range"] = functools.partial(_date_range, language)
            env.filters["date_span"] = functools.partial(_date_span, language)
            env.filters["number"] = functools.partial(_number, language)
            env.filters["ordinal"] = functools.partial(_ordinal, language)
            env.filters["de"] = _de
            env.globals["plural"] = _plural
            env.globals["lang"] = language
            self._envs[language] = env
        return env

    def templates(self, kind: str, language: str) -> tuple[str, tuple[jinja2.Template, ...]]:
        """The language used and the (subject, text, html) templates for a kind."""
        key = (kind, language)
        chosen = self._chosen.get(key)
        if chosen is None:
            if kind not in KINDS:
                raise ValueError(f"unknown email kind {kind!r}; expected one of {', '.join(KINDS)}")
            chosen = self._load(kind, language) or self._load(kind, FALLBACK_LANGUAGE)
            if chosen is None:
                raise jinja2.TemplateNotFound(f"{FALLBACK_LANGUAGE}/{kind}.*")
            self._chosen[key] = chosen
        return chosen

    def _load(self, kind: str, language: str) -> tuple[str, tuple[jinja2.Template, ...]] | None:
        env = self.environment(language)
        try:
            parts = tuple(env.get_template(f"{language}/{kind}.{part}") for part in _PARTS)
        except jinja2.TemplateNotFound:
            return None
        for template in parts:
            # Jinja hands a template its globals as a ChainMap over the environment's and copies
            # them into a fresh dict on every render; a plain dict copies several times faster. The
            # environment's globals are all set before the first template is loaded, so a snapshot
            # is the same mapping.
            template.globals = dict(template.globals)
        return language, parts

    def render(self, kind: str, language: str, context: Context) -> Rendered:
        lang, (subject_t, text_t, html_t) = self.templates(kind, language)
        values = context_values(context)
        values["kind"] = kind
        subject = " ".join(subject_t.render(values).split())
        return Rendered(subject=subject, text=text_t.render(values), html=html_t.render(values), language=lang)


def context_values(context: Context) -> dict[str, Any]:
    """The top-level names a template sees: the dataclass fields and its properties."""
    cls: type = type(context)
    return {name: getattr(context, name) for name in _names(cls)}


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    """A context class's fields, then its properties (computed once per class: ``fields()`` is slow)."""
    properties = tuple(name for name, value in vars(cls).items() if isinstance(value, property))
    return (*(f.name for f in fields(cls)), *properties)


@functools.lru_cache(maxsize=8)
def renderer_for(templates_dir: Path | None) -> Renderer:
    """One shared :class:`Renderer` per override directory."""
    return Renderer(templates_dir)


def render(kind: str, language: str, context: Context, *, templates_dir: Path | None = None) -> Rendered:
    """Render one email kind in ``language`` (English when that language has no templates)."""
    return renderer_for(templates_dir).render(kind, language, context)

"""Reading data files: YAML (any of the five lists) and CSV (contacts).

Every problem is collected, never raised one at a time, and located as
``FILE:LINE`` so that a secretariat officer editing a file can fix all of
them in one pass. Nothing here touches the database; references to parties
and meetings that live only in the database are checked by
:mod:`followup.schedule.loading`.
"""

from __future__ import annotations

import calendar
import csv
import re
from collections.abc import Iterable, Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from babel import Locale
from email_validator import EmailNotValidError, validate_email

from followup.errors import DataFileError, Problem
from followup.settings import LANGUAGES
from followup.store.dataset import (
    CommitmentRecord,
    ContactRecord,
    DataSet,
    DueRule,
    MeetingRecord,
    Origin,
    PartyRecord,
    SourceRef,
    Text,
)
from followup.store.vocabulary import CONTACT_ROLES, MEETING_KINDS

#: ``undated`` holds proposals that wait for a due rule (``followup import-plan`` writes them):
#: an entry given a ``due`` is read as a commitment, the others are only counted.
SECTIONS = ("countries", "organisations", "contacts", "meetings", "commitments", "undated")
CONTACT_CSV_COLUMNS = (
    "id",
    "party",
    "name",
    "email",
    "role",
    "language",
    "timezone",
    "active",
    "salutation_en",
    "salutation_es",
)
#: A contact in YAML: the CSV columns, with the greetings as one mapping ``salutation: {en, es}``.
_CONTACT_YAML_KEYS = (*CONTACT_CSV_COLUMNS[:-2], "salutation")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
_ORG_RE = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
ALL_MEMBERS = "all-members"
_CSV_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class _LineDict(dict[str, Any]):
    """A mapping that remembers the line of its first key and of each key."""

    line: int = 0
    key_lines: dict[str, int]


class _Loader(yaml.SafeLoader):
    """Safe loader that records line numbers and leaves dates as strings.

    Dates stay strings so that an impossible date ("2006-02-30") becomes a
    located problem instead of an exception deep inside PyYAML.
    """


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    result = _LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[str(key)] = loader.construct_object(value_node, deep=True)
        result.key_lines[str(key)] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Collector:
    """Gathers problems for one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def origin(self, line: int) -> Origin:
        return Origin(self.file, line)


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes, as Babel knows them."""
    names = Locale("en").territories
    return frozenset(
        k for k in names if isinstance(k, str) and len(k) == 2 and k.isalpha() and k not in {"EU", "UN", "EZ"}
    )


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_date(value: object) -> date | None:
    """An ISO date, or None when it is not one (or not a possible day)."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        return None


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def normalise_email(value: str) -> str:
    """Validate syntax only (no DNS: example domains must pass) and normalise."""
    return validate_email(value, check_deliverability=False).normalized


def _line(item: Any, key: str | None = None) -> int:
    if isinstance(item, _LineDict):
        if key is not None and key in item.key_lines:
            return item.key_lines[key]
        return item.line
    return 0


def _text(c: _Collector, item: _LineDict, key: str, *, required: bool) -> Text | None:
    value = item.get(key)
    if value is None or value == "":
        if required:
            c.add(_line(item), f"missing '{key}'")
        return None if required else Text("")
    if isinstance(value, str):
        return Text(value.strip())
    if isinstance(value, dict):
        unknown = set(value) - set(LANGUAGES)
        if unknown:
            c.add(_line(item, key), f"'{key}' has unknown language(s) {sorted(unknown)}: expected en and es")
            return None
        en = str(value.get("en") or "").strip()
        es = str(value.get("es") or "").strip()
        if not en:
            if required:
                c.add(_line(item, key), f"'{key}' needs an English text (en)")
                return None
            en = es
        return Text(en, es)
    c.add(_line(item, key), f"'{key}' must be a text or a mapping {{en: ..., es: ...}}")
    return None


def _per_language(c: _Collector, item: _LineDict, key: str) -> Text:
    """An optional text that exists per language, each on its own.

    Unlike :func:`_text` nothing is borrowed across languages: an English greeting
    or article in a Spanish email is worse than the neutral default.
    """
    value = item.get(key)
    if value is None or value == "":
        return Text("")
    if not isinstance(value, dict):
        c.add(_line(item, key), f"'{key}' must be a mapping {{en: ..., es: ...}}: each language has its own")
        return Text("")
    unknown = set(value) - set(LANGUAGES)
    if unknown:
        c.add(_line(item, key), f"'{key}' has unknown language(s) {sorted(unknown)}: expected en and es")
        return Text("")
    return Text(str(value.get("en") or "").strip(), str(value.get("es") or "").strip())


def _str(c: _Collector, item: _LineDict, key: str, *, required: bool = True, default: str = "") -> str | None:
    value = item.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            c.add(_line(item), f"missing '{key}'")
            return None
        return default
    if isinstance(value, dict | list):
        c.add(_line(item, key), f"'{key}' must be a single value")
        return None
    return str(value).strip()


def _bool(c: _Collector, item: _LineDict, key: str, default: bool) -> bool:
    value = item.get(key, default)
    if isinstance(value, bool):
        return value
    c.add(_line(item, key), f"'{key}' must be true or false, not {value!r}")
    return default


def _zone(c: _Collector, item: _LineDict, key: str, *, required: bool) -> str | None:
    value = _str(c, item, key, required=required)
    if value and not valid_zone(value):
        c.add(_line(item, key), f"unknown time zone {value!r} (expected an IANA name such as America/Tegucigalpa)")
        return None
    return value


def _language(c: _Collector, item: _LineDict, key: str, *, required: bool) -> str | None:
    value = _str(c, item, key, required=required)
    if value and value not in LANGUAGES:
        c.add(_line(item, key), f"unknown language {value!r} (expected one of: {', '.join(LANGUAGES)})")
        return None
    return value


def _unknown_keys(c: _Collector, item: _LineDict, allowed: Iterable[str], what: str) -> None:
    for key in item:
        if key not in allowed:
            c.add(_line(item, key), f"unknown field '{key}' in {what}")


def _party(c: _Collector, item: _LineDict, kind: str) -> PartyRecord | None:
    allowed = ("code", "name", "name_in_text", "timezone", "language", "member", "holidays", "active")
    _unknown_keys(c, item, allowed, "a country" if kind == "country" else "an organisation")
    code = _str(c, item, "code")
    name = _text(c, item, "name", required=True)
    name_in_text = _per_language(c, item, "name_in_text")
    zone = _zone(c, item, "timezone", required=True)
    language = _language(c, item, "language", required=True)
    member = _bool(c, item, "member", kind == "country")
    if code is not None:
        if kind == "country" and code not in country_codes():
            c.add(_line(item, "code"), f"unknown country code {code!r} (expected ISO 3166 alpha-2, e.g. HN)")
            code = None
        elif kind == "organisation" and not _ORG_RE.match(code):
            c.add(_line(item, "code"), f"organisation code {code!r} must be 2-16 capital letters or digits")
            code = None
    holiday = item.get("holidays", code if kind == "country" else "")
    holiday = "" if holiday is None else str(holiday).strip()
    if holiday and holiday not in country_codes():
        c.add(_line(item, "holidays"), f"unknown holidays country {holiday!r}")
    if code is None or name is None or zone is None or language is None:
        return None
    return PartyRecord(code, kind, name, zone, language, member, holiday, c.origin(_line(item)), name_in_text)


def _contact(c: _Collector, item: _LineDict) -> ContactRecord | None:
    _unknown_keys(c, item, _CONTACT_YAML_KEYS, "a contact")
    key = _str(c, item, "id")
    party = _str(c, item, "party")
    name = _str(c, item, "name")
    raw_email = _str(c, item, "email")
    role = _str(c, item, "role", required=False, default="primary")
    language = _language(c, item, "language", required=False)
    zone = _zone(c, item, "timezone", required=False)
    active = _bool(c, item, "active", True)
    salutation = _per_language(c, item, "salutation")
    if key is not None and not _ID_RE.match(key):
        c.add(_line(item, "id"), f"id {key!r} must be lower-case letters, digits, '.', '_' or '-'")
        key = None
    email = None
    if raw_email is not None:
        try:
            email = normalise_email(raw_email)
        except EmailNotValidError as exc:
            c.add(_line(item, "email"), f"invalid email address {raw_email!r}: {exc}")
    if role not in CONTACT_ROLES:
        c.add(_line(item, "role"), f"unknown role {role!r} (expected one of: {', '.join(CONTACT_ROLES)})")
        role = None
    if key is None or party is None or name is None or email is None or role is None:
        return None
    origin = c.origin(_line(item))
    return ContactRecord(key, party, name, email, role, language or None, zone or None, active, origin, salutation)


def _meeting(c: _Collector, item: _LineDict) -> MeetingRecord | None:
    _unknown_keys(c, item, ("id", "kind", "title", "start", "end", "place"), "a meeting")
    mid = _str(c, item, "id")
    kind = _str(c, item, "kind")
    title = _text(c, item, "title", required=True)
    start_raw = _str(c, item, "start")
    start = parse_date(start_raw) if start_raw else None
    if start_raw and start is None:
        c.add(_line(item, "start"), f"impossible date {start_raw!r} (expected YYYY-MM-DD)")
    end_raw = item.get("end")
    end = start
    if end_raw not in (None, ""):
        end = parse_date(end_raw)
        if end is None:
            c.add(_line(item, "end"), f"impossible date {end_raw!r} (expected YYYY-MM-DD)")
        elif start is not None and end < start:
            c.add(_line(item, "end"), f"meeting ends ({end}) before it starts ({start})")
            end = None
    if kind is not None and kind not in MEETING_KINDS:
        c.add(_line(item, "kind"), f"unknown meeting kind {kind!r} (expected one of: {', '.join(MEETING_KINDS)})")
        kind = None
    if mid is not None and not _ID_RE.match(mid):
        c.add(_line(item, "id"), f"id {mid!r} must be lower-case letters, digits, '.', '_' or '-'")
        mid = None
    place = _str(c, item, "place", required=False) or ""
    if mid is None or kind is None or title is None or start is None or end is None:
        return None
    return MeetingRecord(mid, kind, title, start, end, place, c.origin(_line(item)))


def _due(c: _Collector, item: _LineDict) -> DueRule | None:
    due = item.get("due")
    line = _line(item, "due")
    if due is None:
        c.add(_line(item), "missing 'due' (e.g. {date: 2006-08-15})")
        return None
    if not isinstance(due, dict):
        c.add(line, "'due' must be a mapping such as {date: 2006-08-15} or {month: 2006-11}")
        return None
    keys = set(due)
    if "date" in keys:
        on = parse_date(due["date"])
        if on is None:
            c.add(line, f"impossible date {due['date']!r} (expected YYYY-MM-DD)")
            return None
        return DueRule("date", on=on, precision="day")
    if "month" in keys:
        m = _MONTH_RE.match(str(due["month"]).strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            c.add(line, f"impossible month {due['month']!r} (expected YYYY-MM)")
            return None
        return DueRule("date", on=month_end(int(m.group(1)), int(m.group(2))), precision="month")
    days = due.get("days", 0)
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 365:
        c.add(line, f"'days' must be a whole number of days from 0 to 365, not {days!r}")
        return None
    if "meeting" in keys:
        return DueRule("meeting", meeting_id=str(due["meeting"]).strip(), days_before=days)
    if "before_meeting" in keys:
        kind = str(due["before_meeting"]).strip()
        if kind not in MEETING_KINDS:
            c.add(line, f"unknown meeting kind {kind!r} (expected one of: {', '.join(MEETING_KINDS)})")
            return None
        return DueRule("meeting", meeting_kind=kind, days_before=days)
    if "every_months" in keys:
        every = due["every_months"]
        anchor = parse_date(due.get("from"))
        until_raw = due.get("until")
        until = parse_date(until_raw) if until_raw not in (None, "") else None
        if not isinstance(every, int) or isinstance(every, bool) or not 1 <= every <= 60:
            c.add(line, f"'every_months' must be a whole number from 1 to 60, not {every!r}")
            return None
        if anchor is None:
            c.add(line, f"recurring rule needs 'from' as a possible date (YYYY-MM-DD), not {due.get('from')!r}")
            return None
        if until_raw not in (None, "") and until is None:
            c.add(line, f"impossible date {until_raw!r} in 'until' (expected YYYY-MM-DD)")
            return None
        return DueRule("recurring", every_months=every, anchor=anchor, until=until)
    c.add(line, "unknown due rule: use date, month, meeting, before_meeting or every_months")
    return None


def _commitment(c: _Collector, item: _LineDict) -> CommitmentRecord | None:
    allowed = ("id", "title", "description", "owners", "due", "policy", "status", "source")
    _unknown_keys(c, item, allowed, "a commitment")
    cid = _str(c, item, "id")
    title = _text(c, item, "title", required=True)
    description = _text(c, item, "description", required=False) or Text("")
    if cid is not None and not _ID_RE.match(cid):
        c.add(_line(item, "id"), f"id {cid!r} must be lower-case letters, digits, '.', '_' or '-'")
        cid = None
    owners_raw = item.get("owners")
    all_members = False
    owners: tuple[str, ...] = ()
    if owners_raw == ALL_MEMBERS:
        all_members = True
    elif isinstance(owners_raw, list) and all(isinstance(o, str) and o.strip() for o in owners_raw):
        owners = tuple(dict.fromkeys(o.strip() for o in owners_raw))
    elif isinstance(owners_raw, str) and owners_raw.strip():
        owners = (owners_raw.strip(),)
    if not all_members and not owners:
        c.add(_line(item, "owners"), f"commitment owned by nobody: set 'owners' to {ALL_MEMBERS} or a list of codes")
    due = _due(c, item)
    source_raw = item.get("source") or {}
    if not isinstance(source_raw, dict):
        c.add(_line(item, "source"), "'source' must be a mapping (document, subject, objective, text)")
        source_raw = {}
    _unknown_keys(c, _as_linedict(source_raw, item), ("document", "subject", "objective", "text"), "a source")
    source = SourceRef(
        **{k: str(source_raw.get(k) or "").strip() for k in ("document", "subject", "objective", "text")}
    )
    policy = _str(c, item, "policy", required=False) or None
    status = _str(c, item, "status", required=False) or ""
    if cid is None or title is None or due is None or not (all_members or owners):
        return None
    return CommitmentRecord(
        cid, title, description, all_members, owners, due, policy, status, source, c.origin(_line(item))
    )


def _as_linedict(value: dict[str, Any], parent: _LineDict) -> _LineDict:
    if isinstance(value, _LineDict):
        return value
    out = _LineDict(value)
    out.line = parent.line
    out.key_lines = {}
    return out


def parse_yaml_text(text: str, file: str) -> tuple[DataSet, list[Problem]]:
    c = _Collector(file)
    data = DataSet(files=[file])
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        c.add(line, f"YAML syntax error: {problem}")
        return data, c.problems
    if doc is None:
        return data, c.problems
    if not isinstance(doc, _LineDict):
        c.add(1, f"expected a mapping with any of: {', '.join(SECTIONS)}")
        return data, c.problems
    for key in doc:
        if key not in SECTIONS:
            c.add(_line(doc, key), f"unknown section '{key}' (expected any of: {', '.join(SECTIONS)})")
    for section in SECTIONS:
        items = doc.get(section)
        if items is None:
            continue
        if not isinstance(items, list):
            c.add(_line(doc, section), f"'{section}' must be a list")
            continue
        for item in items:
            if not isinstance(item, _LineDict):
                c.add(_line(doc, section), f"each entry of '{section}' must be a mapping")
                continue
            if section == "countries":
                _append(data.parties, _party(c, item, "country"))
            elif section == "organisations":
                _append(data.parties, _party(c, item, "organisation"))
            elif section == "contacts":
                _append(data.contacts, _contact(c, item))
            elif section == "meetings":
                _append(data.meetings, _meeting(c, item))
            elif section == "undated" and "due" not in item:
                _append(data.undated, _str(c, item, "id"))
            else:
                _append(data.commitments, _commitment(c, item))
    return data, c.problems


def _append(target: list[Any], record: Any) -> None:
    if record is not None:
        target.append(record)


def parse_contacts_csv(text: str, file: str) -> tuple[DataSet, list[Problem]]:
    c = _Collector(file)
    data = DataSet(files=[file])
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [col for col in ("id", "party", "name", "email") if col not in header]
    if missing:
        c.add(1, f"CSV header lacks column(s) {', '.join(missing)}: expected {','.join(CONTACT_CSV_COLUMNS)}")
        return data, c.problems
    for index, row in enumerate(reader, start=2):
        item = _LineDict({k: v for k, v in row.items() if k is not None and v not in (None, "")})
        item.line = index
        item.key_lines = {}
        if "active" in item:
            flag = str(item["active"]).strip().lower()
            item["active"] = _CSV_BOOLS.get(flag, flag)
        greetings = {lang: item.pop(f"salutation_{lang}") for lang in LANGUAGES if f"salutation_{lang}" in item}
        if greetings:
            item["salutation"] = greetings
        _append(data.contacts, _contact(c, item))
    return data, c.problems


def _read(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFileError([Problem(str(path), 0, "file not found")]) from None
    except OSError as exc:
        raise DataFileError([Problem(str(path), 0, f"cannot read: {exc.strerror}")]) from None
    if b"\x00" in raw:
        raise DataFileError([Problem(str(path), 0, "binary file, expected YAML or CSV text")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFileError([Problem(str(path), line, "not UTF-8 text")]) from None


def parse_files(paths: Sequence[Path]) -> DataSet:
    """Parse and validate every file; raise DataFileError with all problems."""
    data = DataSet()
    problems: list[Problem] = []
    for path in paths:
        try:
            text = _read(path)
        except DataFileError as exc:
            problems.extend(exc.problems)
            continue
        if path.suffix.lower() == ".csv":
            part, found = parse_contacts_csv(text, str(path))
        elif path.suffix.lower() in (".yaml", ".yml"):
            part, found = parse_yaml_text(text, str(path))
        else:
            problems.append(Problem(str(path), 0, "unknown file type: expected .yaml, .yml or .csv"))
            continue
        data.extend(part)
        problems.extend(found)
    problems.extend(check_duplicates(data))
    if problems:
        raise DataFileError(problems)
    return data


def check_duplicates(data: DataSet) -> list[Problem]:
    """Duplicate ids within what was read (parties share one code space)."""
    problems: list[Problem] = []
    groups: list[tuple[str, Iterable[tuple[str, Origin]]]] = [
        ("code", ((p.code, p.origin) for p in data.parties)),
        ("contact id", ((c.key, c.origin) for c in data.contacts)),
        ("meeting id", ((m.id, m.origin) for m in data.meetings)),
        ("commitment id", ((c.id, c.origin) for c in data.commitments)),
    ]
    for what, items in groups:
        seen: dict[str, Origin] = {}
        for key, origin in items:
            if key in seen:
                problems.append(Problem(origin.file, origin.line, f"duplicate {what} {key!r} (first at {seen[key]})"))
            else:
                seen[key] = origin
    return problems

"""The bundled RCM demo data set and the date shift behind ``followup demo``.

The files are checked twice: as plain YAML (what a person editing them sees)
and through the real parser and loader (what ``followup demo`` does). The
shift is checked through the real occurrence rules, so "due today" means what
the daemon will mean by it.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.errors import NotFoundError
from followup.schedule.loading import apply_dataset
from followup.schedule.occurrences import occurrences
from followup.store.datafile import parse_files
from followup.store.dataset import DataSet
from followup.store.demo import DEMO_FILE_ORDER, SCENARIO_DATE, demo_dir, demo_files, month_shift, shift_demo
from followup.store.models import Assignment, Commitment, Contact, Meeting, Party
from tests.conftest import FIXTURES

REPO = Path(__file__).resolve().parents[2]
SEED_NAME = "rcm_plan_of_action_2006-11.txt"
MEMBERS = {
    "BZ": "en",
    "CA": "en",
    "CR": "es",
    "DO": "es",
    "SV": "es",
    "GT": "es",
    "HN": "es",
    "MX": "es",
    "NI": "es",
    "PA": "es",
    "US": "en",
}
ORGANISATIONS = {"IOM", "UNHCR", "UNICEF", "ILO", "TS", "PPT"}
RESERVED_DOMAIN = re.compile(r"(^|\.)(example|example\.com|example\.org|example\.net)$")
# A leap day, a year end, the scenario itself, a day before it, far future.
TODAYS = [
    date(2026, 11, 30),
    date(2028, 2, 29),
    date(2026, 12, 31),
    date(2027, 1, 1),
    SCENARIO_DATE,
    date(1999, 3, 1),
    date(2031, 7, 15),
]


# --- helpers ---------------------------------------------------------------


@cache
def _yaml(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((demo_dir() / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _section(name: str, key: str) -> list[dict[str, Any]]:
    items = _yaml(name).get(key)
    assert isinstance(items, list)
    return items


@cache
def _parsed() -> DataSet:
    """The demo as the real parser reads it (raises DataFileError on any problem)."""
    return parse_files(demo_files())


def _fresh() -> DataSet:
    return copy.deepcopy(_parsed())


def _due_dates(data: DataSet, today: date) -> dict[str, list[date]]:
    """Every occurrence's due date per commitment, by the daemon's own rules."""
    meetings = [SimpleNamespace(id=m.id, kind=m.kind, start_date=m.start) for m in data.meetings]
    result: dict[str, list[date]] = {}
    for c in data.commitments:
        r = c.due
        rule = SimpleNamespace(
            due_kind=r.kind,
            due_date=r.on,
            due_meeting_kind=r.meeting_kind,
            due_meeting_id=r.meeting_id,
            due_offset_days=r.days_before,
            recurrence_months=r.every_months,
            recurrence_anchor=r.anchor,
            recurrence_until=r.until,
        )
        result[c.id] = [o.due for o in occurrences(rule, meetings, today)]
    return result


def _month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def _assert_demo_is_alive(data: DataSet, today: date) -> None:
    dues = [d for ds in _due_dates(data, today).values() for d in ds]
    assert today in dues, "nothing due today"
    assert any(10 <= (d - today).days <= 18 for d in dues), "nothing due in about two weeks"
    assert any(d < today for d in dues), "nothing overdue"
    ahead = [(m.start - today).days for m in data.meetings if m.kind == "rcgm"]
    assert any(25 <= n <= 35 for n in ahead), f"no RCGM about a month ahead: {ahead}"


# --- the files as written ----------------------------------------------------


def test_demo_files_are_found_next_to_the_package_in_load_order() -> None:
    assert demo_dir() == REPO / "config" / "demo"
    assert [p.name for p in demo_files()] == list(DEMO_FILE_ORDER)


def test_demo_dir_override_and_missing_folder(tmp_path: Path) -> None:
    assert demo_dir(tmp_path) == tmp_path
    with pytest.raises(NotFoundError, match="no demo data files"):
        demo_files(tmp_path)
    with pytest.raises(NotFoundError):
        demo_files(tmp_path / "absent")
    for name in ("zz-extra.yaml", "commitments.yaml", "countries.yaml", "notes.txt", "a-extra.yaml"):
        (tmp_path / name).write_text("{}\n", encoding="utf-8")
    assert [p.name for p in demo_files(tmp_path)] == [
        "countries.yaml",
        "commitments.yaml",
        "a-extra.yaml",
        "zz-extra.yaml",
    ]


def test_eleven_member_countries_with_zones_languages_and_both_names() -> None:
    countries = _section("countries.yaml", "countries")
    assert {c["code"]: c["language"] for c in countries} == MEMBERS
    assert len(countries) == 11
    for c in countries:
        ZoneInfo(c["timezone"])
        assert c["timezone"].startswith("America/")
        assert c["name"]["en"]
        assert c["name"]["es"]
        assert c.get("member", True) is True
    zones = {c["code"]: c["timezone"] for c in countries}
    assert zones["CA"] == "America/Toronto"
    assert zones["US"] == "America/New_York"


def test_organisations_have_zones_languages_and_both_names() -> None:
    orgs = _section("organisations.yaml", "organisations")
    assert {o["code"] for o in orgs} == ORGANISATIONS
    for o in orgs:
        ZoneInfo(o["timezone"])
        assert o["language"] in ("en", "es")
        assert o["name"]["en"]
        assert o["name"]["es"]


def test_contacts_are_fictional_unique_and_belong_to_known_parties() -> None:
    contacts = _section("contacts.yaml", "contacts")
    parties = set(MEMBERS) | ORGANISATIONS
    ids = [c["id"] for c in contacts]
    assert len(ids) == len(set(ids))
    emails = [c["email"].lower() for c in contacts]
    assert len(emails) == len(set(emails))
    for c in contacts:
        domain = c["email"].rsplit("@", 1)[1].lower()
        assert RESERVED_DOMAIN.search(domain), f"{c['id']}: {c['email']} is not on a reserved example domain"
        assert c["party"] in parties
        assert c.get("role", "primary") in ("primary", "alternate", "cc")
        assert c.get("language", "en") in ("en", "es")
    primaries = {c["party"] for c in contacts if c.get("role", "primary") == "primary" and c.get("active", True)}
    assert primaries == parties, "every party needs one active primary focal point"
    for party in parties:
        assert 1 <= sum(1 for c in contacts if c["party"] == party and c.get("active", True)) <= 3


def test_commitments_name_existing_owners_meetings_and_their_source() -> None:
    commitments = _section("commitments.yaml", "commitments")
    meetings = _section("meetings.yaml", "meetings")
    parties = set(MEMBERS) | ORGANISATIONS
    meeting_ids = {m["id"] for m in meetings}
    meeting_kinds = {m["kind"] for m in meetings}
    ids = [c["id"] for c in commitments]
    assert len(ids) == len(set(ids))
    for c in commitments:
        owners = c["owners"]
        assert owners == "all-members" or (owners and set(owners) <= parties), c["id"]
        due = c["due"]
        if "meeting" in due:
            assert due["meeting"] in meeting_ids, c["id"]
        if "before_meeting" in due:
            assert due["before_meeting"] in meeting_kinds, c["id"]
        assert all(c["title"][lang] and c["description"][lang] for lang in ("en", "es")), c["id"]
        assert max(len(c["title"]["en"]), len(c["title"]["es"])) <= 90, c["id"]
        assert c["source"]["document"] == SEED_NAME
        assert c["source"]["subject"]
        assert c["source"]["objective"]
        assert c["source"]["text"]
        assert c.get("status", "active") == "active"


def test_source_texts_are_sentences_of_the_plan() -> None:
    plan = " ".join((FIXTURES / "seed" / SEED_NAME).read_text(encoding="utf-8").split())
    for c in _section("commitments.yaml", "commitments"):
        text = " ".join(c["source"]["text"].split())
        assert text in plan, f"{c['id']}: source text is not in the plan: {text!r}"
        assert c["source"]["subject"] in plan


def test_shifting_data_carries_no_dates_in_names() -> None:
    """Ids and texts would go stale once the demo moves its dates."""
    year = re.compile(r"\b(19|20)\d\d\b")
    for m in _section("meetings.yaml", "meetings"):
        assert not any(year.search(t) for t in (m["id"], *m["title"].values())), m["id"]
    for c in _section("commitments.yaml", "commitments"):
        texts = [c["id"], *c["title"].values(), *c["description"].values()]
        assert not any(year.search(t) for t in texts), c["id"]


def test_the_real_parser_reads_the_demo_without_problems() -> None:
    data = _parsed()
    assert len([p for p in data.parties if p.kind == "country" and p.member]) == 11
    assert {p.code for p in data.parties if p.kind == "organisation"} == ORGANISATIONS
    assert len(data.commitments) == len(_section("commitments.yaml", "commitments"))
    assert len(data.contacts) == len(_section("contacts.yaml", "contacts"))
    precisions = {c.id: c.due.precision for c in data.commitments if c.due.kind == "date"}
    assert precisions["integration-matrix"] == "day"
    assert precisions["legislation-questionnaire"] == "month"


def test_the_scenario_itself_is_alive_on_its_own_date() -> None:
    data = _parsed()
    _assert_demo_is_alive(data, SCENARIO_DATE)
    dues = _due_dates(data, SCENARIO_DATE)
    assert dues["integration-matrix"] == [date(2006, 8, 15)]
    assert dues["legislation-questionnaire"] == [date(2006, 11, 30)]
    assert dues["policy-changes-input"][0] == SCENARIO_DATE


# --- the shift ----------------------------------------------------------------


@pytest.mark.parametrize("today", TODAYS, ids=str)
def test_shifted_demo_has_items_due_today_soon_overdue_and_an_rcgm_ahead(today: date) -> None:
    shifted = shift_demo(_fresh(), today)
    _assert_demo_is_alive(shifted, today)
    dues = _due_dates(shifted, today)
    assert dues["policy-changes-input"][0] == today
    assert dues["comparative-matrix"][0] == today + timedelta(days=14)
    assert dues["integration-matrix"] == [today - timedelta(days=76)]
    meetings = {m.id: m for m in shifted.meetings}
    assert meetings["rcgm-san-salvador"].start == today + timedelta(days=28)


@pytest.mark.parametrize("today", TODAYS, ids=str)
def test_shift_keeps_the_data_set_consistent(today: date) -> None:
    original = _fresh()
    shifted = shift_demo(original, today)
    delta = today - SCENARIO_DATE
    before = {m.id: m for m in original.meetings}
    for m in shifted.meetings:
        assert m.start == before[m.id].start + delta
        assert m.end - m.start == before[m.id].end - before[m.id].start
    starts = {m.id: m.start for m in shifted.meetings}
    assert starts["rcgm-san-salvador"] - starts["network-san-salvador"] == timedelta(days=1)
    rules = {c.id: c.due for c in original.commitments}
    for c in shifted.commitments:
        old = rules[c.id]
        assert c.due.kind == old.kind
        assert c.due.precision == old.precision
        assert (c.due.meeting_id, c.due.meeting_kind, c.due.days_before) == (
            old.meeting_id,
            old.meeting_kind,
            old.days_before,
        )
        if old.kind == "date":
            assert old.on is not None
            assert c.due.on is not None
            if old.precision == "day":
                assert c.due.on == old.on + delta
            else:
                assert _month_end(c.due.on), c.id
                # Whole months stand in for the day shift: never more than about half a month off.
                assert abs((c.due.on - (old.on + delta)).days) <= 20, c.id
        if old.kind == "recurring":
            assert c.due.anchor is not None
            assert c.due.until is not None
            assert c.due.every_months == old.every_months
            assert _month_end(c.due.anchor)
            assert _month_end(c.due.until)
            assert c.due.anchor < c.due.until
    # Everything else passes through untouched.
    assert shifted.parties == original.parties
    assert shifted.contacts == original.contacts
    assert shifted.files == original.files
    assert [c.id for c in shifted.commitments] == [c.id for c in original.commitments]
    assert [(c.title, c.owners, c.source, c.origin) for c in shifted.commitments] == [
        (c.title, c.owners, c.source, c.origin) for c in original.commitments
    ]


def test_month_precision_items_keep_their_order_and_month_spacing() -> None:
    original = _fresh()
    shifted = shift_demo(original, date(2028, 2, 29))
    months = {c.id: c.due.on for c in shifted.commitments if c.due.precision == "month"}
    old = {c.id: c.due.on for c in original.commitments if c.due.precision == "month"}
    assert months["legislation-questionnaire"] == date(2028, 3, 31)
    assert months["migration-manual-files"] == date(2028, 2, 29)
    index = {k: v.year * 12 + v.month for k, v in months.items() if v}
    old_index = {k: v.year * 12 + v.month for k, v in old.items() if v}
    gaps = {index[k] - old_index[k] for k in index}
    assert len(gaps) == 1


def test_shift_is_pure_and_the_scenario_date_is_the_identity() -> None:
    data = _fresh()
    snapshot = copy.deepcopy(data)
    shifted = shift_demo(data, date(2026, 11, 30))
    assert data == snapshot
    assert shifted != data
    assert shifted.meetings is not data.meetings
    assert shifted.commitments is not data.commitments
    assert shift_demo(data, SCENARIO_DATE) == data


@pytest.mark.parametrize(
    ("days", "months"),
    [
        (0, 0),  # 31 Oct stays 31 Oct
        (1, 0),  # 1 Nov: 31 Oct is nearer than 30 Nov
        (15, 1),  # 15 Nov: 31 Oct and 30 Nov are both 15 days away; a tie goes to the later
        (16, 1),  # 16 Nov: 30 Nov is nearer
        (-16, -1),  # 15 Oct: 30 Sep is 15 back, 31 Oct 16 on
        (365, 12),
    ],
)
def test_month_shift_picks_the_nearest_month_end(days: int, months: int) -> None:
    assert month_shift(days) == months


@settings(max_examples=150, deadline=None)
@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31)))
def test_any_today_gives_a_live_demo(today: date) -> None:
    shifted = shift_demo(_parsed(), today)
    _assert_demo_is_alive(shifted, today)
    for c in shifted.commitments:
        if c.due.precision == "month":
            assert c.due.on is not None
            assert _month_end(c.due.on)


# --- what ``followup demo`` does with it ------------------------------------------


def test_shifted_demo_loads_and_reloads_on_another_day(sqlite_engine: Engine) -> None:
    first = date(2026, 11, 30)
    apply_dataset(sqlite_engine, shift_demo(_fresh(), first), now=datetime.combine(first, time(12), UTC))
    with Session(sqlite_engine) as session:
        due_today = session.exec(
            select(Assignment).where(Assignment.commitment_id == "policy-changes-input", Assignment.due_date == first)
        ).all()
        assert {a.party_code for a in due_today} == set(MEMBERS)
        overdue = session.exec(select(Assignment).where(Assignment.due_date < first)).all()
        assert {a.commitment_id for a in overdue} >= {"integration-matrix", "migration-profile"}
        rcgm = session.get(Meeting, "rcgm-san-salvador")
        assert rcgm is not None
        assert rcgm.start_date == first + timedelta(days=28)
        counts = [len(session.exec(select(t)).all()) for t in (Party, Contact, Meeting, Commitment)]

    second = date(2027, 3, 1)
    report = apply_dataset(sqlite_engine, shift_demo(_fresh(), second), now=datetime.combine(second, time(12), UTC))
    assert report.created["meetings"] == []
    assert report.created["commitments"] == []
    with Session(sqlite_engine) as session:
        assert [len(session.exec(select(t)).all()) for t in (Party, Contact, Meeting, Commitment)] == counts
        rcgm = session.get(Meeting, "rcgm-san-salvador")
        assert rcgm is not None
        assert rcgm.start_date == second + timedelta(days=28)
        moved = session.exec(
            select(Assignment).where(Assignment.commitment_id == "policy-changes-input", Assignment.due_date == second)
        ).all()
        assert len(moved) == len(MEMBERS)

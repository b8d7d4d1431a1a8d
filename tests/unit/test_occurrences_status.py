from dataclasses import dataclass
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from followup.schedule.occurrences import ONCE, add_months, occurrences
from followup.store.status import (
    AssignmentView,
    CellMaker,
    build_matrix,
    cell_for,
    current_by_commitment,
    current_occurrence,
)


@dataclass
class Rule:
    due_kind: str
    due_date: date | None = None
    due_meeting_kind: str | None = None
    due_meeting_id: str | None = None
    due_offset_days: int = 0
    recurrence_months: int | None = None
    recurrence_anchor: date | None = None
    recurrence_until: date | None = None


@dataclass
class M:
    id: str
    kind: str
    start_date: date


MEETINGS = [
    M("rcgm-a", "rcgm", date(2026, 6, 10)),
    M("rcm-a", "rcm", date(2026, 7, 1)),
    M("rcgm-b", "rcgm", date(2026, 12, 1)),
]


def test_fixed_date_is_one_occurrence() -> None:
    occ = occurrences(Rule("date", due_date=date(2026, 8, 15)), MEETINGS, date(2026, 1, 1))
    assert [(o.key, o.due) for o in occ] == [(ONCE, date(2026, 8, 15))]


def test_meeting_relative_gives_one_per_meeting_of_that_kind() -> None:
    occ = occurrences(Rule("meeting", due_meeting_kind="rcgm", due_offset_days=14), MEETINGS, date(2026, 1, 1))
    assert [(o.key, o.due, o.meeting_id) for o in occ] == [
        ("rcgm-a", date(2026, 5, 27), "rcgm-a"),
        ("rcgm-b", date(2026, 11, 17), "rcgm-b"),
    ]
    one = occurrences(Rule("meeting", due_meeting_id="rcm-a"), MEETINGS, date(2026, 1, 1))
    assert [(o.key, o.due) for o in one] == [("rcm-a", date(2026, 7, 1))]


def test_recurring_expands_to_horizon_and_respects_until() -> None:
    rule = Rule("recurring", recurrence_months=6, recurrence_anchor=date(2025, 6, 30))
    occ = occurrences(rule, [], date(2026, 11, 1))
    # up to 92 days ahead of "today"
    assert [o.due for o in occ] == [date(2025, 6, 30), date(2025, 12, 31), date(2026, 6, 30), date(2026, 12, 31)]
    rule.recurrence_until = date(2025, 12, 31)
    assert [o.due for o in occurrences(rule, [], date(2030, 1, 1))] == [date(2025, 6, 30), date(2025, 12, 31)]


def test_add_months_keeps_month_end_and_clamps() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 2, 28), 12) == date(2027, 2, 28)
    assert add_months(date(2027, 2, 28), 12) == date(2028, 2, 29)  # month end stays month end
    assert add_months(date(2026, 1, 15), 13) == date(2027, 2, 15)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)), st.integers(0, 240))
def test_add_months_is_monotonic(day: date, months: int) -> None:
    assert add_months(day, months) >= day
    assert add_months(day, months + 1) > add_months(day, months)


def view(state: str, due: date, occ: str = "once", id: int = 1) -> AssignmentView:
    return AssignmentView(id, "c", "HN", occ, state, due)


def test_cells_across_states() -> None:
    today = date(2026, 8, 15)
    assert cell_for(view("pending", date(2026, 8, 29)), today).label == "due in 14 days"
    assert cell_for(view("pending", date(2026, 8, 16)), today).label == "due in 1 day"
    assert cell_for(view("pending", today), today).code == "due_today"
    c = cell_for(view("pending", date(2026, 8, 12)), today)
    assert (c.code, c.label, c.days) == ("overdue", "overdue 3 days", -3)
    assert cell_for(view("pending", date(2026, 8, 14)), today).label == "overdue 1 day"
    assert cell_for(view("pending", date(2026, 12, 1)), today).code == "pending"
    for state in ("submitted", "confirmed", "waived"):
        resolved = cell_for(view(state, date(2026, 1, 1)), today)
        assert (resolved.code, resolved.label, resolved.days) == (state, state, None)
    assert cell_for(view("extended", date(2026, 12, 1)), today).label == "extended to 2026-12-01"
    assert cell_for(view("extended", date(2026, 8, 20)), today).label == "extended, due in 5 days"
    assert cell_for(view("extended", date(2026, 8, 10)), today).code == "overdue"


def test_current_occurrence_prefers_earliest_open() -> None:
    views = [
        view("confirmed", date(2026, 1, 1), "a", 1),
        view("pending", date(2026, 9, 1), "b", 2),
        view("pending", date(2026, 12, 1), "c", 3),
    ]
    assert current_occurrence(views).id == 2
    done = [view("confirmed", date(2026, 1, 1), "a", 1), view("waived", date(2026, 6, 1), "b", 2)]
    assert current_occurrence(done).id == 2


def test_matrix_only_lists_owners_with_assignments() -> None:
    m = build_matrix(
        [("c", "Matrix", "by 2026-08-15")],
        [("HN", "Honduras"), ("SV", "El Salvador"), ("IOM", "IOM")],
        [view("pending", date(2026, 8, 1))],
        date(2026, 8, 15),
    )
    assert m.owners == [("HN", "Honduras")]
    assert m.rows[0].cells["HN"].code == "overdue"
    assert m.counts() == {"overdue": 1}


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["HN", "SV"]),
            st.sampled_from(["o1", "o2", "o3"]),
            st.sampled_from(["pending", "extended", "submitted", "confirmed", "waived"]),
            st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)),
        ),
        max_size=40,
        unique_by=lambda t: (t[0], t[1], t[2]),
    ),
    st.booleans(),
)
def test_streamed_fold_picks_the_current_occurrence(rows: list[tuple[str, str, str, str, date]], as_text: bool) -> None:
    raw = sorted(
        ((i, c, p, o, s, d.isoformat() if as_text else d) for i, (c, p, o, s, d) in enumerate(rows, 1)),
        key=lambda r: (r[1], r[2]),
    )
    folded = {(cid, r[2]): r[0] for cid, picks in current_by_commitment(raw) for r in picks}
    groups: dict[tuple[str, str], list[AssignmentView]] = {}
    for i, c, p, o, s, d in raw:
        groups.setdefault((c, p), []).append(AssignmentView(i, c, p, o, s, date.fromisoformat(str(d))))
    assert folded == {key: current_occurrence(views).id for key, views in groups.items()}
    assert [cid for cid, _picks in current_by_commitment(raw)] == sorted({r[1] for r in raw})


def test_cell_maker_agrees_with_cell_for() -> None:
    today = date(2026, 8, 15)
    maker = CellMaker(today)
    for state in ("pending", "extended", "submitted", "confirmed", "waived"):
        for days in (-40, -1, 0, 1, 30, 31, 200):
            due = today + timedelta(days=days)
            expected = cell_for(AssignmentView(7, "c", "HN", "once", state, due, 2), today)
            assert maker.cell(7, state, due.isoformat(), 2) == expected == maker.cell(7, state, due, 2)

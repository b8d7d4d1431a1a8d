from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followup.schedule.policy import Policy, load_policies
from followup.schedule.reminder_rules import Decision, group_for_delivery, handled_floor, next_step
from followup.schedule.sendwindow import Recipient, SendWindow, in_window, local_day
from followup.store.models import Notification
from followup.store.vocabulary import RESOLVED_STATES

POLICIES = load_policies(None)
DEFAULT = POLICIES["default"]
LIGHT = POLICIES["light"]
WINDOW = SendWindow()
HN = Recipient("America/Tegucigalpa", "HN")  # UTC-6 all year: the window opens at 15:00 UTC
DUE = date(2026, 8, 17)  # a Monday


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def decide(
    now: datetime,
    handled: set[str] | None = None,
    *,
    policy: Policy = DEFAULT,
    due: date = DUE,
    state: str = "pending",
    recipient: Recipient = HN,
    busy: frozenset[date] = frozenset(),
) -> Decision | None:
    return next_step(
        due_date=due,
        state=state,
        policy=policy,
        now=now,
        handled=handled or set(),
        recipient=recipient,
        window=WINDOW,
        busy_days=busy,
    )


def run(
    ticks: list[datetime], policy: Policy = DEFAULT, due: date = DUE, recipient: Recipient = HN
) -> list[tuple[str, date]]:
    """Tick at each instant, marking what is planned as handled; return (step, local send day)."""
    handled: set[str] = set()
    sent: list[tuple[str, date]] = []
    for now in ticks:
        decision = decide(now, handled, policy=policy, due=due, recipient=recipient)
        if decision is not None:
            handled.add(decision.step.key)
            sent.append((decision.step.key, local_day(decision.scheduled_at, recipient)))
    return sent


def hourly(start: datetime, end: datetime) -> list[datetime]:
    return [start + timedelta(hours=h) for h in range(int((end - start).total_seconds() // 3600) + 1)]


def test_first_reminder_fires_at_the_window_start_of_its_day() -> None:
    assert decide(utc(2026, 8, 3, 14, 59)) is None
    decision = decide(utc(2026, 8, 3, 15, 0))
    assert decision is not None
    assert decision.step.key == "-14d"
    assert decision.step.ordinal == 1
    assert decision.scheduled_at == utc(2026, 8, 3, 15, 0)
    assert decision.nominal_date == date(2026, 8, 3)
    assert decision.skipped == ()
    assert decide(utc(2026, 8, 10, 15, 0), {"-14d"}) is None


def test_hourly_ticks_send_every_step_once_on_its_working_day() -> None:
    sent = run(hourly(utc(2026, 7, 1), utc(2026, 10, 31)))
    assert sent == [
        ("-14d", date(2026, 8, 3)),
        ("-3d", date(2026, 8, 14)),
        ("0d", date(2026, 8, 17)),
        ("+1d", date(2026, 8, 18)),
        ("+8d", date(2026, 8, 25)),
        ("+15d", date(2026, 9, 1)),
        ("+22d", date(2026, 9, 8)),
        ("+29d", date(2026, 9, 16)),  # 15 September is Honduran Independence Day: one day later
    ]


def test_catch_up_after_downtime_sends_only_the_latest_step() -> None:
    decision = decide(utc(2026, 8, 19, 16, 0))
    assert decision is not None
    assert decision.step.key == "+1d"
    assert decision.step.kind == "overdue"
    assert decision.skipped == ("-14d", "-3d", "0d")
    assert decision.scheduled_at == utc(2026, 8, 19, 16, 0)


def test_catch_up_never_loses_an_escalation_copy() -> None:
    handled = {"-14d", "-3d", "0d", "+1d", "+8d", "+15d"}
    decision = decide(utc(2026, 9, 16, 15, 0), handled)
    assert decision is not None
    assert decision.step.key == "+29d"
    assert decision.skipped == ("+22d",)
    assert decision.cc_alternate
    assert decision.cc_secretariat


def test_steps_older_than_catch_up_days_are_dropped() -> None:
    handled = {"-14d", "-3d", "0d", "+1d", "+8d", "+15d", "+22d"}
    assert decide(utc(2026, 9, 23, 15, 0), handled) is not None  # +29d went out on the 16th: 7 days late is fine
    assert decide(utc(2026, 9, 24, 15, 0), handled) is None
    assert decide(utc(2026, 8, 3, 15, 0), due=date(2006, 8, 15)) is None  # an old plan loaded today stays quiet


def test_no_reminder_on_or_after_the_due_date() -> None:
    # "light" has only -7d before the due date: a planner that was down must not send it late.
    assert decide(utc(2026, 8, 17, 16, 0), policy=LIGHT) is None
    assert decide(utc(2026, 8, 16, 12, 0), policy=LIGHT) is None  # Sunday: the next window is on the due date
    late_thursday = decide(utc(2026, 8, 13, 20, 0), policy=LIGHT)  # within its 3 catch-up days
    assert late_thursday is not None
    assert late_thursday.step.key == "-7d"


def test_due_date_notice_is_not_sent_after_the_due_date() -> None:
    handled = {"-14d", "-3d"}
    assert decide(utc(2026, 8, 17, 23, 30), handled) is None  # 17:30 local: window closed, tomorrow is too late
    decision = decide(utc(2026, 8, 18, 15, 0), handled)
    assert decision is not None
    assert decision.step.key == "+1d"


def test_due_date_on_a_weekend_gets_its_notice_on_friday() -> None:
    saturday = date(2026, 8, 22)
    sent = run(hourly(utc(2026, 8, 1), utc(2026, 8, 26)), due=saturday)
    assert sent[:4] == [
        ("-14d", date(2026, 8, 7)),
        ("-3d", date(2026, 8, 19)),
        ("0d", date(2026, 8, 21)),
        ("+1d", date(2026, 8, 24)),
    ]


@pytest.mark.parametrize("state", [*RESOLVED_STATES, "unknown"])
def test_resolved_assignments_get_nothing(state: str) -> None:
    assert decide(utc(2026, 8, 18, 15, 0), state=state) is None


def test_extended_assignments_are_open() -> None:
    assert decide(utc(2026, 8, 18, 15, 0), state="extended") is not None


def test_a_busy_day_defers_overdue_and_drops_a_reminder_it_would_make_late() -> None:
    overdue = decide(utc(2026, 8, 18, 15, 0), {"-14d", "-3d", "0d"}, busy=frozenset({date(2026, 8, 18)}))
    assert overdue is not None
    assert overdue.scheduled_at == utc(2026, 8, 19, 15, 0)
    assert decide(utc(2026, 8, 14, 15, 0), {"-14d"}, busy=frozenset({date(2026, 8, 14)})) is None


def test_handled_keys_from_an_older_policy_still_order_the_steps() -> None:
    assert handled_floor({"+10d", "-3d", "bogus"}) == 10
    assert handled_floor(set()) is None
    decision = decide(utc(2026, 9, 1, 15, 0), {"+10d"})
    assert decision is not None
    assert decision.step.key == "+15d"


@settings(max_examples=300, deadline=None)
@given(
    due=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    offset_hours=st.integers(min_value=-40 * 24, max_value=60 * 24),
    handled=st.sets(st.sampled_from([s.key for s in DEFAULT.steps])),
    policy=st.sampled_from(sorted(POLICIES.values(), key=lambda p: p.name)),
    recipient=st.sampled_from([HN, Recipient("America/Toronto", "CA"), Recipient("America/Mexico_City", "MX")]),
)
def test_a_decision_is_always_timely_and_forward(
    due: date, offset_hours: int, handled: set[str], policy: Policy, recipient: Recipient
) -> None:
    now = datetime(due.year, due.month, due.day, 12, tzinfo=UTC) + timedelta(hours=offset_hours)
    decision = decide(now, handled, policy=policy, due=due, recipient=recipient)
    if decision is None:
        return
    floor = handled_floor(handled)
    assert floor is None or decision.step.offset_days > floor
    assert decision.scheduled_at >= now
    assert in_window(decision.scheduled_at, recipient, WINDOW)
    sending_on = local_day(decision.scheduled_at, recipient)
    if decision.step.before_due:
        assert sending_on < due
    if decision.step.kind == "due_today":
        assert sending_on <= due
    assert (sending_on - decision.nominal_date).days <= policy.catch_up_days + 14


@settings(max_examples=100, deadline=None)
@given(
    due=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    gaps=st.lists(st.integers(min_value=1, max_value=15 * 24), min_size=1, max_size=60),
)
def test_ticks_with_random_downtime_never_repeat_or_go_backwards(due: date, gaps: list[int]) -> None:
    now = datetime(due.year, due.month, due.day, tzinfo=UTC) - timedelta(days=20)
    ticks = []
    for gap in gaps:
        now += timedelta(hours=gap)
        ticks.append(now)
    sent = run(ticks, due=due)
    offsets = [DEFAULT.step(key).offset_days for key, _ in sent]
    assert offsets == sorted(set(offsets))
    for key, day in sent:
        if DEFAULT.step(key).before_due:
            assert day < due


def row(ident: int, contact: int | None, assignment: int | None, step: str, kind: str = "reminder", **kw: Any) -> Any:
    return Notification(
        id=ident,
        dedupe_key=f"k{ident}",
        kind=kind,
        contact_id=contact,
        assignment_id=assignment,
        recipient=kw.pop("recipient", f"c{contact}@example.org"),
        step=step,
        due_date=kw.pop("due_date", DUE),
        scheduled_at=utc(2026, 8, 17, 15),
        payload=kw.pop("payload", {}),
        **kw,
    )


def test_group_merges_one_contacts_notices_into_one_email() -> None:
    rows = [
        row(1, 7, 100, "-3d"),
        row(2, 7, 101, "+1d", kind="overdue", due_date=date(2026, 8, 16)),
        row(3, 8, 100, "-3d"),
        row(4, None, None, "", kind="digest", recipient="ts@rcm.example.org"),
        row(5, 7, 100, "0d", kind="due_today"),
        row(6, 7, 102, "+22d", kind="escalation", payload={"cc_alternate": True, "cc_secretariat": True}),
    ]
    groups = group_for_delivery(rows, utc(2026, 8, 18, 3, 0), lambda r: "America/Tegucigalpa")
    assert [g.ids for g in groups] == [[1, 2, 5, 6], [3], [4]]
    merged = groups[0]
    assert merged.contact_id == 7
    assert merged.local_date == date(2026, 8, 17)  # 21:00 on the 17th in Tegucigalpa
    assert [r.id for r in merged.items] == [2, 5, 6]  # assignment 100 shows its latest step only
    assert merged.cc_alternate
    assert merged.cc_secretariat
    assert merged.cc == []
    assert not groups[1].cc_secretariat
    assert groups[2].items[0].kind == "digest"


def test_group_by_address_when_there_is_no_contact() -> None:
    rows = [
        row(1, None, 100, "-3d", recipient="Someone@Example.org"),
        row(2, None, 101, "-3d", recipient="someone@example.org"),
    ]
    groups = group_for_delivery(rows, utc(2026, 8, 17, 16), lambda r: "UTC")
    assert [g.ids for g in groups] == [[1, 2]]


def test_group_cc_is_the_union_of_its_rows_without_the_addressee() -> None:
    rows = [
        row(1, 7, 100, "-3d", payload={"cc": ["Head@hn.example.org"]}),
        row(2, 7, 101, "+22d", kind="escalation", payload={"cc": ["alt@hn.example.org", "head@hn.example.org"]}),
        row(3, 7, 102, "-3d", payload={"cc": ["c7@example.org"]}),
    ]
    [group] = group_for_delivery(rows, utc(2026, 8, 17, 16), lambda r: "America/Tegucigalpa")
    assert group.cc == ["Head@hn.example.org", "alt@hn.example.org"]


def test_blocked_days_one_a_day_and_a_weekly_cap() -> None:
    from followup.schedule.reminder_rules import blocked_days

    mon, tue = date(2026, 8, 3), date(2026, 8, 4)
    blocked = blocked_days([mon, tue], mon, per_week=2, horizon=10)
    assert mon in blocked and tue in blocked  # each already has an email
    assert {date(2026, 8, d) for d in (5, 6, 7, 8, 9)} <= blocked  # two in the last six days
    assert date(2026, 8, 10) not in blocked  # Monday's email has left the week
    assert blocked_days([mon], tue, per_week=2) == frozenset()

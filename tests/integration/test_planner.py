from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.outbound.outbox import claim, record_sent
from followup.schedule.planner import (
    cancel_for_assignment,
    candidate_query,
    dedupe_key,
    due_date_range,
    insert_planned,
    plan,
)
from followup.schedule.policy import load_policies
from followup.settings import Settings
from followup.store.db import session_scope
from followup.store.models import Assignment, Contact, Event, Notification
from tests.factories import make_assignment, make_commitment, make_contact, make_party

POLICIES = load_policies(None)
SETTINGS = Settings()
DUE = date(2026, 8, 17)  # a Monday; Honduras (UTC-6) opens its window at 15:00 UTC


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@dataclass
class World:
    engine: Engine
    assignment_id: int
    primary_id: int
    alternate_id: int


@pytest.fixture
def world(engine: Engine) -> World:
    with session_scope(engine) as s:
        make_party(s, "HN")
        primary = make_contact(s, "HN", email="fp@hn.example.org")
        alternate = make_contact(s, "HN", role="alternate", email="alt@hn.example.org")
        make_contact(s, "HN", active=False, email="gone@hn.example.org")
        make_commitment(s, "matrix")
        assignment = make_assignment(s, "matrix", "HN", DUE)
        assert assignment.id is not None
        assert primary.id is not None
        assert alternate.id is not None
        return World(engine, assignment.id, primary.id, alternate.id)


def rows(engine: Engine) -> list[Notification]:
    with Session(engine) as s:
        return list(s.exec(select(Notification).order_by(col(Notification.id))).all())


def events(engine: Engine, action: str) -> list[Event]:
    with Session(engine) as s:
        return list(s.exec(select(Event).where(Event.action == action).order_by(col(Event.id))).all())


def update_assignment(engine: Engine, assignment_id: int, **values: object) -> None:
    with session_scope(engine) as s:
        assignment = s.get(Assignment, assignment_id)
        assert assignment is not None
        for key, value in values.items():
            setattr(assignment, key, value)


def send_everything(engine: Engine, now: datetime) -> None:
    claimed = claim(engine, now, "test", 100, 300)
    record_sent(engine, [r.id for r in claimed if r.id is not None], now)


def test_planning_is_idempotent(world: World) -> None:
    now = utc(2026, 8, 3, 15, 0)
    assert plan(world.engine, now - timedelta(minutes=1), SETTINGS, POLICIES).planned == 0
    first = plan(world.engine, now, SETTINGS, POLICIES)
    assert first.planned == 1
    assert first.considered == 1
    assert plan(world.engine, now, SETTINGS, POLICIES).planned == 0
    assert plan(world.engine, now + timedelta(hours=3), SETTINGS, POLICIES).planned == 0
    [row] = rows(world.engine)
    assert row.dedupe_key == dedupe_key(world.assignment_id, DUE, "-14d", world.primary_id)
    assert row.dedupe_key == f"a{world.assignment_id}:2026-08-17:-14d:c{world.primary_id}"
    assert (row.kind, row.step, row.state, row.due_date) == ("reminder", "-14d", "planned", DUE)
    assert row.contact_id == world.primary_id
    assert row.recipient == "fp@hn.example.org"
    assert row.scheduled_at == now
    assert row.payload["ordinal"] == 1
    assert row.payload["policy"] == "default"
    assert row.payload["cc"] == []


def test_a_step_due_outside_the_window_waits_for_the_next_one(world: World) -> None:
    late = utc(2026, 8, 3, 23, 30)  # 17:30 in Tegucigalpa; the -14d step was due at 09:00 and the planner was down
    assert plan(world.engine, late, SETTINGS, POLICIES).planned == 1
    [row] = rows(world.engine)
    assert row.scheduled_at == utc(2026, 8, 4, 15, 0)
    assert claim(world.engine, late, "w", 10, 300) == []


def test_escalation_copies_the_alternate_and_the_secretariat(world: World) -> None:
    result = plan(world.engine, utc(2026, 9, 8, 15, 0), SETTINGS, POLICIES)  # catch-up straight to +22d
    assert result.planned == 1
    [row] = rows(world.engine)
    assert (row.kind, row.step) == ("escalation", "+22d")
    assert row.contact_id == world.primary_id
    assert row.payload["cc_contact_ids"] == [world.alternate_id]
    assert row.payload["cc"] == ["alt@hn.example.org", SETTINGS.secretariat.email]
    assert row.payload["skipped_steps"] == ["-14d", "-3d", "0d", "+1d", "+8d", "+15d"]


def test_resolving_an_assignment_cancels_its_planned_steps(world: World) -> None:
    now = utc(2026, 8, 3, 15, 0)
    plan(world.engine, now, SETTINGS, POLICIES)
    update_assignment(world.engine, world.assignment_id, state="submitted")
    result = plan(world.engine, now + timedelta(minutes=1), SETTINGS, POLICIES)
    assert result.cancelled == 1
    assert result.planned == 0
    assert [r.state for r in rows(world.engine)] == ["cancelled"]
    [event] = events(world.engine, "notification_cancelled")
    assert event.assignment_id == world.assignment_id
    assert event.details["reason"] == "resolved"
    assert plan(world.engine, utc(2026, 8, 18, 15, 0), SETTINGS, POLICIES).planned == 0


def test_extension_rearms_the_steps_of_the_new_due_date(world: World) -> None:
    engine = world.engine
    plan(engine, utc(2026, 8, 3, 15, 0), SETTINGS, POLICIES)
    send_everything(engine, utc(2026, 8, 3, 15, 0))
    plan(engine, utc(2026, 8, 14, 15, 0), SETTINGS, POLICIES)
    send_everything(engine, utc(2026, 8, 14, 15, 0))
    plan(engine, utc(2026, 8, 17, 15, 0), SETTINGS, POLICIES)  # "due today" planned, not yet sent
    new_due = date(2026, 9, 15)
    update_assignment(engine, world.assignment_id, due_date=new_due, state="extended")

    result = plan(engine, utc(2026, 8, 18, 15, 0), SETTINGS, POLICIES)
    assert result.cancelled == 1
    assert result.planned == 0  # no overdue for the old date, nothing yet for the new one
    assert events(engine, "notification_cancelled")[0].details["reason"] == "due_date_moved"

    assert plan(engine, utc(2026, 9, 1, 15, 0), SETTINGS, POLICIES).planned == 1
    by_key = {(r.due_date, r.step): r.state for r in rows(engine)}
    assert by_key == {
        (DUE, "-14d"): "sent",
        (DUE, "-3d"): "sent",
        (DUE, "0d"): "cancelled",
        (new_due, "-14d"): "planned",
    }


def test_every_active_primary_gets_its_own_row_in_its_own_zone(world: World) -> None:
    with session_scope(world.engine) as s:
        second = make_contact(s, "HN", email="fp2@hn.example.org", timezone="America/Los_Angeles")
    honduras_nine = utc(2026, 8, 3, 15, 0)
    assert plan(world.engine, honduras_nine, SETTINGS, POLICIES).planned == 1  # 08:00 in Los Angeles
    assert plan(world.engine, utc(2026, 8, 3, 15, 59), SETTINGS, POLICIES).planned == 0
    los_angeles_nine = utc(2026, 8, 3, 16, 0)  # PDT, UTC-7
    assert plan(world.engine, los_angeles_nine, SETTINGS, POLICIES).planned == 1
    recipients = {r.contact_id: r.scheduled_at for r in rows(world.engine)}
    assert recipients == {world.primary_id: honduras_nine, second.id: los_angeles_nine}


def test_suspect_primary_falls_back_to_the_alternate_and_no_contact_is_reported(world: World) -> None:
    with session_scope(world.engine) as s:
        contact = s.get(Contact, world.primary_id)
        assert contact is not None
        contact.address_state = "suspect"
        make_party(s, "NI")
        make_assignment(s, "matrix", "NI", DUE)
    result = plan(world.engine, utc(2026, 8, 3, 15, 0), SETTINGS, POLICIES)
    assert result.planned == 1
    assert len(result.unreachable) == 1
    [row] = rows(world.engine)
    assert row.contact_id == world.alternate_id


def test_a_dead_address_cancels_its_planned_step_and_the_alternate_stands_in(world: World) -> None:
    evening = utc(2026, 8, 3, 23, 30)
    plan(world.engine, evening, SETTINGS, POLICIES)
    with session_scope(world.engine) as s:
        contact = s.get(Contact, world.primary_id)
        assert contact is not None
        contact.address_state = "suspect"
    result = plan(world.engine, evening + timedelta(minutes=1), SETTINGS, POLICIES)
    assert (result.cancelled, result.planned) == (1, 1)
    assert [(r.contact_id, r.state) for r in rows(world.engine)] == [
        (world.primary_id, "cancelled"),
        (world.alternate_id, "planned"),
    ]
    assert events(world.engine, "notification_cancelled")[0].details["reason"] == "contact_unusable"


def test_cc_role_contacts_are_copied_on_every_notice(world: World) -> None:
    with session_scope(world.engine) as s:
        make_contact(s, "HN", role="cc", email="registry@hn.example.org")
    plan(world.engine, utc(2026, 8, 3, 15, 0), SETTINGS, POLICIES)
    [row] = rows(world.engine)
    assert row.payload["cc"] == ["registry@hn.example.org"]
    assert row.contact_id == world.primary_id


def test_a_contact_gets_at_most_one_email_a_day(world: World) -> None:
    engine = world.engine
    plan(engine, utc(2026, 8, 3, 15, 0), SETTINGS, POLICIES)
    send_everything(engine, utc(2026, 8, 3, 15, 0))
    with session_scope(engine) as s:
        make_commitment(s, "report")
        make_assignment(s, "report", "HN", date(2026, 8, 12))  # added at lunchtime; its -14d step is late
    result = plan(engine, utc(2026, 8, 3, 18, 0), SETTINGS, POLICIES)
    assert result.planned == 1
    latest = rows(engine)[-1]
    assert latest.step == "-14d"
    assert latest.scheduled_at == utc(2026, 8, 4, 15, 0)


def test_unknown_policy_is_reported_without_stopping_the_others(world: World) -> None:
    with session_scope(world.engine) as s:
        make_commitment(s, "odd", policy="weekly")
        make_assignment(s, "odd", "HN", DUE)
    result = plan(world.engine, utc(2026, 8, 3, 15, 0), SETTINGS, POLICIES)
    assert result.planned == 1
    assert len(result.problems) == 1
    assert "'weekly' is not defined" in result.problems[0]


def test_withdrawn_commitment_cancels_and_stops(world: World) -> None:
    plan(world.engine, utc(2026, 8, 3, 15, 0), SETTINGS, POLICIES)
    with session_scope(world.engine) as s:
        s.execute(sa.text("UPDATE commitment SET active = :f WHERE id = 'matrix'"), {"f": False})
    result = plan(world.engine, utc(2026, 8, 3, 15, 5), SETTINGS, POLICIES)
    assert result.cancelled == 1
    assert events(world.engine, "notification_cancelled")[0].details["reason"] == "withdrawn"
    assert plan(world.engine, utc(2026, 8, 14, 15, 0), SETTINGS, POLICIES).planned == 0


def test_cancel_for_assignment(world: World) -> None:
    now = utc(2026, 8, 3, 15, 0)
    plan(world.engine, now, SETTINGS, POLICIES)
    with session_scope(world.engine) as s:
        assert cancel_for_assignment(s, world.assignment_id, now, reason="confirmed by reply") == 1
        assert cancel_for_assignment(s, world.assignment_id, now) == 0
    assert [r.state for r in rows(world.engine)] == ["cancelled"]
    assert events(world.engine, "notification_cancelled")[0].details["reason"] == "confirmed by reply"


def test_only_assignments_near_the_clock_are_examined(world: World) -> None:
    with session_scope(world.engine) as s:
        for year in (2006, 2016, 2030, 2036):
            make_assignment(s, "matrix", "HN", date(year, 8, 17))
        make_assignment(s, "matrix", "HN", date(2026, 8, 20), occurrence="resolved", state="confirmed")
    now = utc(2026, 8, 3, 15, 0)
    low, high = due_date_range(now, POLICIES)
    assert low <= DUE - timedelta(days=36) < DUE + timedelta(days=21) <= high
    assert high - low < timedelta(days=120)
    result = plan(world.engine, now, SETTINGS, POLICIES)
    assert result.considered == 1
    assert result.planned == 1


def test_candidate_query_uses_the_state_due_index(sqlite_engine: Engine) -> None:
    query = candidate_query(date(2026, 6, 1), date(2026, 9, 1))
    compiled = query.compile(sqlite_engine, compile_kwargs={"literal_binds": True})
    with sqlite_engine.connect() as conn:
        plan_rows = conn.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    detail = " ".join(str(r[-1]) for r in plan_rows)
    assert "ix_assignment_state_due" in detail
    assert "SCAN assignment" not in detail.replace("USING INDEX", "")


def test_insert_planned_is_the_idempotent_door_for_other_planners(engine: Engine) -> None:
    now = utc(2026, 8, 3, 14, 0)
    digest = {"dedupe_key": "digest:2026-W32", "kind": "digest", "recipient": "ts@rcm.example.org", "scheduled_at": now}
    with_payload = {**digest, "dedupe_key": "digest:2026-W33", "payload": {"language": "es"}, "step": "w33"}
    assert insert_planned(engine, [digest, with_payload]) == 2
    assert insert_planned(engine, [digest]) == 0
    assert insert_planned(engine, []) == 0
    first, second = rows(engine)
    assert (first.state, first.attempts, first.payload, first.created_at) == ("planned", 0, {}, now)
    assert (second.step, second.payload) == ("w33", {"language": "es"})


def _mail(engine: Engine, contact_id: int, kind: str, at: datetime, state: str = "sent") -> None:
    with session_scope(engine) as s:
        s.add(
            Notification(
                dedupe_key=f"{kind}:{contact_id}:{at.isoformat()}", kind=kind, contact_id=contact_id,
                recipient="fp@hn.example.org", scheduled_at=at, sent_at=at if state == "sent" else None, state=state,
            )
        )  # fmt: skip


def test_a_meeting_round_the_same_day_moves_the_reminder_to_the_next_day(world: World) -> None:
    monday = utc(2026, 8, 3, 15, 0)
    _mail(world.engine, world.primary_id, "meeting_round", monday, state="planned")
    assert plan(world.engine, monday, SETTINGS, POLICIES).planned == 1
    [reminder] = [r for r in rows(world.engine) if r.kind == "reminder"]
    assert reminder.scheduled_at == utc(2026, 8, 4, 15, 0)


def test_the_weekly_cap_holds_items_for_the_next_allowed_day(world: World) -> None:
    # Two emails already this week (Thursday and Friday): the -14d reminder of Monday waits for Thursday.
    _mail(world.engine, world.primary_id, "overdue", utc(2026, 7, 30, 15, 0))
    _mail(world.engine, world.primary_id, "meeting_round", utc(2026, 7, 31, 15, 0))
    assert SETTINGS.schedule.max_emails_per_week == 2
    assert plan(world.engine, utc(2026, 8, 3, 15, 0), SETTINGS, POLICIES).planned == 1
    [reminder] = [r for r in rows(world.engine) if r.kind == "reminder"]
    assert reminder.scheduled_at == utc(2026, 8, 6, 15, 0)


def test_rounds_wait_a_day_rather_than_join_a_reminder(world: World) -> None:
    from followup.schedule.rounds import plan_meeting_rounds
    from followup.store.models import Meeting

    with session_scope(world.engine) as s:
        s.add(
            Meeting(id="rcgm-1", kind="rcgm", title_en="RCGM", start_date=date(2026, 8, 24), end_date=date(2026, 8, 25))
        )
    monday = utc(2026, 8, 3, 15, 0)
    _mail(world.engine, world.primary_id, "overdue", monday, state="planned")
    assert plan_meeting_rounds(world.engine, SETTINGS, monday) == 2  # the owner and the secretariat
    [round_row] = [r for r in rows(world.engine) if r.kind == "meeting_round" and r.contact_id == world.primary_id]
    assert round_row.scheduled_at == utc(2026, 8, 4, 15, 0)


def _away(engine: Engine, sender: str, back: date, at: datetime) -> None:
    from followup.store.models import InboundMessage

    with session_scope(engine) as s:
        s.add(
            InboundMessage(content_hash=f"ooo-{sender}-{back}", sender=sender, received_at=at,
                           classification="autoreply", return_date=back)
        )  # fmt: skip


def test_out_of_office_pauses_the_contact_and_the_alternate_stands_in(world: World) -> None:
    evening = utc(2026, 8, 3, 23, 30)
    plan(world.engine, evening, SETTINGS, POLICIES)  # planned for the primary, for tomorrow morning
    _away(world.engine, "FP@hn.example.org", date(2026, 8, 20), evening)
    result = plan(world.engine, evening + timedelta(minutes=1), SETTINGS, POLICIES)
    assert (result.cancelled, result.planned) == (1, 1)
    assert [(r.contact_id, r.state) for r in rows(world.engine)] == [
        (world.primary_id, "cancelled"),
        (world.alternate_id, "planned"),
    ]
    assert events(world.engine, "notification_cancelled")[0].details["reason"] == "out_of_office"


def test_out_of_office_without_an_alternate_waits_for_the_return_date(world: World) -> None:
    with session_scope(world.engine) as s:
        alternate = s.get(Contact, world.alternate_id)
        assert alternate is not None
        alternate.active = False
    _away(world.engine, "fp@hn.example.org", date(2026, 8, 5), utc(2026, 8, 1))
    result = plan(world.engine, utc(2026, 8, 3, 15, 0), SETTINGS, POLICIES)
    assert result.planned == 0 and result.paused == [world.assignment_id] and not result.unreachable
    assert plan(world.engine, utc(2026, 8, 5, 15, 0), SETTINGS, POLICIES).planned == 1  # back: the step goes

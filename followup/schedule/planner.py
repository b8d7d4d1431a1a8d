"""Planning: turn due reminder steps into outbox rows, and withdraw the ones no longer wanted.

Each tick asks only about open assignments whose due date lies where some
policy step can still fire (from ``now - (horizon + catch-up)`` to ``now +
lead``, widened by how far a step can move off holidays), through the
``(state, due_date)`` index, so a tick costs in proportion to the work near the
clock and not to the size of the plan. Related rows (commitments, parties,
contacts, earlier notifications) are fetched by key for those candidates only.

Rows are inserted with ``ON CONFLICT DO NOTHING`` on a unique dedupe key
``a{assignment}:{due date}:{step}:c{contact}``, so two planners racing, or one
planning twice, insert each step once; a moved due date makes new keys, which
is how ``extend`` re-arms the steps that fall due again for the new date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel

from followup.clock import as_utc
from followup.errors import FollowupError
from followup.schedule.policy import Policy, max_lead_days, max_reach_days, policy_for
from followup.schedule.reminder_rules import REMINDER_KINDS, Decision, blocked_days, next_step
from followup.schedule.sendwindow import MAX_SHIFT_DAYS, Recipient, SendWindow, local_day
from followup.settings import Settings
from followup.store.vocabulary import OPEN_STATES

NOTIFICATION = SQLModel.metadata.tables["notification"]
ASSIGNMENT = SQLModel.metadata.tables["assignment"]
COMMITMENT = SQLModel.metadata.tables["commitment"]
PARTY = SQLModel.metadata.tables["party"]
CONTACT = SQLModel.metadata.tables["contact"]
EVENT = SQLModel.metadata.tables["event"]
INBOUND = SQLModel.metadata.tables["inbound_message"]

ACTOR = "planner"
#: Keys per IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500
#: Due dates are secretariat-zone dates while ``now`` is UTC; a day either side covers every zone.
_ZONE_SLACK_DAYS = 1

T = TypeVar("T")


@dataclass
class PlanResult:
    """What one planning pass did, for the tick's log line."""

    planned: int = 0
    cancelled: int = 0
    #: (assignment, recipient) pairs examined.
    considered: int = 0
    #: Assignments whose party has no usable contact (none active with a good address).
    unreachable: list[int] = field(default_factory=list)
    #: Assignments waiting because every contact of their party is out of office.
    paused: list[int] = field(default_factory=list)
    #: One line per assignment that could not be planned (unknown policy, zone or holiday country).
    problems: list[str] = field(default_factory=list)


def dedupe_key(assignment_id: int, due_date: date, step_key: str, contact_id: int) -> str:
    return f"a{assignment_id}:{due_date.isoformat()}:{step_key}:c{contact_id}"


def due_date_range(now: datetime, policies: Mapping[str, Policy]) -> tuple[date, date]:
    """The due dates for which some step of some policy may be plannable at ``now``."""
    today = as_utc(now).date()
    slack = MAX_SHIFT_DAYS + _ZONE_SLACK_DAYS
    return (
        today - timedelta(days=max_reach_days(policies) + slack),
        today + timedelta(days=max_lead_days(policies) + slack),
    )


def candidate_query(low: date, high: date) -> sa.Select[Any]:
    """Open assignments due between ``low`` and ``high``: one range scan of ix_assignment_state_due.

    Deliberately no joins: with a million assignments a join could tempt the
    query planner to drive from the small tables and scan the big one.
    """
    a = ASSIGNMENT
    return sa.select(a.c.id, a.c.due_date, a.c.state, a.c.commitment_id, a.c.party_code).where(
        a.c.state.in_(OPEN_STATES), a.c.due_date.between(low, high)
    )


def plan(engine: Engine, now: datetime, settings: Settings, policies: Mapping[str, Policy]) -> PlanResult:
    """Cancel what is no longer wanted, then plan every reminder step due at ``now``."""
    now = as_utc(now)
    policy_for(policies, None, settings.schedule.default_policy)
    window = SendWindow.from_settings(settings.schedule)
    result = PlanResult(cancelled=cancel_stale(engine, now))
    low, high = due_date_range(now, policies)
    with engine.connect() as conn:
        candidates = conn.execute(candidate_query(low, high)).all()
        if not candidates:
            return result
        context = _load_context(conn, candidates, now)
    if context.away:
        # Steps already planned for someone now away: withdrawn, and planned afresh for the alternates.
        with engine.begin() as conn:
            away = NOTIFICATION.c.contact_id.in_(sorted(context.away))
            result.cancelled += _cancel(conn, away, now, "out_of_office")
    rows = list(_plan_rows(candidates, context, now, settings, policies, window, result))
    result.planned = insert_planned(engine, rows)
    return result


def preview(engine: Engine, now: datetime, settings: Settings, policies: Mapping[str, Policy]) -> list[dict[str, Any]]:
    """The rows :func:`plan` would insert at ``now``, without writing anything (``tick --dry-run``)."""
    now = as_utc(now)
    window = SendWindow.from_settings(settings.schedule)
    low, high = due_date_range(now, policies)
    with engine.connect() as conn:
        candidates = conn.execute(candidate_query(low, high)).all()
        if not candidates:
            return []
        context = _load_context(conn, candidates, now)
    return not_planned(engine, list(_plan_rows(candidates, context, now, settings, policies, window, PlanResult())))


def not_planned(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose dedupe key is not in the outbox yet: what inserting them would add."""
    existing: set[str] = set()
    keys = [r["dedupe_key"] for r in rows]
    with engine.connect() as conn:
        for batch in _chunks(keys):
            existing.update(
                conn.execute(sa.select(NOTIFICATION.c.dedupe_key).where(NOTIFICATION.c.dedupe_key.in_(batch))).scalars()
            )
    return [dict(r) for r in rows if r["dedupe_key"] not in existing]


@dataclass
class _Context:
    commitments: dict[str, sa.Row[Any]]
    parties: dict[str, sa.Row[Any]]
    contacts: dict[str, list[sa.Row[Any]]]
    #: (assignment, due date, contact) -> step keys already in the outbox.
    handled: dict[tuple[int, date, int], set[str]]
    #: The same, for steps that went out (or are going out) only.
    delivered: dict[tuple[int, date, int], set[str]]
    #: contact -> UTC instants of mail sent, being sent, or (meeting rounds) planned lately.
    mailed: dict[int, list[datetime]]
    #: contact -> the date an out-of-office reply says they are back (still ahead).
    away: dict[int, date] = field(default_factory=dict)


def _load_context(conn: Connection, candidates: Sequence[sa.Row[Any]], now: datetime) -> _Context:
    commitment_ids = sorted({row.commitment_id for row in candidates})
    party_codes = sorted({row.party_code for row in candidates})
    commitments = {
        row.id: row
        for ids in _chunks(commitment_ids)
        for row in conn.execute(
            sa.select(COMMITMENT.c.id, COMMITMENT.c.policy, COMMITMENT.c.active).where(COMMITMENT.c.id.in_(ids))
        )
    }
    parties = {
        row.code: row
        for codes in _chunks(party_codes)
        for row in conn.execute(
            sa.select(PARTY.c.code, PARTY.c.timezone, PARTY.c.holiday_country, PARTY.c.active).where(
                PARTY.c.code.in_(codes)
            )
        )
    }
    contacts: dict[str, list[sa.Row[Any]]] = defaultdict(list)
    for codes in _chunks(party_codes):
        query = (
            sa.select(
                CONTACT.c.id,
                CONTACT.c.party_code,
                CONTACT.c.email,
                CONTACT.c.timezone,
                CONTACT.c.role,
                CONTACT.c.address_state,
            )
            .where(CONTACT.c.party_code.in_(codes), CONTACT.c.active.is_(True))
            .order_by(CONTACT.c.id)
        )
        for row in conn.execute(query):
            contacts[row.party_code].append(row)
    handled: dict[tuple[int, date, int], set[str]] = defaultdict(set)
    delivered: dict[tuple[int, date, int], set[str]] = defaultdict(set)
    for ids in _chunks(sorted(row.id for row in candidates)):
        query = sa.select(
            NOTIFICATION.c.assignment_id,
            NOTIFICATION.c.due_date,
            NOTIFICATION.c.contact_id,
            NOTIFICATION.c.step,
            NOTIFICATION.c.state,
        ).where(NOTIFICATION.c.assignment_id.in_(ids), NOTIFICATION.c.kind.in_(REMINDER_KINDS))
        for row in conn.execute(query):
            handled[(row.assignment_id, row.due_date, row.contact_id)].add(row.step)
            if row.state in ("sending", "sent"):
                delivered[(row.assignment_id, row.due_date, row.contact_id)].add(row.step)
    contact_ids = sorted({c.id for rows in contacts.values() for c in rows})
    mailed = mail_instants(conn, contact_ids, now)
    away = out_of_office(conn, [c for rows in contacts.values() for c in rows], now)
    return _Context(commitments, parties, dict(contacts), dict(handled), dict(delivered), mailed, away)


def mail_instants(
    conn: Connection, contact_ids: Sequence[int], now: datetime, *, planned_reminders: bool = False
) -> dict[int, list[datetime]]:
    """When each contact got (or is about to get) mail from us in the last week.

    Every kind counts (a meeting round is an email too), acknowledgements
    excepted: they answer the person's own message. Planned meeting rounds
    count, so a reminder does not go out on a round's day; planned reminders
    count only when asked (for the rounds), since the planner merges
    reminders due the same day into one email.
    """
    n = NOTIFICATION
    mailed: dict[int, list[datetime]] = defaultdict(list)
    since = now - timedelta(days=8)
    planned_kinds = {"meeting_round", *(REMINDER_KINDS if planned_reminders else ())}
    for ids in _chunks(contact_ids):
        # Two range reads, one per composite index, and nothing else in the WHERE clause: with a
        # condition on ``state`` too, SQLite (no statistics, hundreds of ids) prefers the state
        # index and reads every row ever sent, the whole history. What counts is decided here,
        # on the few rows of the last eight days.
        columns = (n.c.id, n.c.contact_id, n.c.kind, n.c.state, n.c.sent_at, n.c.scheduled_at)
        query = sa.union(
            sa.select(*columns).where(n.c.contact_id.in_(ids), n.c.sent_at >= since),
            sa.select(*columns).where(n.c.contact_id.in_(ids), n.c.scheduled_at >= since),
        )
        for row in conn.execute(query):
            if _counts_as_mail(row.kind, row.state, planned_kinds):
                mailed[row.contact_id].append(row.sent_at or row.scheduled_at)
    return dict(mailed)


def _counts_as_mail(kind: str, state: str, planned_kinds: Collection[str]) -> bool:
    """An email the contact got or is about to get; acknowledgements answer their own message."""
    if kind == "acknowledgement":
        return False
    return state in ("sending", "sent") or (state == "planned" and kind in planned_kinds)


def out_of_office(conn: Connection, contacts: Sequence[Any], now: datetime) -> dict[int, date]:
    """Contacts whose latest out-of-office reply says they are away past today, with the return date."""
    by_email: dict[str, list[int]] = defaultdict(list)
    for c in contacts:
        by_email[c.email.lower()].append(c.id)
    today = as_utc(now).date()
    latest: dict[str, tuple[datetime, date]] = {}
    for emails in _chunks(sorted(by_email)):
        # Each sender's auto-replies only (ix_inbound_message_sender_class_received), not their other mail.
        query = sa.select(INBOUND.c.sender_lower, INBOUND.c.received_at, INBOUND.c.return_date).where(
            INBOUND.c.sender_lower.in_(emails),
            INBOUND.c.classification == "autoreply",
            INBOUND.c.received_at <= now,
            INBOUND.c.return_date.is_not(None),
        )
        for row in conn.execute(query):
            key = row.sender_lower
            received = row.received_at or now
            if key not in latest or received > latest[key][0]:
                latest[key] = (received, row.return_date)
    return {cid: back for email, (_, back) in latest.items() if back > today for cid in by_email[email]}


def _plan_rows(
    candidates: Sequence[sa.Row[Any]],
    ctx: _Context,
    now: datetime,
    settings: Settings,
    policies: Mapping[str, Policy],
    window: SendWindow,
    result: PlanResult,
) -> Iterator[dict[str, Any]]:
    busy_days: dict[tuple[int, Recipient], frozenset[date]] = {}
    # next_step is a pure function of these keys; a plan's candidates share a few due dates, policies and
    # recipients, so most decisions are taken once per batch rather than once per candidate.
    decisions: dict[tuple[Any, ...], Decision | None] = {}
    reachable: dict[str, _Recipients] = {}
    for cand in candidates:
        commitment = ctx.commitments.get(cand.commitment_id)
        party = ctx.parties.get(cand.party_code)
        if commitment is None or party is None or not commitment.active or not party.active:
            continue
        try:
            policy = policy_for(policies, commitment.policy, settings.schedule.default_policy)
        except FollowupError as exc:
            result.problems.append(f"assignment {cand.id} ({cand.commitment_id}/{cand.party_code}): {exc}")
            continue
        who = reachable.get(cand.party_code)
        if who is None:
            who = reachable[cand.party_code] = _recipients(ctx.contacts.get(cand.party_code, []), ctx.away)
        if not who.to:
            if who.away:
                result.paused.append(cand.id)  # everyone is away: the steps wait for their return
            else:
                result.unreachable.append(cand.id)
            continue
        for contact in who.to:
            result.considered += 1
            recipient = Recipient(contact.timezone or party.timezone, party.holiday_country)
            try:
                busy = busy_days.get((contact.id, recipient))
                if busy is None:
                    mailed = [local_day(at, recipient) for at in ctx.mailed.get(contact.id, ())]
                    today = local_day(now, recipient)
                    busy = blocked_days(mailed, today, settings.schedule.max_emails_per_week)
                    busy_days[(contact.id, recipient)] = busy
                # Standing in for someone away: what they already received is not sent again.
                handled = frozenset(
                    {
                        *ctx.handled.get((cand.id, cand.due_date, contact.id), ()),
                        *(s for c in who.away for s in ctx.delivered.get((cand.id, cand.due_date, c.id), ())),
                    }
                )
                key = (cand.due_date, cand.state, policy.name, handled, recipient, busy)
                if key in decisions:
                    decision = decisions[key]
                else:
                    decision = decisions[key] = next_step(
                        due_date=cand.due_date,
                        state=cand.state,
                        policy=policy,
                        now=now,
                        handled=handled,
                        recipient=recipient,
                        window=window,
                        busy_days=busy,
                    )
            except FollowupError as exc:
                result.problems.append(f"assignment {cand.id} ({cand.commitment_id}/{cand.party_code}): {exc}")
                break
            if decision is not None:
                yield _row(cand, contact, who, decision, policy, now, settings)


@dataclass(frozen=True)
class _Recipients:
    #: Each gets its own row: primaries with a good address, else the alternates.
    to: list[sa.Row[Any]]
    #: Copied on escalation.
    alternates: list[sa.Row[Any]]
    #: Contacts with role "cc": copied on every notice, which is what the role is for.
    always_cc: list[sa.Row[Any]]
    #: Contacts left out because an out-of-office reply says they are away.
    away: list[sa.Row[Any]] = field(default_factory=list)


def _recipients(contacts: Iterable[sa.Row[Any]], away: Mapping[int, date] | None = None) -> _Recipients:
    """Who hears about a party's assignments.

    An address a server refused ("suspect") or that keeps bouncing
    ("failing") is not written to until someone fixes it, nor is a contact
    whose out-of-office reply says they are away; the alternates stand in
    meanwhile so the party still hears from us.
    """
    away = away or {}
    working = [c for c in contacts if c.address_state == "ok"]
    usable = [c for c in working if c.id not in away]
    primaries = [c for c in usable if c.role == "primary"]
    alternates = [c for c in usable if c.role == "alternate"]
    to = primaries or alternates
    gone = [c for c in working if c.id in away]
    return _Recipients(to, [c for c in alternates if c not in to], [c for c in usable if c.role == "cc"], gone)


def _row(
    cand: sa.Row[Any],
    contact: sa.Row[Any],
    who: _Recipients,
    decision: Decision,
    policy: Policy,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    step = decision.step
    cc_contacts = [*who.always_cc, *(who.alternates if decision.cc_alternate else [])]
    cc = [c.email for c in cc_contacts]
    if decision.cc_secretariat:
        cc.append(settings.secretariat.email)
    return {
        "dedupe_key": dedupe_key(cand.id, cand.due_date, step.key, contact.id),
        "kind": step.kind,
        "assignment_id": cand.id,
        "contact_id": contact.id,
        "recipient": contact.email,
        "step": step.key,
        "due_date": cand.due_date,
        "scheduled_at": decision.scheduled_at,
        "state": "planned",
        "attempts": 0,
        "last_error": "",
        "lease_owner": "",
        "created_at": now,
        "payload": {
            "policy": policy.name,
            "ordinal": step.ordinal,
            "offset_days": step.offset_days,
            "due_date": cand.due_date.isoformat(),
            "nominal_date": decision.nominal_date.isoformat(),
            "commitment_id": cand.commitment_id,
            "party_code": cand.party_code,
            "cc_alternate": decision.cc_alternate,
            "cc_secretariat": decision.cc_secretariat,
            "cc_contact_ids": [c.id for c in cc_contacts],
            "cc": cc,
            "skipped_steps": list(decision.skipped),
        },
    }


#: Values for the columns an outbox row may leave out (``created_at`` defaults to ``scheduled_at``).
_ROW_DEFAULTS: dict[str, Any] = {
    "assignment_id": None,
    "contact_id": None,
    "recipient": "",
    "step": "",
    "due_date": None,
    "state": "planned",
    "attempts": 0,
    "last_error": "",
    "lease_owner": "",
}


#: The outbox insert, built once per database dialect (building it costs more than a small insert).
_INSERT_PLANNED: dict[str, Any] = {}


def insert_planned(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert outbox rows, skipping any whose ``dedupe_key`` exists already; return how many were new.

    Each row needs ``dedupe_key``, ``kind`` and ``scheduled_at`` (aware UTC);
    other columns default as in :data:`_ROW_DEFAULTS`. This is the one door
    into the outbox for every planner (reminders, digests, meeting rounds), so
    a row planned twice, by one process or by two, is stored once.
    """
    if not rows:
        return 0
    with engine.begin() as conn:
        return insert_planned_in(conn, rows)


def insert_planned_in(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """:func:`insert_planned` in the caller's transaction (ingest plans acknowledgements with its other writes)."""
    if not rows:
        return 0
    complete = [{**_ROW_DEFAULTS, "created_at": row["scheduled_at"], "payload": {}, **row} for row in rows]
    stmt = _INSERT_PLANNED.get(conn.dialect.name)
    if stmt is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = _INSERT_PLANNED[conn.dialect.name] = (
            dialect.insert(NOTIFICATION)
            .on_conflict_do_nothing(index_elements=[NOTIFICATION.c.dedupe_key])
            .returning(NOTIFICATION.c.id)
        )
    inserted = 0
    for batch in _chunks(complete):
        inserted += len(conn.execute(stmt, batch).all())
    return inserted


def cancel_stale(engine: Engine, now: datetime) -> int:
    """Cancel planned steps no longer wanted: resolved, moved, withdrawn, or addressed to a dead address.

    Only ``planned`` rows are touched: a row being sent is past recall. Planned
    rows are few (steps are planned when due), so this is cheap at any table
    size. A step cancelled because its contact became unusable is planned
    afresh for whoever stands in (the alternates), since steps are tracked per
    contact.
    """
    n, a = NOTIFICATION, ASSIGNMENT

    def assignment_is(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        return sa.and_(n.c.assignment_id.is_not(None), sa.exists().where(a.c.id == n.c.assignment_id, condition))

    predicates: dict[str, sa.ColumnElement[bool]] = {
        "resolved": assignment_is(a.c.state.not_in(OPEN_STATES)),
        "due_date_moved": assignment_is(a.c.due_date != n.c.due_date),
        "withdrawn": assignment_is(
            sa.or_(
                sa.exists().where(COMMITMENT.c.id == a.c.commitment_id, COMMITMENT.c.active.is_(False)),
                sa.exists().where(PARTY.c.code == a.c.party_code, PARTY.c.active.is_(False)),
            )
        ),
        "contact_unusable": sa.exists().where(
            CONTACT.c.id == n.c.contact_id, sa.or_(CONTACT.c.active.is_(False), CONTACT.c.address_state != "ok")
        ),
    }
    with engine.begin() as conn:
        return sum(_cancel(conn, predicate, now, reason) for reason, predicate in predicates.items())


def cancel_for_assignment(session: Session, assignment_id: int, now: datetime, reason: str = "resolved") -> int:
    """Cancel the planned reminder steps of one assignment (a reply settled it); return how many."""
    conn = session.connection()
    return _cancel(conn, NOTIFICATION.c.assignment_id == assignment_id, as_utc(now), reason)


def cancel_for_assignments(
    session: Session, assignment_ids: Sequence[int], now: datetime, reason: str = "resolved"
) -> int:
    """Cancel the planned reminder steps of several assignments at once (a batch of replies)."""
    conn = session.connection()
    total = 0
    for ids in _chunks(sorted(set(assignment_ids))):
        total += _cancel(conn, _CANCEL_FOR_ASSIGNMENTS, as_utc(now), reason, {"ids": ids})
    return total


def _cancel_statement(which: sa.ColumnElement[bool]) -> sa.Update:
    n = NOTIFICATION
    return (
        sa.update(n)
        .where(n.c.state == "planned", n.c.kind.in_(REMINDER_KINDS), which)
        .values(state="cancelled", lease_owner="", lease_until=None)
        .returning(n.c.id, n.c.assignment_id, n.c.step, n.c.due_date, n.c.contact_id)
    )


#: Built once: a batch of replies runs it with the assignments it resolved.
_CANCEL_FOR_ASSIGNMENTS = _cancel_statement(NOTIFICATION.c.assignment_id.in_(sa.bindparam("ids", expanding=True)))


def _cancel(
    conn: Connection,
    which: sa.ColumnElement[bool] | sa.Update,
    now: datetime,
    reason: str,
    params: Mapping[str, Any] | None = None,
) -> int:
    stmt = which if isinstance(which, sa.Update) else _cancel_statement(which)
    cancelled = conn.execute(stmt, params).all()
    if cancelled:
        conn.execute(
            sa.insert(EVENT),
            [
                {
                    "at": now,
                    "actor": ACTOR,
                    "action": "notification_cancelled",
                    "assignment_id": row.assignment_id,
                    "entity": "notification",
                    "entity_id": str(row.id),
                    "details": {
                        "reason": reason,
                        "step": row.step,
                        "due_date": row.due_date.isoformat() if row.due_date else None,
                        "contact_id": row.contact_id,
                    },
                }
                for row in cancelled
            ],
        )
    return len(cancelled)


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]

"""Which reminder step is due for an assignment, and how due notices are bundled into emails.

Pure rules, no database: the planner feeds them rows and the clock. Two
promises to focal points are kept here:

* Never a burst of stale notices. After downtime (or when a plan is loaded
  late) only the latest step whose time has come is planned, and only while it
  still makes sense: a reminder only before the due date, any step only within
  the policy's ``catch_up_days`` of its own day. Steps are only ever planned in
  increasing order, so once "+8d" is handled "+1d" never follows it.
* One email per contact per day. Notices for the same contact claimed
  together are merged into one message; for one assignment only the most
  advanced step is shown (its earlier siblings ride along and are recorded as
  sent with it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from followup.schedule.policy import STEP_KINDS, Policy, Step, parse_offset
from followup.schedule.sendwindow import (
    Recipient,
    SendWindow,
    local_day,
    next_window_start,
    send_day,
    shift_for,
    window_start,
)
from followup.store.models import Notification
from followup.store.vocabulary import OPEN_STATES

#: Notification kinds produced by policies; only these are merged per contact and day.
REMINDER_KINDS = STEP_KINDS


@dataclass(frozen=True)
class Decision:
    """A step to plan now, and when it may go out."""

    step: Step
    due_date: date
    #: The calendar day the step names (due date + offset), before moving to a working day.
    nominal_date: date
    scheduled_at: datetime
    #: Copies requested by the step or by a step passed over in catch-up (an escalation is never lost).
    cc_alternate: bool
    cc_secretariat: bool
    #: Keys of steps whose time had also come but which were dropped as stale.
    skipped: tuple[str, ...] = ()


def handled_floor(handled: Iterable[str]) -> int | None:
    """The latest offset among handled step keys (keys from an older policy count too)."""
    offsets = []
    for key in handled:
        try:
            offsets.append(parse_offset(key))
        except ValueError:
            continue
    return max(offsets, default=None)


def next_step(
    *,
    due_date: date,
    state: str,
    policy: Policy,
    now: datetime,
    handled: Collection[str],
    recipient: Recipient,
    window: SendWindow,
    busy_days: frozenset[date] = frozenset(),
) -> Decision | None:
    """The one step to plan now for this assignment and recipient, or None.

    ``handled`` holds the step keys already planned, sent, failed or cancelled
    for this due date (a moved due date starts afresh). ``busy_days`` are the
    recipient's local days that already carry an email from us.
    """
    if state not in OPEN_STATES:
        return None
    floor = handled_floor(handled)
    arrived: list[tuple[Step, date]] = []
    for step in policy.steps:
        if floor is not None and step.offset_days <= floor:
            continue
        nominal = date.fromordinal(due_date.toordinal() + step.offset_days)
        day = send_day(nominal, recipient.holiday_country, window, shift_for(step.kind))
        if window_start(day, recipient.zone, window) > now:
            break  # send days never decrease along a policy, so no later step has arrived either
        arrived.append((step, day))
    if not arrived:
        return None
    chosen, chosen_day = arrived[-1]
    scheduled_at = next_window_start(now, recipient, window, avoid=busy_days)
    sending_on = local_day(scheduled_at, recipient)
    if chosen.before_due and sending_on >= due_date:
        return None
    if chosen.kind == "due_today" and sending_on > due_date:
        return None
    if (sending_on - chosen_day).days > policy.catch_up_days:
        return None
    passed_over = [s for s, _ in arrived[:-1]]
    return Decision(
        step=chosen,
        due_date=due_date,
        nominal_date=date.fromordinal(due_date.toordinal() + chosen.offset_days),
        scheduled_at=scheduled_at,
        cc_alternate=chosen.cc_alternate or any(s.cc_alternate for s in passed_over),
        cc_secretariat=chosen.cc_secretariat or any(s.cc_secretariat for s in passed_over),
        skipped=tuple(s.key for s in passed_over),
    )


def blocked_days(mailed: Collection[date], today: date, per_week: int, horizon: int = 31) -> frozenset[date]:
    """Local days on which a contact may get no more mail from us.

    A day that already carries an email (of any kind: one email per contact
    per day), and a day whose previous six days already carry ``per_week``
    emails (the weekly cap), from ``today`` for ``horizon`` days.
    """
    days = set(mailed)
    blocked = {d for d in days if d >= today}
    for n in range(horizon):
        day = date.fromordinal(today.toordinal() + n)
        week = sum(1 for d in days if 1 <= (day - d).days <= 6)
        if week >= per_week:
            blocked.add(day)
    return frozenset(blocked)


@dataclass(frozen=True)
class DeliveryGroup:
    """One email: every claimed row it accounts for, and the items it lists."""

    contact_id: int | None
    recipient: str
    #: The recipient's local day on which this email goes out.
    local_date: date
    #: All rows to mark sent (or failed) with this email's Message-ID.
    rows: tuple[Notification, ...]
    #: What the email lists: one row per assignment, its most advanced step.
    items: tuple[Notification, ...]

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.rows if r.id is not None]

    @property
    def cc_alternate(self) -> bool:
        return any(bool(r.payload.get("cc_alternate")) for r in self.rows)

    @property
    def cc_secretariat(self) -> bool:
        return any(bool(r.payload.get("cc_secretariat")) for r in self.rows)

    @property
    def cc(self) -> list[str]:
        """Every address the rows ask to copy (payload ``cc``), first mention first, without repeats."""
        seen: dict[str, str] = {}
        for row in self.rows:
            for address in row.payload.get("cc", ()):
                if address.lower() != self.recipient.lower():
                    seen.setdefault(address.lower(), address)
        return list(seen.values())


def group_for_delivery(
    rows: Iterable[Notification], now: datetime, zone_of: Callable[[Notification], str]
) -> list[DeliveryGroup]:
    """Bundle claimed rows into emails: policy steps by (contact, local day), anything else alone.

    Everything claimed together goes out now, so "the same local day" is the
    recipient's day at ``now``; ``zone_of`` gives a row's recipient zone.
    """
    buckets: dict[tuple[str, date], list[Notification]] = {}
    singles: list[DeliveryGroup] = []
    for row in rows:
        day = local_day(now, Recipient(zone_of(row)))
        if row.kind not in REMINDER_KINDS:
            singles.append(DeliveryGroup(row.contact_id, row.recipient, day, (row,), (row,)))
            continue
        who = f"c{row.contact_id}" if row.contact_id is not None else f"r{row.recipient.lower()}"
        buckets.setdefault((who, day), []).append(row)
    groups = [*singles]
    for (_, day), members in buckets.items():
        members.sort(key=lambda r: r.id or 0)
        first = members[0]
        groups.append(DeliveryGroup(first.contact_id, first.recipient, day, tuple(members), _items(members)))
    groups.sort(key=lambda g: min(r.id or 0 for r in g.rows))
    return groups


def _items(rows: list[Notification]) -> tuple[Notification, ...]:
    best: dict[object, Notification] = {}
    for row in rows:
        slot: object = row.assignment_id if row.assignment_id is not None else ("row", row.id)
        current = best.get(slot)
        if current is None or _rank(row) > _rank(current):
            best[slot] = row
    return tuple(sorted(best.values(), key=lambda r: (r.due_date or date.max, r.id or 0)))


def _rank(row: Notification) -> tuple[int, int]:
    try:
        offset = parse_offset(row.step)
    except ValueError:
        offset = -(10**6)
    return offset, row.id or 0

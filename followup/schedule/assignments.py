"""Keep assignment rows in step with commitments, owners and meetings.

Called after every data load and on every tick (cheap: it reads the small
commitment, owner and meeting tables, and touches only the assignments of
commitments whose occurrences changed). An assignment that has history is
never deleted: if its owner is dropped it is waived with an event, so the
record of what was chased stays.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from followup.schedule.occurrences import occurrences
from followup.store.events import record_event
from followup.store.models import Assignment, Commitment, CommitmentOwner, Meeting, Party

ACTOR = "data-load"
ASSIGNMENT_TABLE = SQLModel.metadata.tables["assignment"]


@dataclass
class SyncResult:
    created: int = 0
    moved: int = 0
    waived: int = 0


def owners_of(commitment: Commitment, explicit: list[str], members: list[str]) -> list[str]:
    """All owner codes: every member country for all-member rules, plus named owners."""
    codes = list(members) if commitment.owners_all_members else []
    codes.extend(code for code in explicit if code not in codes)
    return codes


def sync_assignments(
    session: Session, today: date, now: datetime, *, kinds: Collection[str] | None = None
) -> SyncResult:
    """Create missing assignments, move pending due dates that the data changed.

    ``kinds`` limits the work to commitments with those due rules: the daemon
    rolls only ``meeting`` and ``recurring`` rules forward (fixed dates change
    only when data is loaded). Existing rows are read as plain tuples, grouped
    by commitment, so a million assignments cost a scan, not a million objects.
    """
    result = SyncResult()
    stmt = select(Commitment).where(col(Commitment.active))
    if kinds is not None:
        stmt = stmt.where(col(Commitment.due_kind).in_(tuple(kinds)))
    commitments = session.exec(stmt).all()
    if not commitments:
        return result
    meetings = session.exec(select(Meeting)).all()
    members = list(session.exec(select(Party.code).where(col(Party.member), col(Party.active)).order_by(Party.code)))
    explicit: dict[str, list[str]] = defaultdict(list)
    for owner_row in session.exec(select(CommitmentOwner)).all():
        explicit[owner_row.commitment_id].append(owner_row.party_code)
    existing: dict[str, dict[tuple[str, str], tuple[int, date, str]]] = defaultdict(dict)
    ids = [c.id for c in commitments]
    table = ASSIGNMENT_TABLE
    for start in range(0, len(ids), 500):
        rows = session.connection().execute(
            sa.select(
                table.c.id, table.c.commitment_id, table.c.party_code, table.c.occurrence,
                table.c.original_due_date, table.c.state,
            ).where(table.c.commitment_id.in_(ids[start : start + 500]))
        )  # fmt: skip
        for r in rows:
            existing[r.commitment_id][(r.party_code, r.occurrence)] = (r.id, r.original_due_date, r.state)
    new_rows: list[dict[str, object]] = []
    for commitment in commitments:
        owners = owners_of(commitment, sorted(explicit.get(commitment.id, [])), members)
        occ = occurrences(commitment, meetings, today)
        have = existing.get(commitment.id, {})
        wanted: set[tuple[str, str]] = set()
        for owner in owners:
            for o in occ:
                wanted.add((owner, o.key))
                found = have.get((owner, o.key))
                if found is None:
                    new_rows.append(
                        {
                            "commitment_id": commitment.id,
                            "party_code": owner,
                            "occurrence": o.key,
                            "meeting_id": o.meeting_id,
                            "original_due_date": o.due,
                            "due_date": o.due,
                            "state": "pending",
                            "state_changed_at": now,
                            "extension_requested_to": None,
                            "note": "",
                        }
                    )
                elif found[1] != o.due:
                    # The data moved the deadline. An extension granted by the
                    # secretariat keeps its own date; otherwise follow the data.
                    row = session.get(Assignment, found[0])
                    assert row is not None
                    row.original_due_date = o.due
                    if row.state == "pending":
                        row.due_date = o.due
                    session.add(row)
                    result.moved += 1
                    record_event(session, now, ACTOR, "due-date-changed", assignment_id=row.id, due_date=o.due)
        for key, (aid, _original, state) in have.items():
            if key not in wanted and state in ("pending", "extended"):
                row = session.get(Assignment, aid)
                assert row is not None
                row.state = "waived"
                row.state_changed_at = now
                session.add(row)
                result.waived += 1
                record_event(session, now, ACTOR, "waived", assignment_id=aid, reason="owner or occurrence removed")
    session.flush()
    if new_rows:
        session.connection().execute(sa.insert(table), new_rows)
    result.created = len(new_rows)
    return result

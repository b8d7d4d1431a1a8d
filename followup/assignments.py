"""Keep assignment rows in step with commitments, owners and meetings.

Called after every data load and on every tick (cheap: it reads the small
commitment, owner and meeting tables, and touches only the assignments of
commitments whose occurrences changed). An assignment that has history is
never deleted: if its owner is dropped it is waived with an event, so the
record of what was chased stays.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, col, select

from followup.events import record_event
from followup.models import Assignment, Commitment, CommitmentOwner, Meeting, Party
from followup.occurrences import occurrences

ACTOR = "data-load"


@dataclass
class SyncResult:
    created: int = 0
    moved: int = 0
    waived: int = 0
    created_ids: list[int] = field(default_factory=list)


def owners_of(commitment: Commitment, explicit: list[str], members: list[str]) -> list[str]:
    """All owner codes: every member country for all-member rules, plus named owners."""
    codes = list(members) if commitment.owners_all_members else []
    codes.extend(code for code in explicit if code not in codes)
    return codes


def sync_assignments(session: Session, today: date, now: datetime) -> SyncResult:
    """Create missing assignments, move pending due dates that the data changed."""
    result = SyncResult()
    commitments = session.exec(select(Commitment).where(col(Commitment.active))).all()
    meetings = session.exec(select(Meeting)).all()
    members = list(session.exec(select(Party.code).where(col(Party.member), col(Party.active)).order_by(Party.code)))
    explicit: dict[str, list[str]] = defaultdict(list)
    for owner_row in session.exec(select(CommitmentOwner)).all():
        explicit[owner_row.commitment_id].append(owner_row.party_code)
    existing: dict[tuple[str, str, str], Assignment] = {}
    active_ids = [c.id for c in commitments]
    if active_ids:
        for a in session.exec(select(Assignment).where(col(Assignment.commitment_id).in_(active_ids))).all():
            existing[(a.commitment_id, a.party_code, a.occurrence)] = a
    new_rows: list[Assignment] = []
    for commitment in commitments:
        owners = owners_of(commitment, sorted(explicit.get(commitment.id, [])), members)
        occ = occurrences(commitment, meetings, today)
        wanted = set()
        for owner in owners:
            for o in occ:
                key = (commitment.id, owner, o.key)
                wanted.add(key)
                row = existing.get(key)
                if row is None:
                    new_rows.append(
                        Assignment(
                            commitment_id=commitment.id,
                            party_code=owner,
                            occurrence=o.key,
                            meeting_id=o.meeting_id,
                            original_due_date=o.due,
                            due_date=o.due,
                            state="pending",
                            state_changed_at=now,
                        )
                    )
                elif row.original_due_date != o.due:
                    # The data moved the deadline. An extension granted by the
                    # secretariat keeps its own date; otherwise follow the data.
                    row.original_due_date = o.due
                    if row.state == "pending":
                        row.due_date = o.due
                    session.add(row)
                    result.moved += 1
                    record_event(session, now, ACTOR, "due-date-changed", assignment_id=row.id, due_date=o.due)
        for key, row in existing.items():
            if key[0] == commitment.id and key not in wanted and row.state in ("pending", "extended"):
                row.state = "waived"
                row.state_changed_at = now
                session.add(row)
                result.waived += 1
                record_event(session, now, ACTOR, "waived", assignment_id=row.id, reason="owner or occurrence removed")
    session.add_all(new_rows)
    session.flush()
    result.created = len(new_rows)
    result.created_ids = [r.id for r in new_rows if r.id is not None]
    return result

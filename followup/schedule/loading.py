"""Writing a validated :class:`~followup.store.dataset.DataSet` to the database.

Upserts by stable id: loading the same files twice changes nothing; a changed
field is updated. References are checked against the files *and* the
database (a contacts CSV may name countries loaded earlier) before anything
is written: if any problem is found, nothing is.

Then the rows are written in batches of :data:`LOAD_BATCH`, each its own
short transaction whose reads all happen before its first write. SQLite
lets one writer at a time and others wait only ``busy_timeout``: a 30,000
row load in one transaction held the lock for longer than that, and a
``followup confirm`` meanwhile failed with "database is locked". Now it
waits at most one batch. A load stopped midway leaves the batches it
committed; loading the same files again completes it (upserts are
idempotent). A dry run stays one transaction, rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select

from followup.clock import local_date
from followup.errors import DataFileError, Problem
from followup.schedule.assignments import SyncResult, sync_assignments
from followup.store.datafile import parse_files
from followup.store.dataset import CommitmentRecord, ContactRecord, DataSet, MeetingRecord, PartyRecord
from followup.store.events import record_event
from followup.store.models import Assignment, Commitment, CommitmentOwner, Contact, Meeting, Notification, Party

ACTOR = "data-load"
#: Records written per transaction (see the module docstring).
LOAD_BATCH = 500
KINDS = ("parties", "contacts", "meetings", "commitments")


@dataclass
class LoadReport:
    created: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    updated: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    missing: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    removed: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    assignments: SyncResult = field(default_factory=SyncResult)
    dry_run: bool = False
    #: Proposals in an ``undated`` section still without a due rule: read, not loaded.
    undated: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        lines = []
        for kind in KINDS:
            lines.append(
                f"{kind}: {len(self.created[kind])} new, {len(self.updated[kind])} updated, "
                f"{self.unchanged[kind]} unchanged"
                + (f", {len(self.removed[kind])} removed" if self.removed[kind] else "")
            )
            if self.missing[kind] and not self.removed[kind]:
                shown = ", ".join(self.missing[kind][:10]) + (" ..." if len(self.missing[kind]) > 10 else "")
                lines.append(f"  not in the files (kept; --prune removes): {shown}")
        a = self.assignments
        lines.append(f"assignments: {a.created} new, {a.moved} moved, {a.waived} waived")
        if self.undated:
            shown = ", ".join(self.undated[:10]) + (" ..." if len(self.undated) > 10 else "")
            lines.append(f"undated: {len(self.undated)} not tracked until each has a due rule: {shown}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "missing": self.missing,
            "removed": self.removed,
            "assignments": {"created": self.assignments.created, "moved": self.assignments.moved},
            "dry_run": self.dry_run,
            "undated": self.undated,
        }


def load_paths(engine: Engine, paths: Sequence[Path], *, now: datetime, prune: bool = False) -> LoadReport:
    """Parse, validate and load data files in one transaction."""
    return apply_dataset(engine, parse_files(paths), now=now, prune=prune)


def apply_dataset(
    engine: Engine, data: DataSet, *, now: datetime, prune: bool = False, dry_run: bool = False, zone: str = "UTC"
) -> LoadReport:
    report = LoadReport(dry_run=dry_run, undated=list(data.undated))
    steps: list[tuple[Any, Sequence[Any]]] = [
        (_upsert_parties, data.parties),
        (_upsert_meetings, data.meetings),
        (_upsert_contacts, data.contacts),
        (_upsert_commitments, data.commitments),
    ]
    with Session(engine, expire_on_commit=False) as session:
        problems = check_references(session, data)
        if problems:
            raise DataFileError(problems)
        if dry_run:
            with session.no_autoflush:
                for upsert, records in steps:
                    if records:
                        upsert(session, list(records), report, now)
        else:
            session.commit()  # nothing written: just end the reading transaction before the batches
            for upsert, records in steps:
                for start in range(0, len(records), LOAD_BATCH):
                    with Session(engine, expire_on_commit=False) as batch, batch.no_autoflush:
                        upsert(batch, list(records[start : start + LOAD_BATCH]), report, now)
                        batch.commit()
        _find_missing(session, data, report)
        if prune:
            _prune(session, report, now)
        session.flush()
        report.assignments = sync_assignments(session, local_date(now, zone), now)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    return report


def check_references(session: Session, data: DataSet) -> list[Problem]:
    """References that neither the files nor the database can satisfy."""
    problems: list[Problem] = []
    db_parties = {p.code: p.kind for p in session.exec(select(Party)).all()}
    file_parties = {p.code: p.kind for p in data.parties}
    for p in data.parties:
        other = db_parties.get(p.code)
        if other is not None and other != p.kind:
            problems.append(Problem(p.origin.file, p.origin.line, f"code {p.code!r} is already used by a {other}"))
    parties = {**db_parties, **file_parties}
    meetings = set(session.exec(select(Meeting.id)).all()) | {m.id for m in data.meetings}
    for c in data.contacts:
        if c.party not in parties:
            problems.append(Problem(c.origin.file, c.origin.line, f"unknown country or organisation code {c.party!r}"))
    for cm in data.commitments:
        for owner in cm.owners:
            if owner not in parties:
                problems.append(
                    Problem(cm.origin.file, cm.origin.line, f"unknown owner {owner!r} (not a country or organisation)")
                )
        if cm.due.meeting_id and cm.due.meeting_id not in meetings:
            problems.append(Problem(cm.origin.file, cm.origin.line, f"unknown meeting {cm.due.meeting_id!r}"))
    return problems


def _changed(row: SQLModel, values: dict[str, Any]) -> bool:
    dirty = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            dirty = True
    return dirty


def _upsert(
    session: Session, kind: str, key: str, row: SQLModel | None, make: Any, values: dict[str, Any], report: LoadReport
) -> SQLModel:
    if row is None:
        row = make(**values)
        session.add(row)
        report.created[kind].append(key)
    elif _changed(row, values):
        session.add(row)
        report.updated[kind].append(key)
    else:
        report.unchanged[kind] += 1
    return row


def _upsert_parties(session: Session, records: list[PartyRecord], report: LoadReport, now: datetime) -> None:
    # Loaded into the identity map now, so that session.get below reads nothing.
    session.exec(select(Party).where(col(Party.code).in_([r.code for r in records]))).all()
    for r in records:
        values = {
            "code": r.code,
            "kind": r.kind,
            "name_en": r.name.en,
            "name_es": r.name.es,
            "text_name_en": r.name_in_text.en,
            "text_name_es": r.name_in_text.es,
            "timezone": r.timezone,
            "language": r.language,
            "member": r.member,
            "holiday_country": r.holiday_country,
            "active": True,
        }
        _upsert(session, "parties", r.code, session.get(Party, r.code), Party, values, report)


def _upsert_meetings(session: Session, records: list[MeetingRecord], report: LoadReport, now: datetime) -> None:
    session.exec(select(Meeting).where(col(Meeting.id).in_([r.id for r in records]))).all()
    for r in records:
        values = {
            "id": r.id,
            "kind": r.kind,
            "title_en": r.title.en,
            "title_es": r.title.es,
            "start_date": r.start,
            "end_date": r.end,
            "place": r.place,
        }
        _upsert(session, "meetings", r.id, session.get(Meeting, r.id), Meeting, values, report)


def _upsert_contacts(session: Session, records: list[ContactRecord], report: LoadReport, now: datetime) -> None:
    known = {c.key: c for c in session.exec(select(Contact).where(col(Contact.key).in_([r.key for r in records])))}
    for r in records:
        row = known.get(r.key)
        values = {
            "key": r.key,
            "party_code": r.party,
            "name": r.name,
            "email": r.email,
            "role": r.role,
            "language": r.language,
            "timezone": r.timezone,
            "active": r.active,
            "salutation_en": r.salutation.en,
            "salutation_es": r.salutation.es,
        }
        if row is not None and row.email != r.email:
            # A new address starts with a clean record.
            values.update(address_state="ok", address_note="")
            record_event(session, now, ACTOR, "contact-email-changed", entity="contact", entity_id=r.key)
        _upsert(session, "contacts", r.key, row, Contact, values, report)


def _upsert_commitments(session: Session, records: list[CommitmentRecord], report: LoadReport, now: datetime) -> None:
    ids = [r.id for r in records]
    session.exec(select(Commitment).where(col(Commitment.id).in_(ids))).all()
    owners: dict[str, set[str]] = {}
    for owner_row in session.exec(select(CommitmentOwner).where(col(CommitmentOwner.commitment_id).in_(ids))):
        owners.setdefault(owner_row.commitment_id, set()).add(owner_row.party_code)
    for r in records:
        d = r.due
        values = {
            "id": r.id,
            "title_en": r.title.en,
            "title_es": r.title.es,
            "description_en": r.description.en,
            "description_es": r.description.es,
            "source_subject": r.source.subject,
            "source_objective": r.source.objective,
            "source_text": r.source.text,
            "source_document": r.source.document,
            "owners_all_members": r.owners_all_members,
            "due_kind": d.kind,
            "due_date": d.on,
            "due_precision": d.precision,
            "due_meeting_kind": d.meeting_kind,
            "due_meeting_id": d.meeting_id,
            "due_offset_days": d.days_before,
            "recurrence_months": d.every_months,
            "recurrence_anchor": d.anchor,
            "recurrence_until": d.until,
            "policy": r.policy,
            "status_hint": r.status,
            "active": True,
        }
        row = session.get(Commitment, r.id)
        before = len(report.updated["commitments"])
        _upsert(session, "commitments", r.id, row, Commitment, values, report)
        current = owners.get(r.id, set())
        wanted = set(r.owners)
        if current != wanted:
            for code in current - wanted:
                owner = session.get(CommitmentOwner, (r.id, code))
                if owner is not None:
                    session.delete(owner)
            session.add_all(CommitmentOwner(commitment_id=r.id, party_code=code) for code in wanted - current)
            if row is not None and len(report.updated["commitments"]) == before:
                report.unchanged["commitments"] -= 1
                report.updated["commitments"].append(r.id)


def _find_missing(session: Session, data: DataSet, report: LoadReport) -> None:
    """Items in the database that the files do not mention, for kinds the files cover."""
    if data.parties:
        seen = {p.code for p in data.parties}
        kinds = {p.kind for p in data.parties}
        rows = session.exec(select(Party).where(col(Party.active), col(Party.kind).in_(kinds))).all()
        report.missing["parties"] = sorted(p.code for p in rows if p.code not in seen)
    if data.contacts:
        seen = {c.key for c in data.contacts}
        report.missing["contacts"] = sorted(k for k in session.exec(select(Contact.key)).all() if k not in seen)
    if data.meetings:
        seen = {m.id for m in data.meetings}
        report.missing["meetings"] = sorted(k for k in session.exec(select(Meeting.id)).all() if k not in seen)
    if data.commitments:
        seen = {c.id for c in data.commitments}
        ids = session.exec(select(Commitment.id).where(col(Commitment.active))).all()
        report.missing["commitments"] = sorted(k for k in ids if k not in seen)


def _prune(session: Session, report: LoadReport, now: datetime) -> None:
    """Remove what the files no longer mention; keep anything with history, deactivated."""
    for code in report.missing["parties"]:
        party = session.get(Party, code)
        if party is not None:
            party.active = False
            party.member = False
            session.add(party)
            report.removed["parties"].append(code)
    for key in report.missing["contacts"]:
        contact = session.exec(select(Contact).where(Contact.key == key)).one()
        used = session.exec(select(Notification.id).where(Notification.contact_id == contact.id).limit(1)).first()
        if used is None:
            session.delete(contact)
        else:
            contact.active = False
            session.add(contact)
        report.removed["contacts"].append(key)
    for mid in report.missing["meetings"]:
        used_by = session.exec(select(Assignment.id).where(Assignment.meeting_id == mid).limit(1)).first()
        referenced = session.exec(select(Commitment.id).where(Commitment.due_meeting_id == mid).limit(1)).first()
        meeting = session.get(Meeting, mid)
        if meeting is not None and used_by is None and referenced is None:
            session.delete(meeting)
            report.removed["meetings"].append(mid)
    for cid in report.missing["commitments"]:
        commitment = session.get(Commitment, cid)
        if commitment is None:
            continue
        commitment.active = False
        session.add(commitment)
        for a in session.exec(select(Assignment).where(Assignment.commitment_id == cid)).all():
            if a.state in ("pending", "extended"):
                a.state = "waived"
                a.state_changed_at = now
                session.add(a)
                record_event(session, now, ACTOR, "waived", assignment_id=a.id, reason="commitment removed by --prune")
        report.removed["commitments"].append(cid)
    for kind, keys in report.removed.items():
        for key in keys:
            record_event(session, now, ACTOR, "pruned", entity=kind, entity_id=key)

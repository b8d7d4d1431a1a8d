"""Rows looked up while building one batch of emails, each fetched once."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import TypeVar

from sqlmodel import Session, col, func, select

from followup.errors import PermanentDeliveryError
from followup.schedule.reminder_rules import REMINDER_KINDS
from followup.store.models import Assignment, Commitment, Contact, Event, Meeting, Notification, Party
from followup.store.vocabulary import OPEN_STATES

_K = TypeVar("_K", int, str)


class RowCache:
    """Rows looked up while building one batch of emails, each fetched once.

    :meth:`preload_contacts` and :meth:`preload_items` fetch a whole batch's
    rows with one query per table (and per :data:`PRELOAD_CHUNK` keys), and
    the counts each reminder states (reminders sent, extensions granted); the
    lookups then fall back to one query per row only for what was not
    preloaded. A query per email for each count cost more than building the
    email itself.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._contacts: dict[int, Contact | None] = {}
        self._parties: dict[str, Party] = {}
        self._assignments: dict[int, Assignment | None] = {}
        self._commitments: dict[str, Commitment] = {}
        self._meetings: dict[str, Meeting | None] = {}
        self._sent: dict[int, int] = {}
        self._extended: dict[int, int] = {}

    def preload_contacts(self, contact_ids: Iterable[int]) -> None:
        """The contacts and their parties."""
        wanted = sorted({i for i in contact_ids if i not in self._contacts})
        for chunk in _chunks(wanted):
            for contact in self.session.exec(select(Contact).where(col(Contact.id).in_(chunk))):
                self._contacts[contact.id or 0] = contact
        for contact_id in wanted:
            self._contacts.setdefault(contact_id, None)
        self._preload_parties(c.party_code for c in self._contacts.values() if c is not None)

    def preload_items(self, rows: Iterable[Notification]) -> None:
        """The assignments reminder rows are about, their commitments and their owners."""
        wanted = sorted({r.assignment_id for r in rows if r.assignment_id is not None} - self._assignments.keys())
        for chunk in _chunks(wanted):
            for assignment in self.session.exec(select(Assignment).where(col(Assignment.id).in_(chunk))):
                self._assignments[assignment.id or 0] = assignment
        for assignment_id in wanted:
            self._assignments.setdefault(assignment_id, None)
        found = [a for a in self._assignments.values() if a is not None]
        commitments = sorted({a.commitment_id for a in found} - self._commitments.keys())
        for keys in _chunks(commitments):
            for commitment in self.session.exec(select(Commitment).where(col(Commitment.id).in_(keys))):
                self._commitments[commitment.id] = commitment
        self._preload_parties(a.party_code for a in found)
        self._preload_counts(wanted)

    def reminders_sent(self, assignment_ids: Iterable[int]) -> dict[int, int]:
        """Reminders really sent about each assignment, as the batch began (see :func:`reminders_sent`)."""
        wanted = set(assignment_ids)
        self._preload_counts(wanted)
        return {a: self._sent[a] for a in wanted}

    def extensions_granted(self, assignment_ids: Iterable[int]) -> dict[int, int]:
        """Extensions granted to each assignment (see :func:`extensions_granted`)."""
        wanted = set(assignment_ids)
        self._preload_counts(wanted)
        return {a: self._extended[a] for a in wanted}

    def _preload_counts(self, assignment_ids: Iterable[int]) -> None:
        wanted = sorted(set(assignment_ids) - self._sent.keys())
        if not wanted:
            return
        sent = reminders_sent(self.session, wanted)
        moved = extensions_granted(self.session, wanted)
        for assignment_id in wanted:
            self._sent[assignment_id] = sent.get(assignment_id, 0)
            self._extended[assignment_id] = moved.get(assignment_id, 0)

    def _preload_parties(self, codes: Iterable[str]) -> None:
        wanted = sorted(set(codes) - self._parties.keys())
        for chunk in _chunks(wanted):
            for party in self.session.exec(select(Party).where(col(Party.code).in_(chunk))):
                self._parties[party.code] = party

    def zone(self, contact_id: int | None) -> str | None:
        """A contact's zone (its own, else its party's); None when the contact or its party is gone."""
        contact = self.contact(contact_id)
        if contact is None:
            return None
        if contact.timezone:
            return contact.timezone
        party = self._parties.get(contact.party_code) or self.session.get(Party, contact.party_code)
        return party.timezone if party is not None else None

    def contact(self, contact_id: int | None) -> Contact | None:
        if contact_id is None:
            return None
        if contact_id not in self._contacts:
            self._contacts[contact_id] = self.session.get(Contact, contact_id)
        return self._contacts[contact_id]

    def party(self, code: str) -> Party:
        if code not in self._parties:
            party = self.session.get(Party, code)
            if party is None:
                raise PermanentDeliveryError(f"party {code!r} no longer exists")
            self._parties[code] = party
        return self._parties[code]

    def assignment(self, assignment_id: int | None) -> Assignment | None:
        if assignment_id is None:
            return None
        if assignment_id not in self._assignments:
            self._assignments[assignment_id] = self.session.get(Assignment, assignment_id)
        return self._assignments[assignment_id]

    def commitment(self, commitment_id: str) -> Commitment:
        if commitment_id not in self._commitments:
            found = self.session.get(Commitment, commitment_id)
            if found is None:
                raise PermanentDeliveryError(f"commitment {commitment_id!r} no longer exists")
            self._commitments[commitment_id] = found
        return self._commitments[commitment_id]

    def meeting(self, meeting_id: str) -> Meeting | None:
        if meeting_id not in self._meetings:
            self._meetings[meeting_id] = self.session.get(Meeting, meeting_id)
        return self._meetings[meeting_id]

    def open_by(self, by: date, party_code: str | None) -> list[tuple[Assignment, Commitment, Party]]:
        stmt = (
            select(Assignment, Commitment, Party)
            .join(Commitment, col(Commitment.id) == Assignment.commitment_id)
            .join(Party, col(Party.code) == Assignment.party_code)
            .where(col(Commitment.active), col(Assignment.state).in_(OPEN_STATES), Assignment.due_date <= by)
            .order_by(col(Assignment.party_code), col(Assignment.due_date))
        )
        if party_code:
            stmt = stmt.where(Assignment.party_code == party_code)
        return [(a, c, p) for a, c, p in self.session.exec(stmt).all()]


def extensions_granted(session: Session, assignment_ids: Sequence[int]) -> dict[int, int]:
    """How many times each assignment's deadline was extended: the ``SEQUENCE`` of its calendar event."""
    if not assignment_ids:
        return {}
    counts: dict[int, int] = {}
    for chunk in _chunks(sorted(set(assignment_ids))):
        stmt = (
            select(Event.assignment_id, func.count())
            .where(col(Event.assignment_id).in_(chunk), Event.action == "extended")
            .group_by(col(Event.assignment_id))
        )
        counts.update({aid: int(n) for aid, n in session.exec(stmt).all() if aid is not None})
    return counts


def reminders_sent(session: Session, assignment_ids: Sequence[int]) -> dict[int, int]:
    """Emails really sent about each assignment (a merged email counts once for each item it listed)."""
    counts: dict[int, int] = {}
    for chunk in _chunks(sorted(set(assignment_ids))):
        stmt = (
            select(Notification.assignment_id, func.count(func.distinct(Notification.message_id)))
            .where(
                col(Notification.assignment_id).in_(chunk),
                col(Notification.kind).in_(REMINDER_KINDS),
                Notification.state == "sent",
            )
            .group_by(col(Notification.assignment_id))
        )
        counts.update({aid: int(n) for aid, n in session.exec(stmt).all() if aid is not None})
    return counts


#: Keys per IN (...) list when preloading.
PRELOAD_CHUNK = 500


def _chunks(keys: Sequence[_K]) -> Iterator[Sequence[_K]]:
    for start in range(0, len(keys), PRELOAD_CHUNK):
        yield keys[start : start + PRELOAD_CHUNK]

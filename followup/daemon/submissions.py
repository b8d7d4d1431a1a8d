"""What a focal point does through an item's link: "I have sent it", "I need more time", "I have a question".

Each answer is kept as an inbound message (source ``web``) matched to the
item, exactly like an email reply, so triage, ``followup replies`` and the
digest see both channels alike. State changes go through the secretariat's
own service (:func:`followup.daemon.actions.set_state`) under the same rule
as email replies: a confirmation moves an open item to ``submitted`` (or
``confirmed`` with ``replies.count_as_confirmation``) and is acknowledged; an
extension request records the date asked and waits for the secretariat; a
question waits in triage. Events name the contact as actor and ``web`` as
channel.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from followup.daemon.actions import set_state
from followup.inbound.archive import StoredFile, record_files
from followup.inbound.ingest import AckRequest, plan_acknowledgement_requests
from followup.outbound.links import LinkClaim, read_link_token
from followup.settings import Settings
from followup.store.events import record_event
from followup.store.models import Assignment, Commitment, Contact, InboundMatch, InboundMessage, InboundRaw, Party
from followup.store.vocabulary import OPEN_STATES

CHANNEL = "web"
MAX_NOTE = 5000


@dataclass(frozen=True)
class LinkedItem:
    """An item as its link names it, checked against the database."""

    claim: LinkClaim
    assignment: Assignment
    commitment: Commitment
    party: Party
    contact: Contact

    @property
    def language(self) -> str:
        return self.contact.language or self.party.language or "en"


@dataclass(frozen=True)
class LinkCheck:
    """``ok`` with the item, or why not: ``tampered`` (400), ``expired`` or ``revoked`` (410)."""

    status: str
    item: LinkedItem | None = None
    #: The contact's language when the token names one we know, for the error page.
    language: str | None = None


def check_link(engine: Engine, token: str, secret: bytes, today: date) -> LinkCheck:
    claim = read_link_token(token, secret)
    if claim is None:
        return LinkCheck("tampered")
    with Session(engine, expire_on_commit=False) as session:
        contact = session.get(Contact, claim.contact_id)
        assignment = session.get(Assignment, claim.assignment_id)
        party = session.get(Party, assignment.party_code) if assignment is not None else None
        language = (contact.language or (party.language if party else None)) if contact is not None else None
        if claim.expired(today):
            return LinkCheck("expired", language=language)
        if (
            contact is None
            or assignment is None
            or party is None
            or not contact.active
            or contact.party_code != assignment.party_code
            or assignment.original_due_date != claim.occurrence_due
        ):
            return LinkCheck("revoked", language=language)
        commitment = session.get(Commitment, assignment.commitment_id)
        if commitment is None:
            return LinkCheck("revoked", language=language)
        return LinkCheck("ok", LinkedItem(claim, assignment, commitment, party, contact), language)


@dataclass(frozen=True)
class Answer:
    inbound_id: int
    changed: bool
    acknowledged: bool = False


def _inbound(item: LinkedItem, intent: str, text: str, now: datetime, **fields: object) -> tuple[InboundMessage, bytes]:
    """The inbound row of a web submission, and its raw bytes (what was typed)."""
    nonce = secrets.token_hex(8)
    raw = text.encode("utf-8")
    digest = hashlib.sha256(f"web:{item.claim.assignment_id}:{now.isoformat()}:{nonce}:".encode() + raw).hexdigest()
    message = InboundMessage(
        content_hash=digest,
        source=f"web:assignment {item.claim.assignment_id}",
        received_at=now,
        sender=item.contact.email.lower(),
        sender_name=item.contact.name,
        subject=item.commitment.title_en[:500],
        classification="human",
        intent=intent,
        new_text=text[:MAX_NOTE],
        match_method=CHANNEL,
        verified=True,
        **fields,  # type: ignore[arg-type]
    )
    return message, raw


def _store(engine: Engine, item: LinkedItem, stored: tuple[InboundMessage, bytes]) -> int:
    message, raw = stored
    with Session(engine) as session:
        session.add(message)
        session.flush()
        assert message.id is not None
        session.add(InboundRaw(inbound_id=message.id, raw=raw))
        session.add(InboundMatch(inbound_id=message.id, assignment_id=item.claim.assignment_id))
        session.commit()
        return message.id


def submit(
    engine: Engine, settings: Settings, item: LinkedItem, *, note: str, files: Sequence[StoredFile], now: datetime
) -> Answer:
    """ "I have sent it": keep the note and files; an open item becomes submitted and is acknowledged."""
    attachments = [{"filename": f.original_name, "content_type": f.media_type, "size": f.size} for f in files]
    message = _inbound(item, "confirmation", note, now, attachments=attachments, triage="none")
    inbound_id = _store(engine, item, message)
    actor = item.contact.email.lower()
    with Session(engine) as session:
        assignment = session.get(Assignment, item.claim.assignment_id)
        assert assignment is not None
        record_files(
            session, files, assignment, contact_id=item.contact.id, channel=CHANNEL, now=now, inbound_id=inbound_id
        )
        state = assignment.state
        if state not in OPEN_STATES:
            record_event(
                session,
                now,
                actor,
                "submission-added",
                assignment_id=assignment.id,
                channel=CHANNEL,
                inbound_id=inbound_id,
                files=[f.original_name for f in files],
            )
        session.commit()
    if state not in OPEN_STATES:
        return Answer(inbound_id, changed=False)
    target = "confirmed" if settings.replies.count_as_confirmation else "submitted"
    set_state(
        engine,
        item.claim.assignment_id,
        target,
        now=now,
        actor=actor,
        note=note[:500],
        channel=CHANNEL,
        inbound_id=inbound_id,
        files=[f.original_name for f in files],
    )
    planned = plan_acknowledgement_requests(
        engine, settings, [AckRequest(inbound_id, actor, (item.claim.assignment_id,))], now
    )
    return Answer(inbound_id, changed=True, acknowledged=inbound_id in planned)


def request_more_time(engine: Engine, item: LinkedItem, *, until: date, note: str, now: datetime) -> Answer:
    """ "I need more time until DATE": recorded for the secretariat, who decides (triage)."""
    message = _inbound(item, "extension", note, now, proposed_date=until, triage="open")
    inbound_id = _store(engine, item, message)
    with Session(engine) as session:
        assignment = session.get(Assignment, item.claim.assignment_id)
        assert assignment is not None
        assignment.extension_requested_to = until
        session.add(assignment)
        record_event(
            session,
            now,
            item.contact.email.lower(),
            "extension-requested",
            assignment_id=assignment.id,
            channel=CHANNEL,
            inbound_id=inbound_id,
            proposed=until,
        )
        session.commit()
    return Answer(inbound_id, changed=False)


def ask_question(engine: Engine, item: LinkedItem, *, text: str, now: datetime) -> Answer:
    """ "I have a question": waits in triage for a person."""
    message = _inbound(item, "question", text, now, triage="open")
    inbound_id = _store(engine, item, message)
    with Session(engine) as session:
        record_event(
            session,
            now,
            item.contact.email.lower(),
            "question",
            assignment_id=item.claim.assignment_id,
            channel=CHANNEL,
            inbound_id=inbound_id,
        )
        session.commit()
    return Answer(inbound_id, changed=False)

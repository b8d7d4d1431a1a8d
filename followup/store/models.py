"""All tables in one module (no import cycles), as the SQLModel docs advise.

Vocabulary is shared with the rest of the package through the ``*_STATES`` /
``*_KINDS`` tuples of :mod:`followup.store.vocabulary` (import them from there);
columns hold plain strings so that migrations stay simple on both SQLite and
PostgreSQL.

Instants are stored as UTC (:class:`UTCDateTime` turns them back into aware
datetimes, which SQLite would otherwise lose). Deadlines are calendar dates
in the secretariat's zone. Overdue is never stored: it is derived from the
due date and the clock (see :mod:`followup.store.status`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import JSON, Column, Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp column that always gives back an aware UTC datetime."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; core code must use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _lowered(column: str) -> Any:
    """A lower-cased copy of ``column``, computed by the database on every write, for indexed lookups.

    Addresses are compared case-insensitively; filtering on ``lower(column)``
    reads the whole table, while this column carries an index. Being generated,
    it can neither be forgotten by a writer nor drift from its source. Declared
    STORED (PostgreSQL indexes only those); migration 0006 adds it VIRTUAL on
    SQLite, where the index holds the values and the table is not rewritten.
    """
    return Field(default=None, sa_column=Column(sa.String(320), sa.Computed(f"lower({column})", persisted=True)))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Party(SQLModel, table=True):
    """Anyone who owes commitments: a member country or an organisation."""

    __tablename__ = "party"

    code: str = Field(primary_key=True, max_length=16)
    kind: str = Field(max_length=16)
    name_en: str
    name_es: str = ""
    #: The name as running text says it, article included ("the International Organization for
    #: Migration", "la Organización Internacional para las Migraciones"); empty: the name as is.
    text_name_en: str = ""
    text_name_es: str = ""
    timezone: str = Field(max_length=64)
    language: str = Field(max_length=8)
    #: Member countries are the owners of "all member countries" commitments.
    member: bool = False
    #: ISO country code for the ``holidays`` package (empty: no holidays).
    holiday_country: str = Field(default="", max_length=8)
    active: bool = True


class Contact(SQLModel, table=True):
    """A focal point: the person who receives a party's reminders."""

    __tablename__ = "contact"
    __table_args__ = (sa.Index("ix_contact_email_lower", "email_lower"),)

    id: int | None = Field(default=None, primary_key=True)
    #: Stable id from the data file, so reloading updates instead of duplicating.
    key: str = Field(unique=True, max_length=128)
    party_code: str = Field(foreign_key="party.code", index=True, max_length=16)
    name: str
    email: str = Field(index=True, max_length=320)
    #: ``lower(email)``, kept by the database: replies and bounces are matched on it.
    email_lower: str | None = _lowered("email")
    language: str | None = Field(default=None, max_length=8)
    timezone: str | None = Field(default=None, max_length=64)
    role: str = Field(default="primary", max_length=16)
    #: How an email in each language greets this person ("Estimada señora López:"); empty: the
    #: neutral greeting of the templates. Never borrowed across languages.
    salutation_en: str = ""
    salutation_es: str = ""
    active: bool = True
    address_state: str = Field(default="ok", max_length=16)
    address_note: str = ""


class Meeting(SQLModel, table=True):
    __tablename__ = "meeting"

    id: str = Field(primary_key=True, max_length=128)
    kind: str = Field(max_length=16, index=True)
    title_en: str
    title_es: str = ""
    start_date: date = Field(index=True)
    end_date: date
    place: str = ""


class Commitment(SQLModel, table=True):
    """What is owed, by whom, and by when (the due rule)."""

    __tablename__ = "commitment"

    id: str = Field(primary_key=True, max_length=128)
    title_en: str
    title_es: str = ""
    description_en: str = ""
    description_es: str = ""
    source_subject: str = ""
    source_objective: str = ""
    source_text: str = ""
    source_document: str = ""
    owners_all_members: bool = False
    due_kind: str = Field(max_length=16)
    due_date: date | None = None
    due_precision: str = Field(default="day", max_length=8)
    #: For ``meeting`` rules: the kind of meeting and how many days before it.
    due_meeting_kind: str | None = Field(default=None, max_length=16)
    due_meeting_id: str | None = Field(default=None, foreign_key="meeting.id", max_length=128)
    due_offset_days: int = 0
    #: For ``recurring`` rules: every N months from the anchor, optionally until a date.
    recurrence_months: int | None = None
    recurrence_anchor: date | None = None
    recurrence_until: date | None = None
    policy: str | None = Field(default=None, max_length=64)
    status_hint: str = ""
    active: bool = True


class CommitmentOwner(SQLModel, table=True):
    """Explicit owners of a commitment (besides ``owners_all_members``)."""

    __tablename__ = "commitment_owner"

    commitment_id: str = Field(foreign_key="commitment.id", primary_key=True, max_length=128)
    party_code: str = Field(foreign_key="party.code", primary_key=True, max_length=16)


class Assignment(SQLModel, table=True):
    """One owner's instance of one occurrence of a commitment."""

    __tablename__ = "assignment"
    __table_args__ = (
        sa.UniqueConstraint("commitment_id", "party_code", "occurrence", name="uq_assignment_occurrence"),
        sa.Index("ix_assignment_state_due", "state", "due_date"),
        #: A party's open items (a reply that names none of them), without reading its resolved history.
        sa.Index("ix_assignment_party_state", "party_code", "state"),
        #: The status matrix reads every assignment in this order with these columns: from the index alone.
        sa.Index("ix_assignment_matrix", "commitment_id", "party_code", "occurrence", "state", "due_date"),
        # The web's matrix asks, per commitment, "is any cell in this state?": one index probe each.
        sa.Index("ix_assignment_commitment_state_due", "commitment_id", "state", "due_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    commitment_id: str = Field(foreign_key="commitment.id", index=True, max_length=128)
    party_code: str = Field(foreign_key="party.code", max_length=16)
    #: Which occurrence: ``once``, a meeting id, or an ISO date for recurring rules.
    occurrence: str = Field(max_length=128)
    meeting_id: str | None = Field(default=None, foreign_key="meeting.id", max_length=128)
    original_due_date: date
    due_date: date
    state: str = Field(default="pending", max_length=16)
    state_changed_at: datetime | None = _ts()
    #: A reply asked for more time until this date; the secretariat decides.
    extension_requested_to: date | None = None
    note: str = ""


class Notification(SQLModel, table=True):
    """The outbox and the ledger: one row per planned email step.

    ``dedupe_key`` is unique, so planning the same step twice inserts nothing.
    Several rows may share one ``message_id`` when items for one contact are
    merged into one email.
    """

    __tablename__ = "notification"
    __table_args__ = (
        sa.Index("ix_notification_due", "state", "scheduled_at"),
        # Range reads of one contact's (or address's) recent mail; the history before the range is never read.
        sa.Index("ix_notification_contact_sent", "contact_id", "sent_at"),
        sa.Index("ix_notification_contact_scheduled", "contact_id", "scheduled_at"),
        sa.Index("ix_notification_recipient_created", "recipient_lower", "created_at"),
        #: The planned steps of a few assignments (a reply resolved them), however many other rows are planned.
        sa.Index("ix_notification_state_assignment", "state", "assignment_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True, max_length=255)
    kind: str = Field(max_length=24)
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    #: Address for rows with no contact (digest, secretariat copies).
    recipient: str = Field(default="", max_length=320)
    #: ``lower(recipient)``, kept by the database (acknowledgement limits, bounces without a Message-ID).
    recipient_lower: str | None = _lowered("recipient")
    step: str = Field(default="", max_length=32)
    #: The due date this step was planned for (steps re-arm when it moves).
    due_date: date | None = None
    scheduled_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    state: str = Field(default="planned", max_length=16)
    message_id: str | None = Field(default=None, index=True, max_length=255)
    attempts: int = 0
    #: SMTP transactions begun for this row whose end was never seen: the sending process died
    #: mid-send. Too many and the row is given up as a likely cause of the crashes.
    interrupted: int = 0
    last_error: str = ""
    next_attempt_at: datetime | None = _ts()
    lease_owner: str = Field(default="", max_length=64)
    lease_until: datetime | None = _ts()
    sent_at: datetime | None = _ts()
    created_at: datetime | None = _ts()
    payload: dict[str, Any] = _json()
    #: Since when the row waits for the relay's quota or a throttling pause (cleared when sent);
    #: such a row keeps its place in line and no attempt is counted for it.
    held_since: datetime | None = _ts()


class InboundMessage(SQLModel, table=True):
    """A received email: what we made of it (its bytes, kept for audit, are its :class:`InboundRaw`)."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        #: A sender's latest out-of-office reply, without reading their other mail or anyone else's.
        sa.Index("ix_inbound_message_sender_class_received", "sender_lower", "classification", "received_at"),
        #: Replies waiting in triage, oldest first (the digest and ``followup replies``), without reading them all.
        sa.Index("ix_inbound_message_triage", "triage", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: str | None = Field(default=None, index=True, max_length=998)
    content_hash: str = Field(unique=True, max_length=64)
    source: str = Field(default="", max_length=512)
    received_at: datetime | None = _ts()
    sender: str = Field(default="", max_length=320, index=True)
    #: ``lower(sender)``, kept by the database.
    sender_lower: str | None = _lowered("sender")
    sender_name: str = ""
    subject: str = ""
    classification: str = Field(default="human", max_length=16)
    intent: str = Field(default="unknown", max_length=16)
    new_text: str = ""
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    proposed_date: date | None = None
    return_date: date | None = None
    bounced_recipient: str = ""
    bounce_permanent: bool | None = None
    notification_id: int | None = Field(default=None, foreign_key="notification.id")
    match_method: str = Field(default="", max_length=32)
    verified: bool = False
    quarantined: bool = False
    error: str = ""
    triage: str = Field(default="none", max_length=16)
    #: Set in the transaction that interprets the message; NULL means stored but not yet
    #: interpreted (a crash in between), and the next ingest or poll interprets it first.
    interpreted_at: datetime | None = _ts(index=True)
    #: Why the receiving server's Authentication-Results made the sender untrusted ("" when it did not).
    auth_failure: str = Field(default="", max_length=200)


class InboundRaw(SQLModel, table=True):
    """An inbound message's bytes exactly as received, stored with its row and never changed.

    A table of their own: interpreting a message fills in its row, and a
    database rewrites a row whose size changes, raw bytes and all.
    """

    __tablename__ = "inbound_raw"

    inbound_id: int = Field(foreign_key="inbound_message.id", primary_key=True)
    raw: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))


class InboundMatch(SQLModel, table=True):
    """Which assignments an inbound message was matched to (one or several)."""

    __tablename__ = "inbound_match"

    inbound_id: int = Field(foreign_key="inbound_message.id", primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", primary_key=True, index=True)


class MailboxState(SQLModel, table=True):
    """IMAP progress: the UIDVALIDITY seen and the highest UID processed."""

    __tablename__ = "mailbox_state"

    mailbox: str = Field(primary_key=True, max_length=512)
    uidvalidity: int
    last_uid: int = 0


class Event(SQLModel, table=True):
    """The audit trail: every state change, who or what caused it, when."""

    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id", index=True)
    entity: str = Field(default="", max_length=32)
    entity_id: str = Field(default="", max_length=128)
    details: dict[str, Any] = _json()


class ArchiveFile(SQLModel, table=True):
    """One submitted file: an upload or an attachment of a matched reply.

    The bytes live once under ``web.archive_dir`` by their SHA-256; several
    rows may name the same bytes (one file sent for two items, or twice).
    """

    __tablename__ = "archive_file"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, index=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    commitment_id: str = Field(max_length=128, index=True)
    party_code: str = Field(max_length=16, index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id", index=True)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    channel: str = Field(max_length=8)
    #: The sender's file name, sanitised; shown and offered on download, never a path.
    original_name: str = Field(max_length=255)
    media_type: str = Field(max_length=128)
    size: int


class WebUser(SQLModel, table=True):
    """A secretariat account for the web pages (argon2 password hash)."""

    __tablename__ = "web_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=320)
    role: str = Field(default="viewer", max_length=16)
    password_hash: str = ""
    active: bool = True
    created_at: datetime | None = _ts()
    #: Sessions issued before this instant are no longer valid (password changed, user removed).
    sessions_valid_after: datetime | None = _ts()


class RelayQuota(SQLModel, table=True):
    """One SMTP relay's shared quota state: every daemon sending through it reads and updates this row.

    Updated by compare-and-set on ``version`` (see :mod:`followup.outbound.relay_quota`), so two
    daemons on one database never both spend the last token.
    """

    __tablename__ = "relay_quota"

    relay: str = Field(primary_key=True, max_length=255)
    tokens: float = 0.0
    refilled_at: datetime | None = _ts()
    #: Hours since the epoch of the last entry of ``hour_counts`` (recipients sent per hour).
    hour: int = Field(default=0, sa_column=Column(sa.BigInteger(), nullable=False))
    hour_counts: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    paused_until: datetime | None = _ts()
    strikes: int = 0
    last_error: str = ""
    version: int = 0


class RateCount(SQLModel, table=True):
    """Requests counted against a web rate limit, per key and time slot.

    In the database, not in a process, so that several web processes behind
    one proxy share each limit instead of multiplying it. ``slot`` and
    ``expires`` are Unix seconds: plain integers compare the same on SQLite
    and PostgreSQL.
    """

    __tablename__ = "rate_count"

    #: The limit's name and what it counts, e.g. ``link:addr:192.0.2.7`` or ``login:acct:ana@example.org``.
    key: str = Field(primary_key=True, max_length=200)
    #: Start of the slot (Unix seconds, a multiple of the limit's slot length).
    slot: int = Field(primary_key=True, sa_type=sa.BigInteger)
    count: int = 0
    #: When the slot no longer counts for its limit; older rows are purged.
    expires: int = Field(sa_type=sa.BigInteger, index=True)

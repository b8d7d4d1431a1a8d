"""Inbound mail: store it, understand it, match it, act on it.

Every message is stored raw first, in its own transaction, deduplicated by
Message-ID (by content hash when there is none). Only then is it
interpreted; a message that cannot be parsed, or that trips a bug, stays
stored and quarantined for a person to look at. Nothing here raises on bad
mail.

A crash between the two transactions must not lose a reply: a stored row
keeps ``interpreted_at`` NULL until the transaction that interprets it sets
it, so :func:`interpret_pending` (run first by every ingest and IMAP poll)
finds it, and storing the same message again interprets it instead of
calling it "already known". The interpreting transaction claims its rows
with a conditional UPDATE, so two workers never interpret one message twice.

Authority: only a focal point of the assignment's owner changes an
assignment's state. The secretariat acts through the CLI or the web, never
by mail: its address is printed on every reminder and is the first one a
forger would use. A message whose receiving server reports a DMARC or SPF
failure for its From domain (:mod:`followup.inbound.authresults`) changes
nothing either. Everything else is recorded and waits in triage. Bounces
and auto-replies never change state and are never answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from followup.clock import as_utc, local_date
from followup.inbound.archive import ParsedReply, archive_parsed
from followup.inbound.authresults import failures as auth_failures
from followup.inbound.batching import plan_batches
from followup.inbound.classify import AUTOREPLY, BOUNCE, HUMAN, Understanding, understand
from followup.inbound.matching import Match, SentMessage, decide, sent_messages
from followup.inbound.naming import named_by_words, says_all
from followup.inbound.parse import content_hash
from followup.outbound.tokens import extract_tokens, parse_reference_tags, verify_token
from followup.schedule.planner import cancel_for_assignments, insert_planned_in
from followup.settings import Settings
from followup.store.events import jsonable
from followup.store.models import Assignment, InboundMessage
from followup.store.vocabulary import OPEN_STATES

log = logging.getLogger("followup.ingest")
ACTOR_PREFIX = "reply:"
MAX_TEXT = 20_000


@dataclass
class IngestResult:
    inbound_id: int | None
    duplicate: bool = False
    classification: str = ""
    intent: str = ""
    method: str = ""
    assignment_ids: tuple[int, ...] = ()
    changed: list[int] = field(default_factory=list)
    verified: bool = False
    triage: str = "none"
    quarantined: bool = False
    acknowledged: bool = False
    #: Stored by an earlier run that stopped before interpreting it.
    resumed: bool = False
    #: The receiving server's failed checks that made the sender untrusted.
    auth_failure: str = ""
    #: A confirmation that does not say which of several items it covers: nothing changed, we ask.
    ask_which: bool = False

    def describe(self) -> str:
        if self.duplicate:
            return "duplicate (already stored)"
        if self.quarantined:
            return "quarantined"
        match = f"matched {', '.join(f'#{a}' for a in self.assignment_ids)} by {self.method}" if self.method else ""
        parts = [self.classification, self.intent if self.classification == HUMAN else "", match or "unmatched"]
        if self.changed:
            parts.append(f"state changed for {', '.join(f'#{a}' for a in self.changed)}")
        if self.auth_failure:
            parts.append(f"sender not authenticated ({self.auth_failure})")
        if self.ask_which:
            parts.append("submitted: which items?")
        if self.triage == "open":
            parts.append("waiting in triage")
        if self.resumed:
            parts.append("interpreted after an interruption")
        return ", ".join(p for p in parts if p)


#: Runs inside each storing transaction with the sources of the messages it stored or found stored
#: (the IMAP poll saves its cursor there, so the database never claims a message it does not hold).
OnStored = Callable[[Session, Sequence[str]], None]
#: Messages stored and interpreted per transaction by :func:`ingest_many`.
BATCH = 200


@dataclass
class _Item:
    source: str
    raw: bytes
    understood: Understanding | None
    error: str
    digest: str
    message_id: str | None
    result: IngestResult = field(default_factory=lambda: IngestResult(None))
    duplicate_of: _Item | None = None
    #: When it was stored (the archive records it); None until then.
    received_at: datetime | None = None


def ingest(
    engine: Engine,
    settings: Settings,
    raw: bytes,
    *,
    source: str,
    now: datetime,
    secret: bytes,
    on_stored: OnStored | None = None,
) -> IngestResult:
    """Store one raw message, then interpret it. ``on_stored`` runs in the storing transaction."""
    return ingest_many(engine, settings, [(source, raw)], now=now, secret=secret, on_stored=on_stored)[0]


def ingest_many(
    engine: Engine,
    settings: Settings,
    messages: Sequence[tuple[str, bytes]],
    *,
    now: datetime,
    secret: bytes,
    on_stored: OnStored | None = None,
) -> list[IngestResult]:
    """Store then interpret ``(source, raw)`` messages, :data:`BATCH` per transaction.

    Callers reading a new source run :func:`interpret_pending` first. Should
    a batch collide with another worker's, its messages are stored one per
    transaction instead, each calling ``on_stored`` with its own source.
    """
    out: list[IngestResult] = []
    for start in range(0, len(messages), BATCH):
        chunk = messages[start : start + BATCH]
        out.extend(_ingest_chunk(engine, settings, chunk, now=as_utc(now), secret=secret, on_stored=on_stored))
    return out


def _understand(source: str, raw: bytes, settings: Settings, now: datetime) -> _Item:
    reference = local_date(now, settings.secretariat.timezone)
    try:
        understood: Understanding | None = understand(raw, reference, max_parse_bytes=settings.replies.max_parse_bytes)
        error = ""
    except Exception as exc:  # the parser promises not to raise; if it does, keep the mail anyway
        understood, error = None, f"{type(exc).__name__}: {exc}"
    digest = understood.content_hash if understood is not None else content_hash(raw)
    message_id = understood.parsed.message_id if understood is not None else None
    return _Item(source, raw, understood, error, digest, message_id[:998] if message_id else None)


def _ingest_chunk(
    engine: Engine,
    settings: Settings,
    chunk: Sequence[tuple[str, bytes]],
    *,
    now: datetime,
    secret: bytes,
    on_stored: OnStored | None,
) -> list[IngestResult]:
    items = [_understand(source, raw, settings, now) for source, raw in chunk]
    try:
        fresh = _store(engine, items, now, on_stored)
    except IntegrityError:
        # Another worker stored one of these a moment ago: go one by one.
        if len(items) == 1:
            fresh = _store(engine, items, now, on_stored)
        else:
            one_by_one = [[(item.source, item.raw)] for item in items]
            return [r for one in one_by_one for r in _ingest_chunk(engine, settings, one, now=now, secret=secret,
                                                                   on_stored=on_stored)]  # fmt: skip
    _interpret_stored(engine, settings, fresh, now=now, secret=secret)
    return [item.result for item in items]


def interpret_pending(engine: Engine, settings: Settings, *, now: datetime, secret: bytes) -> list[IngestResult]:
    """Interpret every message stored but not interpreted (a crash came between); oldest first.

    They are read back :data:`BATCH` messages or ``replies.batch_bytes`` at a time.
    """
    now = as_utc(now)
    with Session(engine) as session:
        sizes = [
            (int(i), int(size or 0))
            for i, size in session.exec(
                select(INBOUND.c.id, func.length(RAW.c.raw))
                .join(RAW, RAW.c.inbound_id == INBOUND.c.id)
                .where(INBOUND.c.interpreted_at.is_(None), INBOUND.c.quarantined.is_(False))
                .order_by(INBOUND.c.id)
            ).all()
        ]
    pending = plan_batches(sizes, max_count=BATCH, max_bytes=settings.replies.batch_bytes)
    if pending:
        log.warning(
            "%d stored messages were never interpreted (interrupted run); interpreting them now",
            len(sizes),
            extra={"event": "inbound.resumed", "count": len(sizes)},
        )
    out: list[IngestResult] = []
    for ids in pending:
        with Session(engine) as session:
            stored = session.exec(
                select(INBOUND.c.id, INBOUND.c.source, RAW.c.raw, INBOUND.c.received_at)
                .join(RAW, RAW.c.inbound_id == INBOUND.c.id)
                .where(INBOUND.c.id.in_(ids))
            ).all()
        items: list[_Item] = []
        for inbound_id, source, raw, received_at in sorted(stored):
            item = _understand(source, raw, settings, now)
            item.result = IngestResult(inbound_id, resumed=True)
            item.received_at = received_at
            items.append(item)
        _interpret_stored(engine, settings, items, now=now, secret=secret)
        out.extend(item.result for item in items)
    return out


def _interpret_stored(engine: Engine, settings: Settings, fresh: list[_Item], *, now: datetime, secret: bytes) -> None:
    """Interpret stored messages (quarantining those that cannot be), then plan acknowledgements."""
    broken = [i for i in fresh if i.understood is None and not i.result.quarantined]
    if broken:  # stored by an earlier run, unreadable now (the parser must have raised)
        for item in broken:
            _quarantine(engine, item, item.error or "message could not be parsed", now)
    todo = [i for i in fresh if i.understood is not None and not i.result.quarantined]
    for item in fresh:
        if item.result.quarantined:
            log.warning("inbound %s quarantined", item.result.inbound_id, extra={"event": "inbound.quarantined"})
    # Archiving reads every attachment's bytes; a message too large to parse in full waits for
    # `followup archive backfill`, so ingest stays within a small multiple of the message size.
    large = [i.result.inbound_id for i in todo if len(i.raw) > settings.replies.max_parse_bytes]
    if large:
        log.info(
            "%d large message(s) stored; their attachments go to the archive with 'followup archive backfill'",
            len(large),
            extra={"event": "archive.deferred"},
        )
    if todo:
        try:
            _interpret_all(engine, settings, todo, now=now, secret=secret)
        except Exception:
            # A bug must not lose mail: interpret one by one, quarantining what still fails.
            log.exception("batch interpretation failed; retrying one by one", extra={"event": "inbound.error"})
            for item in todo:
                _interpret_one_safely(engine, settings, item, now=now, secret=secret)
    for item in todo:  # no MIME tree outlives its batch
        if item.understood is not None and item.understood.tree is not None:
            item.understood = replace(item.understood, tree=None)


def _deserves_acknowledgement(result: IngestResult) -> bool:
    """A focal point's recorded confirmation, extension request or question, or a confirmation we must ask about."""
    if result.classification != HUMAN or not result.verified or not result.assignment_ids:
        return False
    if result.intent == "confirmation":
        return bool(result.changed) or result.ask_which
    return result.intent in ("extension", "question")


def _store(engine: Engine, items: list[_Item], now: datetime, on_stored: OnStored | None) -> list[_Item]:
    """Insert every message not stored yet (raw, before any interpretation); return those."""
    fresh: list[_Item] = []
    rows: list[dict[str, Any]] = []
    with Session(engine, expire_on_commit=False) as session:
        known = _known(session.connection(), [i.message_id for i in items if i.message_id], [i.digest for i in items])
        known_ids = {row.message_id: row.id for row in known}
        known_hashes = {row.content_hash: row.id for row in known}
        pending = {row.id: row.received_at for row in known if row.interpreted_at is None and not row.quarantined}
        seen_ids: dict[str, _Item] = {}
        seen_hashes: dict[str, _Item] = {}
        resumed: set[int] = set()
        for item in items:
            earlier = (seen_ids.get(item.message_id) if item.message_id else None) or seen_hashes.get(item.digest)
            existing = (known_ids.get(item.message_id) if item.message_id else None) or known_hashes.get(item.digest)
            if existing is not None and existing in pending and existing not in resumed:
                # Stored by a run that stopped before interpreting it: interpret it now.
                resumed.add(existing)
                item.result = IngestResult(existing, resumed=True)
                item.received_at = pending[existing]
                fresh.append(item)
                continue
            if existing is not None:
                item.result = IngestResult(existing, duplicate=True)
                continue
            if earlier is not None:  # the same message twice in one batch
                item.duplicate_of = earlier
                continue
            quarantined = item.understood is None or item.understood.classification == "unparseable"
            rows.append(
                {
                    "message_id": item.message_id,
                    "content_hash": item.digest,
                    "source": item.source[:512],
                    "received_at": now,
                    "sender": "",
                    "sender_name": "",
                    "subject": "",
                    "classification": "unparseable" if quarantined else "human",
                    "intent": "unknown",
                    "new_text": "",
                    "attachments": [],
                    "bounced_recipient": "",
                    "match_method": "",
                    "verified": False,
                    "quarantined": quarantined,
                    "error": item.error or ("message could not be parsed" if quarantined else ""),
                    "triage": "open" if quarantined else "none",
                    "interpreted_at": now if quarantined else None,
                    "auth_failure": "",
                }
            )
            fresh.append(item)
            item.received_at = now
            if item.message_id:
                seen_ids[item.message_id] = item
            seen_hashes[item.digest] = item
            if quarantined:
                item.result = IngestResult(None, classification="unparseable", quarantined=True, triage="open")
        if rows:
            # One multi-row INSERT; each new id is told apart by its content hash (unique in the batch).
            # The bytes follow in their own table, in the same transaction.
            returned = session.connection().execute(_STORE, rows)
            new_ids: dict[str, int] = {row.content_hash: row.id for row in returned}
            raws: list[dict[str, Any]] = []
            for item in fresh:
                if not item.result.resumed:
                    item.result.inbound_id = new_ids[item.digest]
                    raws.append({"inbound_id": item.result.inbound_id, "raw": item.raw})
            session.connection().execute(_STORE_RAW, raws)
        if on_stored is not None:
            on_stored(session, [item.source for item in items])
        session.commit()
    for item in items:
        if item.duplicate_of is not None:
            item.result = IngestResult(item.duplicate_of.result.inbound_id, duplicate=True)
    return fresh


def _known(conn: sa.Connection, message_ids: list[str], hashes: list[str]) -> list[sa.Row[Any]]:
    """Stored messages with any of these Message-IDs or content hashes: one indexed read per 500 of each.

    Highest id last to first: a dict built from them keeps the first stored of two that match.
    """
    rows: dict[int, sa.Row[Any]] = {}
    for start in range(0, max(len(message_ids), len(hashes)), 500):
        ids, digests = message_ids[start : start + 500], hashes[start : start + 500]
        rows.update((row.id, row) for row in conn.execute(_KNOWN, {"ids": ids, "digests": digests}))
    return [rows[k] for k in sorted(rows, reverse=True)]


def _quarantine(engine: Engine, item: _Item, reason: str, now: datetime) -> None:
    with Session(engine) as session:
        stored = session.get(InboundMessage, item.result.inbound_id)
        if stored is not None:
            stored.quarantined = True
            stored.triage = "open"
            stored.error = reason[:2000]
            stored.interpreted_at = now
            session.add(stored)
            session.commit()
    item.result = IngestResult(item.result.inbound_id, quarantined=True, triage="open")


def _interpret_one_safely(engine: Engine, settings: Settings, item: _Item, *, now: datetime, secret: bytes) -> None:
    try:
        _interpret_all(engine, settings, [item], now=now, secret=secret)
    except Exception as exc:
        log.exception("inbound %s could not be interpreted", item.result.inbound_id, extra={"event": "inbound.error"})
        _quarantine(engine, item, f"interpretation failed: {type(exc).__name__}: {exc}", now)


class _Lookups:
    """Everything the matcher needs for a batch, fetched with one query per kind."""

    def __init__(self, session: Session, settings: Settings, items: list[_Item], secret: bytes) -> None:
        # People type the Spanish acronym too: [CRM-12] names the same item as [RCM-12].
        tags_accepted = [t for t in (settings.secretariat.tag, settings.secretariat.tag_es) if t]
        self.token_ids: dict[int, int | None] = {}
        self.bad_tokens: dict[int, list[str]] = {}
        header_ids: set[str] = set()
        tags: set[int] = set()
        senders: set[str] = set()
        self.body_tags: dict[int, list[int]] = {}
        self.subject_tags: dict[int, list[int]] = {}
        for n, item in enumerate(items):
            u = item.understood
            assert u is not None
            p = u.parsed
            for token in extract_tokens(p.all_recipients):
                nid = verify_token(token, secret)
                if nid is None:
                    self.bad_tokens.setdefault(n, []).append(token)
                elif n not in self.token_ids:
                    self.token_ids[n] = nid
            header_ids.update(_header_ids(u))
            self.body_tags[n] = _tags(u.visible_text[:5000], tags_accepted)
            self.subject_tags[n] = _tags(p.subject, tags_accepted)
            tags.update(self.body_tags[n], self.subject_tags[n])
            if p.sender:
                senders.add(p.sender.lower())
        # Outbox rows named by tokens, and every row of the emails they belong to.
        by_id = _rows(session, _SENT_BY_ID, sorted({v for v in self.token_ids.values() if v is not None}))
        self.notification = {nid: (mid, aid) for nid, mid, aid in by_id}
        header_ids.update(mid for _nid, mid, _aid in by_id if mid)
        rows = _rows(session, _SENT_BY_MESSAGE_ID, sorted(header_ids))
        self.sent = sent_messages(rows)
        # Every assignment a reply may touch, loaded once (later gets hit the identity map).
        candidates = set(tags)
        for sent in self.sent.values():
            candidates.update(sent.assignment_ids)
        candidates.update(aid for _mid, aid in self.notification.values() if aid is not None)
        found = _chunked(session, _CANDIDATES, sorted(candidates))
        self.assignments = {aid: (party, state) for aid, party, state, *_rest in found if aid is not None}
        self.commitments: dict[int, str] = {row[0]: row[5] for row in found if row[0] is not None}
        #: Each candidate's titles, so a reply can name items by their words.
        self.titles = {aid: tuple(t for t in (en, es) if t) for aid, _p, _s, en, es, _c in found if aid is not None}
        self.tag_ids = {t for t in tags if t in self.assignments}
        #: Assignments confirmed by this batch: their planned reminders are cancelled at the end.
        self.resolved: list[int] = []
        self.parties_of: dict[str, set[str]] = {}
        #: The active contact each sender is (the archive records who sent a file).
        self.contact_ids: dict[str, int] = {}
        for email, party, contact_id in _chunked(session, _SENDERS, sorted(senders)):
            self.parties_of.setdefault(email, set()).add(party)
            self.contact_ids[email] = contact_id
        self._session = session

    def by_token(self, n: int) -> SentMessage | None:
        nid = self.token_ids.get(n)
        if nid is None or nid not in self.notification:
            return None
        mid, aid = self.notification[nid]
        if mid and mid in self.sent:
            return self.sent[mid]
        return SentMessage(nid, (aid,) if aid is not None else ())

    def message_id_of(self, notification_id: int) -> str | None:
        """The Message-ID of the email an outbox row went out in (rows of this batch's evidence)."""
        if notification_id in self.notification:
            return self.notification[notification_id][0]
        for mid, sent in self.sent.items():
            if sent.notification_id == notification_id:
                return mid
        return None

    def by_headers(self, u: Understanding) -> SentMessage | None:
        for mid in _header_ids(u):
            if mid in self.sent:
                return self.sent[mid]
        return None

    def tagged(self, n: int) -> list[int]:
        """Items whose tags the reply's own text carries."""
        return [t for t in dict.fromkeys(self.body_tags[n]) if t in self.tag_ids]

    def subject_tagged(self, n: int) -> list[int]:
        """Items whose tags the subject carries (for a reply: the first tags of the email it answers)."""
        return [t for t in dict.fromkeys(self.subject_tags[n]) if t in self.tag_ids]

    def named(self, u: Understanding, candidates: Sequence[int]) -> list[int]:
        """Candidates the reply names by title, key words or attachment names."""
        titles = {aid: self.titles.get(aid, ()) for aid in dict.fromkeys(candidates)}
        names = [a.filename for a in u.attachments if a.filename]
        return named_by_words(u.visible_text[:5000], names, titles)

    def sender_open(self, sender: str) -> list[int]:
        parties = self.parties_of.get(sender.lower())
        if not parties:
            return []
        return [row.id for row in self._session.connection().execute(_SENDER_OPEN, {"parties": sorted(parties)})]

    def authorised(self, sender: str, assignment_ids: Sequence[int]) -> bool:
        """The sender is an active contact of every matched item's owner."""
        if not sender:
            return False
        parties = self.parties_of.get(sender.lower(), set())
        owners = set()
        for aid in assignment_ids:
            if aid not in self.assignments:
                row = self._session.get(Assignment, aid)
                if row is None:
                    return False
                self.assignments[aid] = (row.party_code, row.state)
                self.commitments[aid] = row.commitment_id
            owners.add(self.assignments[aid][0])
        return bool(owners) and owners <= parties


def _tags(text: str, tags: Sequence[str]) -> list[int]:
    """Assignment ids named by any accepted tag, without repeats."""
    return list(dict.fromkeys(i for tag in tags for i in parse_reference_tags(text, tag)))


def _header_ids(u: Understanding) -> list[str]:
    ids = [*u.parsed.in_reply_to, *reversed(u.parsed.references)]
    if u.bounce is not None and u.bounce.original_message_id:
        ids.insert(0, u.bounce.original_message_id)
    return [m for m in dict.fromkeys(ids) if m]


def _rows(session: Session, stmt: Any, values: Sequence[Any]) -> list[tuple[int, str | None, int | None]]:
    return [(nid, mid, aid) for nid, mid, aid in _chunked(session, stmt, values)]


def _chunked(session: Session, stmt: Any, values: Sequence[Any]) -> list[Any]:
    """Rows of ``stmt`` (built with :func:`_among`) for ``values``, 500 values a query.

    Plain Core on the session's connection: the ORM's per-statement work costs
    more than these indexed reads.
    """
    if not values:
        return []
    conn = session.connection()
    out: list[Any] = []
    for start in range(0, len(values), 500):
        out.extend(conn.execute(stmt, {"values": values[start : start + 500]}).all())
    return out


INBOUND = SQLModel.metadata.tables["inbound_message"]
RAW = SQLModel.metadata.tables["inbound_raw"]
MATCH = SQLModel.metadata.tables["inbound_match"]
EVENT = SQLModel.metadata.tables["event"]
ASSIGNMENT = SQLModel.metadata.tables["assignment"]
NOTIFICATION = SQLModel.metadata.tables["notification"]
CONTACT = SQLModel.metadata.tables["contact"]
COMMITMENT = SQLModel.metadata.tables["commitment"]


def _among(column: Any, name: str = "values") -> Any:
    """``column IN (...)``, the list given when the statement runs (an expanding parameter)."""
    return column.in_(sa.bindparam(name, expanding=True))


# Statements built once: on SQLite, building one (and its cache key) costs more than running it.
_KNOWN = sa.select(
    INBOUND.c.id, INBOUND.c.message_id, INBOUND.c.content_hash, INBOUND.c.received_at, INBOUND.c.interpreted_at,
    INBOUND.c.quarantined,
).where(sa.or_(_among(INBOUND.c.message_id, "ids"), _among(INBOUND.c.content_hash, "digests")))  # fmt: skip
_STORE = sa.insert(INBOUND).returning(INBOUND.c.id, INBOUND.c.content_hash)
_STORE_RAW = sa.insert(RAW)
_CLAIM = (
    sa.update(INBOUND)
    .where(_among(INBOUND.c.id), INBOUND.c.interpreted_at.is_(None))
    .values(interpreted_at=INBOUND.c.interpreted_at)
    .returning(INBOUND.c.id)
)
_SENT = sa.select(NOTIFICATION.c.id, NOTIFICATION.c.message_id, NOTIFICATION.c.assignment_id)
_SENT_BY_ID = _SENT.where(_among(NOTIFICATION.c.id))
_SENT_BY_MESSAGE_ID = _SENT.where(_among(NOTIFICATION.c.message_id))
_CANDIDATES = (
    sa.select(
        ASSIGNMENT.c.id, ASSIGNMENT.c.party_code, ASSIGNMENT.c.state, COMMITMENT.c.title_en, COMMITMENT.c.title_es,
        ASSIGNMENT.c.commitment_id,
    )
    .join(COMMITMENT, COMMITMENT.c.id == ASSIGNMENT.c.commitment_id)
    .where(_among(ASSIGNMENT.c.id))
)  # fmt: skip
_SENDERS = sa.select(CONTACT.c.email_lower, CONTACT.c.party_code, CONTACT.c.id).where(
    CONTACT.c.active, _among(CONTACT.c.email_lower)
)
_SENDER_OPEN = sa.select(ASSIGNMENT.c.id).where(
    _among(ASSIGNMENT.c.party_code, "parties"), ASSIGNMENT.c.state.in_(OPEN_STATES)
)
_MATCH_ROWS = sa.insert(MATCH)
_EVENT_ROWS = sa.insert(EVENT)
#: What interpreting sets on a stored row (the keys of the rows :func:`_interpret` adds to ``_Effects.inbound``).
_INTERPRETED_COLUMNS = (
    "sender", "sender_name", "subject", "classification", "intent", "new_text", "attachments", "proposed_date",
    "return_date", "bounced_recipient", "bounce_permanent", "notification_id", "match_method", "verified", "triage",
    "auth_failure", "interpreted_at",
)  # fmt: skip
_INTERPRETED_KEYS = {"b_id", *_INTERPRETED_COLUMNS}
_INTERPRETED = (
    sa.update(INBOUND)
    .where(INBOUND.c.id == sa.bindparam("b_id"))
    .values({k: sa.bindparam(k) for k in _INTERPRETED_COLUMNS})
)
_ASSIGNMENT_UPDATES: dict[tuple[str, ...], Any] = {}
_ACKS_LATELY = (
    sa.select(NOTIFICATION.c.recipient_lower, func.count())
    .where(
        _among(NOTIFICATION.c.recipient_lower),
        NOTIFICATION.c.created_at >= sa.bindparam("since"),
        NOTIFICATION.c.kind == "acknowledgement",
    )
    .group_by(NOTIFICATION.c.recipient_lower)
)
_ACTIVE_CONTACTS = (
    sa.select(CONTACT.c.email_lower, CONTACT.c.id)
    .where(CONTACT.c.active, _among(CONTACT.c.email_lower))
    .order_by(CONTACT.c.id)
)


#: The rows of the email a bounce returns. lower(recipient), not the indexed recipient_lower: SQLite
#: would pick that index and read every email ever sent to the address; the email's own rows are a
#: few, found by Message-ID.
_BOUNCED_ROWS = (
    sa.update(NOTIFICATION)
    .where(NOTIFICATION.c.message_id == sa.bindparam("b_message_id"), _among(func.lower(NOTIFICATION.c.recipient)))
    .values(state="bounced", last_error=sa.bindparam("error"))
)
_FAILING_CONTACTS = (
    sa.update(CONTACT)
    .where(_among(CONTACT.c.email_lower))
    .values(address_state="failing", address_note=sa.bindparam("note"))
    .returning(CONTACT.c.key)
)


def _assignment_update(columns: tuple[str, ...]) -> Any:
    """``UPDATE assignment SET <columns> WHERE id = :b_id``, built once per set of columns."""
    stmt = _ASSIGNMENT_UPDATES.get(columns)
    if stmt is None:
        stmt = _ASSIGNMENT_UPDATES[columns] = (
            sa.update(ASSIGNMENT)
            .where(ASSIGNMENT.c.id == sa.bindparam("b_id"))
            .values({k: sa.bindparam(k) for k in columns})
        )
    return stmt


@dataclass
class _Effects:
    """What a batch of replies changes, written with a few bulk statements at the end.

    Building ORM objects per reply costs more than parsing it; these are
    plain rows for SQLAlchemy Core instead.
    """

    inbound: list[dict[str, Any]] = field(default_factory=list)
    matches: set[tuple[int, int]] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    assignments: dict[int, dict[str, Any]] = field(default_factory=dict)

    def event(self, now: datetime, actor: str, action: str, *, assignment_id: int | None = None,
              entity: str = "", entity_id: str = "", **details: Any) -> None:  # fmt: skip
        self.events.append(
            {
                "at": now,
                "actor": actor,
                "action": action,
                "assignment_id": assignment_id,
                "entity": entity,
                "entity_id": entity_id,
                "details": {k: jsonable(v) for k, v in details.items()},
            }
        )

    def write(self, session: Session) -> None:
        conn = session.connection()
        if self.inbound:
            if self.inbound[0].keys() != _INTERPRETED_KEYS:  # a column set here but missing there would be dropped
                raise RuntimeError(f"interpreted columns differ: {sorted(self.inbound[0].keys() ^ _INTERPRETED_KEYS)}")
            conn.execute(_INTERPRETED, self.inbound)
        if self.matches:
            conn.execute(_MATCH_ROWS, [{"inbound_id": i, "assignment_id": a} for i, a in sorted(self.matches)])
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for aid, values in self.assignments.items():
            groups.setdefault(tuple(sorted(values)), []).append({"b_id": aid, **values})
        for columns, rows in groups.items():
            conn.execute(_assignment_update(columns), rows)
        if self.events:
            conn.execute(_EVENT_ROWS, self.events)


def _interpret_all(engine: Engine, settings: Settings, items: list[_Item], *, now: datetime, secret: bytes) -> None:
    with Session(engine, expire_on_commit=False) as session, session.no_autoflush:
        # Claim first, in this transaction: a row another worker interpreted meanwhile is skipped,
        # and a crash before the commit leaves every row to interpret again. The claim locks the rows
        # (PostgreSQL) or the database (SQLite) without changing them (a row rewritten twice costs
        # twice); the interpretation below sets interpreted_at with the rest.
        ids = [i.result.inbound_id for i in items]
        claimed: set[int] = set(session.connection().execute(_CLAIM, {"values": ids}).scalars())
        for item in items:
            if item.result.inbound_id not in claimed:
                item.result = IngestResult(item.result.inbound_id, duplicate=True)
        items = [i for i in items if i.result.inbound_id in claimed]
        if not items:
            session.commit()
            return
        lookups = _Lookups(session, settings, items, secret)
        effects = _Effects()
        results = [_interpret(session, settings, item, lookups, effects, n, now) for n, item in enumerate(items)]
        session.flush()
        effects.write(session)
        if lookups.resolved:
            cancel_for_assignments(session, lookups.resolved, now, reason="resolved")
        for item, result in zip(items, results, strict=True):
            item.result = result
        _archive(session, settings, items, lookups, now)
        answered = [i for i in items if _deserves_acknowledgement(i.result)]
        planned = (
            plan_acknowledgements(session.connection(), settings, answered, now, lookups.contact_ids)
            if answered
            else set()
        )
        session.commit()
    for item in answered:
        item.result.acknowledged = item.result.inbound_id in planned
    verbose = log.isEnabledFor(logging.INFO)
    for item, result in zip(items, results, strict=True):
        if not verbose:
            continue
        log.info(
            "inbound %s from %s: %s",
            result.inbound_id,
            item.understood.parsed.sender if item.understood else "?",
            result.describe(),
            extra={"event": "inbound.stored", "classification": result.classification, "intent": result.intent},
        )


def _archive(session: Session, settings: Settings, items: Sequence[_Item], lookups: _Lookups, now: datetime) -> None:
    """Archive the attachments of verified, matched replies from the trees parsed above, in this transaction.

    Only a message parsed in full keeps its tree (see ``Understanding.tree``);
    a larger one waits for ``followup archive backfill``. A failure here
    (a full disk) is logged and rolled back alone: the reply is stored and
    acted on, and its files can be backfilled later.
    """
    replies: list[ParsedReply] = []
    for item in items:
        result, u = item.result, item.understood
        if not (result.verified and result.assignment_ids and u is not None and u.tree is not None):
            continue
        assert result.inbound_id is not None
        replies.append(
            ParsedReply(
                inbound_id=result.inbound_id,
                tree=u.tree,
                received_at=item.received_at or now,
                contact_id=lookups.contact_ids.get(u.parsed.sender.lower()),
                assignments=tuple(
                    (aid, lookups.commitments[aid], lookups.assignments[aid][0]) for aid in result.assignment_ids
                ),
                again=result.resumed,
            )
        )
    if not replies:
        return
    try:
        with session.begin_nested():
            archive_parsed(session.connection(), settings, replies)
    except Exception:
        log.exception("could not archive reply attachments", extra={"event": "archive.error"})


def _interpret(
    session: Session,
    settings: Settings,
    item: _Item,
    lookups: _Lookups,
    effects: _Effects,
    n: int,
    now: datetime,
) -> IngestResult:
    u = item.understood
    assert u is not None
    inbound_id = item.result.inbound_id
    assert inbound_id is not None
    p = u.parsed
    result = IngestResult(inbound_id, classification=u.classification, intent=u.intent, resumed=item.result.resumed)
    for token in lookups.bad_tokens.get(n, []):
        log.warning("reply token %s… failed verification", token[:6], extra={"event": "inbound.bad_token"})
        effects.event(now, _actor(p.sender), "token-rejected", entity="inbound", entity_id=str(inbound_id),
                      token_prefix=token[:6])  # fmt: skip
    by_token, by_headers, tagged = lookups.by_token(n), lookups.by_headers(u), lookups.tagged(n)
    subject_tagged = lookups.subject_tagged(n)
    sender_open: list[int] = []
    if u.classification == HUMAN and not (by_token or by_headers or tagged or subject_tagged):
        sender_open = lookups.sender_open(p.sender)
    listed = [*(by_token.assignment_ids if by_token else ()), *(by_headers.assignment_ids if by_headers else ())]
    named = lookups.named(u, [*listed, *subject_tagged]) if u.classification == HUMAN else []
    match = decide(
        by_token=by_token,
        by_headers=by_headers,
        tagged=tagged,
        sender_open=sender_open,
        subject_tagged=subject_tagged,
        named=named,
        everything=u.classification == HUMAN and says_all(u.visible_text[:5000]),
    )
    result.method, result.assignment_ids = match.method, match.assignment_ids
    effects.matches.update((inbound_id, aid) for aid in match.assignment_ids)
    verified = False
    forged = auth_failures(p.header_all("authentication-results"), p.sender, settings.imap.authserv_id)
    if forged:
        reason = "; ".join(forged)
        log.warning("inbound %s: the receiving server reports %s for %s; kept for review", inbound_id, reason,
                    p.sender, extra={"event": "inbound.unauthenticated"})  # fmt: skip
        effects.event(now, _actor(p.sender), "unauthenticated-reply", entity="inbound", entity_id=str(inbound_id),
                      reason=reason, assignment_ids=list(match.assignment_ids))  # fmt: skip
        triage = "open"
    elif u.classification == BOUNCE:
        triage = _handle_bounce(session, u, match, now, inbound_id, lookups, effects)
    elif u.classification == AUTOREPLY:
        for aid in match.assignment_ids:
            effects.event(now, _actor(p.sender), "auto-reply", assignment_id=aid, inbound_id=inbound_id,
                          return_date=u.return_date)  # fmt: skip
        triage = "none"
    else:
        verified = lookups.authorised(p.sender, match.assignment_ids) if match.matched else False
        triage = _handle_human(settings, inbound_id, verified, u, match, result, now, lookups, effects)
    effects.inbound.append(
        {
            "b_id": inbound_id,
            "sender": p.sender[:320],
            "sender_name": p.sender_name[:500],
            "subject": p.subject[:2000],
            "classification": u.classification,
            "intent": u.intent,
            "new_text": u.visible_text[:MAX_TEXT],
            "attachments": [a.as_dict() for a in u.attachments],
            "proposed_date": u.proposed_date,
            "return_date": u.return_date,
            "bounced_recipient": ", ".join(u.bounce.addresses)[:320] if u.bounce is not None else "",
            "bounce_permanent": u.bounce.permanent if u.bounce is not None else None,
            "notification_id": match.notification_id,
            "match_method": match.method,
            "verified": verified,
            "triage": triage,
            "auth_failure": "; ".join(forged)[:200],
            "interpreted_at": now,
        }
    )
    result.triage, result.verified = triage, verified
    result.auth_failure = "; ".join(forged)
    return result


def _actor(sender: str) -> str:
    return f"{ACTOR_PREFIX}{sender or 'unknown'}"[:128]


def _handle_bounce(
    session: Session, u: Understanding, match: Match, now: datetime, inbound_id: int, lookups: _Lookups,
    effects: _Effects,
) -> str:  # fmt: skip
    """Mark what bounced: the rows of the email it returns, and (when permanent) the address."""
    assert u.bounce is not None
    bounce = u.bounce
    addresses = [a.lower() for a in bounce.addresses]
    detail = "; ".join(f"{r.address} {r.status} {r.diagnostic}".strip() for r in bounce.recipients)[:500]
    conn = session.connection()
    message_id = lookups.message_id_of(match.notification_id) if match.notification_id is not None else None
    if message_id is None and addresses:
        message_id = _latest_sent_to(conn, addresses, now)
    if message_id is None:
        return "open"
    if bounce.permanent and addresses:
        error = f"bounced: {detail}"[:2000]
        conn.execute(_BOUNCED_ROWS, {"b_message_id": message_id, "values": addresses, "error": error})
        note = f"bounced {now.date().isoformat()}: {detail}"[:2000]
        failing: list[str] = list(conn.execute(_FAILING_CONTACTS, {"values": addresses, "note": note}).scalars())
        for key in failing:
            effects.event(now, "bounce", "contact_failing", entity="contact", entity_id=key, inbound_id=inbound_id)
    for aid in match.assignment_ids:
        effects.event(now, "bounce", "bounced", assignment_id=aid, inbound_id=inbound_id, recipients=addresses,
                      permanent=bounce.permanent)  # fmt: skip
    return "none"


#: A bounce that names no Message-ID is matched to mail sent to its address this recently (bounces
#: come back within minutes, delayed ones within days); older mail is not searched.
BOUNCE_LOOKBACK = timedelta(days=30)


def _latest_sent_to(conn: sa.Connection, addresses: Sequence[str], now: datetime) -> str | None:
    """The Message-ID of the latest email sent to any of ``addresses`` lately (a bounce without one).

    One range read of ``ix_notification_recipient_created`` per address: the
    rows planned for it in the look-back window, never its whole history.
    """
    n = NOTIFICATION
    latest: tuple[datetime, str] | None = None
    for address in addresses:
        row = conn.execute(
            sa.select(n.c.sent_at, n.c.message_id)
            .where(n.c.recipient_lower == address, n.c.created_at >= now - BOUNCE_LOOKBACK, n.c.state == "sent")
            .order_by(n.c.sent_at.desc())
            .limit(1)
        ).first()
        if row is not None and row.message_id and (latest is None or row.sent_at > latest[0]):
            latest = (row.sent_at, row.message_id)
    return latest[1] if latest else None


def _handle_human(
    settings: Settings,
    inbound_id: int,
    verified: bool,
    u: Understanding,
    match: Match,
    result: IngestResult,
    now: datetime,
    lookups: _Lookups,
    effects: _Effects,
) -> str:
    """Act on a person's reply; return its triage state."""
    sender = u.parsed.sender
    if not match.matched:
        return "open"
    if not verified:
        for aid in match.assignment_ids:
            effects.event(now, _actor(sender), "unverified-reply", assignment_id=aid, inbound_id=inbound_id)
        return "open"
    if match.ambiguous:
        if u.intent == "confirmation":
            # Which of the email's items did they send? Change nothing; ask them, and a person looks.
            result.ask_which = True
            for aid in match.assignment_ids:
                effects.event(now, _actor(sender), "submitted-which-items", assignment_id=aid,
                              inbound_id=inbound_id, attachments=[a.filename for a in u.attachments])  # fmt: skip
        return "open"
    if u.intent == "confirmation":
        target = "confirmed" if settings.replies.count_as_confirmation else "submitted"
        for aid in match.assignment_ids:
            party, state = lookups.assignments[aid]
            if state not in OPEN_STATES:
                continue
            lookups.assignments[aid] = (party, target)
            effects.assignments.setdefault(aid, {}).update(state=target, state_changed_at=now)
            lookups.resolved.append(aid)
            effects.event(now, _actor(sender), target, assignment_id=aid, previous=state, inbound_id=inbound_id,
                          attachments=[a.filename for a in u.attachments])  # fmt: skip
            result.changed.append(aid)
        return "none"
    if u.intent == "extension":
        for aid in match.assignment_ids:
            effects.assignments.setdefault(aid, {}).update(extension_requested_to=u.proposed_date)
            effects.event(now, _actor(sender), "extension-requested", assignment_id=aid, inbound_id=inbound_id,
                          proposed=u.proposed_date)  # fmt: skip
        return "open"  # the secretariat decides: followup extend ID --to DATE
    return "open"  # a question or something else a person should read


def _own_addresses(settings: Settings) -> set[str]:
    return {settings.mail.from_address.lower(), settings.secretariat.email.lower()}


@dataclass(frozen=True)
class AckRequest:
    """A reply that may deserve an acknowledgement: from an email or a web submission."""

    inbound_id: int
    sender: str
    assignment_ids: tuple[int, ...]
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    #: A confirmation naming none of several items: the acknowledgement asks which.
    ask_which: bool = False


def plan_acknowledgements(
    conn: sa.Connection,
    settings: Settings,
    items: Sequence[_Item],
    now: datetime,
    contacts: Mapping[str, int] | None = None,
) -> set[int]:
    """Plan an acknowledgement for each reply given, unless it could loop or flood; return the inbound ids.

    Runs in the transaction that interprets the replies: an acknowledgement is
    planned exactly when the state change it acknowledges is recorded.
    ``contacts`` (active contact id by lower-cased address) spares a query when
    the caller has them already.
    """
    requests = []
    for item in items:
        u = item.understood
        if u is None or not u.may_answer or item.result.inbound_id is None:
            continue
        requests.append(
            AckRequest(
                item.result.inbound_id,
                u.parsed.sender,
                tuple(item.result.changed or item.result.assignment_ids),
                u.parsed.message_id or "",
                tuple(u.parsed.references[-5:]),
                ask_which=item.result.ask_which,
            )
        )
    return _plan_acknowledgements_in(conn, settings, requests, now, contacts)


def plan_acknowledgement_requests(
    engine: Engine, settings: Settings, requests: Sequence[AckRequest], now: datetime
) -> set[int]:
    """The acknowledgement rule shared by every channel: never to ourselves, at most N an hour per sender."""
    if not settings.replies.acknowledge or not requests:
        return set()
    with engine.begin() as conn:
        return _plan_acknowledgements_in(conn, settings, requests, now)


def _plan_acknowledgements_in(
    conn: sa.Connection,
    settings: Settings,
    requests: Sequence[AckRequest],
    now: datetime,
    known_contacts: Mapping[str, int] | None = None,
) -> set[int]:
    if not settings.replies.acknowledge:
        return set()
    own = _own_addresses(settings)
    reply_prefix = settings.mail.reply_local_part.lower() + "+"
    domain = "@" + settings.mail.domain.lower()
    wanted: list[AckRequest] = []
    for request in requests:
        sender = request.sender.lower()
        if not sender or sender in own or (sender.endswith(domain) and sender.startswith(reply_prefix)):
            continue
        wanted.append(request)
    if not wanted:
        return set()
    senders = sorted({r.sender.lower() for r in wanted})
    limit = settings.replies.acknowledgements_per_sender_per_hour
    recent: dict[str, int] = {}
    contacts: dict[str, int] = dict(known_contacts or {})
    for start in range(0, len(senders), 500):
        part = senders[start : start + 500]
        recent.update(conn.execute(_ACKS_LATELY, {"values": part, "since": now - timedelta(hours=1)}).all())
        if known_contacts is not None:
            continue
        contacts.update(conn.execute(_ACTIVE_CONTACTS, {"values": part}).all())
    rows: list[dict[str, Any]] = []
    chosen: set[int] = set()
    for request in wanted:
        sender = request.sender.lower()
        if recent.get(sender, 0) >= limit:
            log.info("no acknowledgement to %s: %d in the last hour", sender, limit, extra={"event": "ack.limited"})
            continue
        recent[sender] = recent.get(sender, 0) + 1
        chosen.add(request.inbound_id)
        rows.append(
            {
                "dedupe_key": f"ack:{request.inbound_id}",
                "kind": "acknowledgement",
                "assignment_id": None,
                "contact_id": contacts.get(sender),
                "recipient": sender,
                "step": "",
                "due_date": None,
                "scheduled_at": now,
                "state": "planned",
                "attempts": 0,
                "last_error": "",
                "lease_owner": "",
                "created_at": now,
                "payload": {
                    "inbound_id": request.inbound_id,
                    "assignment_ids": list(request.assignment_ids),
                    "ask_which": request.ask_which,
                    "in_reply_to": request.in_reply_to,
                    "references": list(request.references),
                },
            }
        )
    insert_planned_in(conn, rows)
    return chosen

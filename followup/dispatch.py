"""The send path: plan what is due, claim it, render, compose, send, record.

One tick is a loop of small units of work: claim a batch from the outbox
(leased, so several daemons can share one database), bundle the rows into
emails (one per contact per day), build each email from the database as it
is now, store its Message-ID, hand it to the transport, and record the
result. A failed email is retried with backoff or marked failed; nothing is
forgotten and nothing goes out twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.clock import as_utc, local_date
from followup.compose import (
    Attachment,
    ComposedMessage,
    Composer,
    Mailbox,
    calendar_attachment,
    csv_attachment,
)
from followup.digest import collect_digest
from followup.errors import DeliveryError, PermanentDeliveryError
from followup.ics import calendar_feed, deadline_entry
from followup.models import OPEN_STATES, Assignment, Commitment, Contact, Event, Meeting, Notification, Party
from followup.outbox import assign_message_ids, claim, record_failure, record_sent, release
from followup.planner import PlanResult, plan, preview
from followup.policy import Policy
from followup.queries import status_matrix
from followup.reminder_rules import REMINDER_KINDS, DeliveryGroup, group_for_delivery
from followup.render import (
    ItemView,
    MeetingRoundContext,
    MeetingView,
    PartyItems,
    ReminderContext,
    Rendered,
    Renderer,
    RoundSummary,
    pick,
    renderer_for,
)
from followup.sendwindow import SendWindow
from followup.settings import Settings
from followup.transport import Transport
from followup.views import item_view, party_name, secretariat_view

log = logging.getLogger("followup.dispatch")
_K = TypeVar("_K", int, str)


def email_kind(kinds: Sequence[str]) -> str:
    """The template for a merged email: its items' kind when they share one.

    Items at different stages (one due today, one in two weeks) go in the
    neutral reminder, whose items each state their own deadline; an
    escalation keeps its wording (and its copies) whatever rides along.
    """
    distinct = set(kinds)
    if len(distinct) == 1:
        return kinds[0]
    return "escalation" if "escalation" in distinct else "reminder"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class TickResult:
    plan: PlanResult = field(default_factory=PlanResult)
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    skipped: int = 0
    messages: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outgoing:
    """One email ready to go, with the outbox rows it accounts for."""

    ids: list[int]
    kind: str
    message: ComposedMessage
    summary: str


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        transport: Transport,
        *,
        secret: bytes,
        policies: dict[str, Policy],
        worker_id: str | None = None,
        batch_size: int = 500,
        commit_every: int = 50,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.transport = transport
        self.policies = policies
        self.worker_id = worker_id or worker_name()
        self.batch_size = batch_size
        #: Message-IDs are stored, and sent emails recorded, this many emails per commit.
        self.commit_every = commit_every
        self.composer = Composer(settings.mail, secret=secret, tag=settings.secretariat.tag)
        self.renderer: Renderer = renderer_for(settings.mail.templates_dir)
        self.window = SendWindow.from_settings(settings.schedule)
        self._stopping = False
        #: Render in this language instead of the reader's (``followup preview --language``).
        self.language_override: str | None = None

    def stop(self) -> None:
        """Finish the email in hand, claim nothing more."""
        self._stopping = True

    async def tick(self, now: datetime, *, dry_run: bool = False) -> TickResult:
        """Plan and send everything due at ``now``."""
        now = as_utc(now)
        result = TickResult()
        if dry_run:
            return await asyncio.to_thread(self._dry_run, now)
        result.plan = await asyncio.to_thread(plan, self.engine, now, self.settings, self.policies)
        for problem in result.plan.problems:
            log.warning("%s", problem, extra={"event": "plan.problem"})
        while not self._stopping:
            rows = await asyncio.to_thread(
                claim, self.engine, now, self.worker_id, self.batch_size, self.settings.schedule.lease_seconds
            )
            if not rows:
                break
            await self._send_batch(rows, now, result)
        if self._stopping:
            await asyncio.to_thread(release, self.engine, self.worker_id)
        return result

    def _dry_run(self, now: datetime) -> TickResult:
        """What would go out at ``now``: due rows already planned plus what planning would add."""
        result = TickResult()
        new = [r for r in preview(self.engine, now, self.settings, self.policies) if r["scheduled_at"] <= now]
        with Session(self.engine) as session:
            due = session.exec(
                select(Notification)
                .where(Notification.state == "planned", Notification.scheduled_at <= now)
                .order_by(col(Notification.scheduled_at))
            ).all()
        lines = [f"{n.kind} to {n.recipient} (#{n.assignment_id or '-'} {n.step})".replace(" )", ")") for n in due]
        lines += [f"{r['kind']} to {r['recipient']} (#{r['assignment_id']} {r['step']})" for r in new]
        result.messages = lines
        result.plan.planned = len(new)
        return result

    async def _send_batch(self, rows: list[Notification], now: datetime, result: TickResult) -> None:
        """Build, store the Message-IDs of, send and record a claimed batch, as a stream.

        Emails go out while later ones are still being built: every
        ``commit_every`` built emails have their Message-IDs stored in one
        commit and are handed to the transport, and the loop yields after
        each email it builds so that transactions in flight move on instead
        of waiting for the whole batch. Sent emails are recorded
        ``commit_every`` at a time (:class:`_SentLedger`).
        """
        sent = _SentLedger(self.engine, now, result, flush_every=self.commit_every)
        deliveries: list[asyncio.Task[None]] = []
        try:
            with Session(self.engine) as session:
                cache = _Cache(session)
                # Everything the batch's emails need, a few queries in all rather than a few per email.
                cache.preload_contacts([r.contact_id for r in rows if r.contact_id is not None])
                default_zone = self.settings.secretariat.timezone
                groups = group_for_delivery(rows, now, lambda r: cache.zone(r.contact_id) or default_zone)
                cache.preload_items([r for g in groups if g.rows[0].kind in REMINDER_KINDS for r in g.items])
                ready: list[Outgoing] = []
                for group in groups:
                    built = self._build_or_fail(group, cache, now, result)
                    if built is not None:
                        ready.append(built)
                    if len(ready) >= self.commit_every:
                        deliveries += self._launch(ready, now, result, sent)
                        ready = []
                    if deliveries:
                        await asyncio.sleep(0)
                deliveries += self._launch(ready, now, result, sent)
            outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        except BaseException as exc:
            # Emails already handed over finish (they are in the ledger); a cancelled tick cancels them.
            if isinstance(exc, asyncio.CancelledError):
                for task in deliveries:
                    task.cancel()
            await asyncio.gather(*deliveries, return_exceptions=True)
            raise
        finally:
            sent.flush()
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    def _build_or_fail(self, group: DeliveryGroup, cache: _Cache, now: datetime, result: TickResult) -> Outgoing | None:
        """The email for ``group``; None (with the rows recorded as failed or cancelled) when there is none."""
        try:
            built = self._build(group, cache, now)
        except DeliveryError as exc:
            self._fail(group.ids, now, str(exc), permanent=exc.permanent, result=result)
            return None
        except Exception as exc:
            # A template or data bug: keep the rows, say why, never crash the daemon.
            log.exception("cannot build %s for %s", group.rows[0].kind, group.recipient)
            self._fail(group.ids, now, f"cannot build message: {exc}", permanent=True, result=result)
            return None
        if built is None:
            self._cancel(group.ids, "nothing left to report", now)
            result.skipped += len(group.ids)
        return built

    def _launch(
        self, ready: list[Outgoing], now: datetime, result: TickResult, sent: _SentLedger
    ) -> list[asyncio.Task[None]]:
        """Store the Message-IDs of ``ready`` (one commit), then start their SMTP transactions."""
        if not ready:
            return []
        assign_message_ids(self.engine, [(item.ids, item.message.message_id) for item in ready])
        return [asyncio.create_task(self._deliver(item, now, result, sent)) for item in ready]

    async def _deliver(self, item: Outgoing, now: datetime, result: TickResult, sent: _SentLedger) -> None:
        msg = item.message
        try:
            refused = await self.transport.send(msg.sender, msg.recipients, msg.data)
        except DeliveryError as exc:
            self._fail(item.ids, now, str(exc), permanent=exc.permanent, result=result)
            log.warning(
                "%s %s to %s failed: %s",
                item.kind,
                msg.message_id,
                ", ".join(msg.recipients),
                exc,
                extra={"event": "mail.failed", "kind": item.kind, "permanent": exc.permanent},
            )
            return
        sent.add(item)
        log.info(
            "sent %s %s to %s%s",
            item.kind,
            msg.message_id,
            ", ".join(msg.recipients),
            f" (refused: {', '.join(refused)})" if refused else "",
            extra={"event": "mail.sent", "kind": item.kind, "message_id": msg.message_id},
        )

    def _fail(self, ids: list[int], now: datetime, error: str, *, permanent: bool, result: TickResult) -> None:
        smtp = self.settings.smtp
        outcome = record_failure(
            self.engine,
            ids,
            now,
            error,
            permanent,
            smtp.max_attempts,
            smtp.retry_base_seconds,
            smtp.retry_max_seconds,
            window=self.window,
        )
        result.failed += len(outcome.failed)
        result.retrying += len(outcome.retrying)

    def _cancel(self, ids: list[int], reason: str, now: datetime) -> None:
        """Give up on rows with nothing left to say (everything resolved meanwhile), and log why."""
        from sqlalchemy import insert, update

        with self.engine.begin() as conn:
            conn.execute(
                update(Notification)
                .where(col(Notification.id).in_(ids))
                .values(state="cancelled", lease_owner="", lease_until=None, last_error=reason)
            )
            conn.execute(
                insert(Event),
                [
                    {"at": now, "actor": "dispatch", "action": "notification_cancelled", "assignment_id": None,
                     "entity": "notification", "entity_id": str(i), "details": {"reason": reason}}
                    for i in ids
                ],
            )  # fmt: skip

    # ------------------------------------------------------------------ building emails

    def _build(self, group: DeliveryGroup, cache: _Cache, now: datetime) -> Outgoing | None:
        kind = group.rows[0].kind
        if kind in REMINDER_KINDS:
            return self._reminder(group, cache, now)
        if kind == "digest":
            return self._digest(group, now)
        if kind == "meeting_round":
            return self._meeting_round(group, cache, now)
        if kind == "acknowledgement":
            from followup.ack import build_acknowledgement

            return build_acknowledgement(self, group, cache, now)
        raise PermanentDeliveryError(f"no builder for notification kind {kind!r}")

    def _reminder(self, group: DeliveryGroup, cache: _Cache, now: datetime) -> Outgoing | None:
        contact = cache.contact(group.contact_id)
        if contact is None:
            raise PermanentDeliveryError(f"contact {group.contact_id} no longer exists")
        party = cache.party(contact.party_code)
        language = self.language_override or contact.language or party.language
        today = group.local_date
        items: list[ItemView] = []
        for row in group.items:
            assignment = cache.assignment(row.assignment_id)
            if assignment is None or assignment.state not in OPEN_STATES:
                continue
            commitment = cache.commitment(assignment.commitment_id)
            owner = cache.party(assignment.party_code)
            items.append(
                item_view(
                    assignment, commitment, owner, language=language, today=today, tag=self.settings.secretariat.tag
                )
            )
        if not items:
            return None
        kind = email_kind([r.kind for r in group.items])
        ordinal = max(int(r.payload.get("ordinal", 1) or 1) for r in group.items)
        cc = [Mailbox(address) for address in group.cc]
        copied = [box.address for box in cc]
        entries = [
            deadline_entry(
                assignment_id=i.assignment_id,
                due_date=i.due_date,
                title=i.title,
                reference=i.reference,
                owner_name=i.owner_name,
                language=language,
                domain=self.settings.mail.domain,
                description=i.description,
            )
            for i in items
        ]
        context = ReminderContext(
            recipient_name=contact.name,
            items=tuple(items),
            secretariat=secretariat_view(self.settings, language),
            reminder_number=ordinal,
            copied_to=tuple(copied),
            has_calendar=True,
        )
        rendered = self.renderer.render(kind, language, context)
        ics = calendar_feed(entries, now=now, name=pick(language, "Deadlines", "Plazos"))
        return self.compose_for(
            group,
            kind,
            rendered,
            now,
            to=[Mailbox(contact.email, contact.name)],
            cc=cc,
            assignment_ids=[i.assignment_id for i in items],
            attachments=[calendar_attachment(ics, "deadlines.ics" if len(items) > 1 else "deadline.ics")],
        )

    def _digest(self, group: DeliveryGroup, now: datetime) -> Outgoing | None:
        context = collect_digest(self.engine, self.settings, now)
        if context.is_empty and not self.settings.digest.send_when_empty:
            return None
        language = self.language_override or self.settings.secretariat.language
        rendered = self.renderer.render("digest", language, context)
        to = [Mailbox(self.settings.secretariat.email, self.settings.secretariat.name)]
        return self.compose_for(group, "digest", rendered, now, to=to)

    def _meeting_round(self, group: DeliveryGroup, cache: _Cache, now: datetime) -> Outgoing | None:
        row = group.rows[0]
        meeting = cache.meeting(str(row.payload.get("meeting_id", "")))
        if meeting is None:
            return None
        zone = self.settings.secretariat.timezone
        today = local_date(now, zone)
        party_code = str(row.payload.get("party_code") or "")
        tag = self.settings.secretariat.tag
        open_rows = cache.open_by(meeting.start_date, party_code or None)
        if party_code:
            contact = cache.contact(row.contact_id)
            if contact is None:
                raise PermanentDeliveryError(f"contact {row.contact_id} no longer exists")
            party = cache.party(party_code)
            language = self.language_override or contact.language or party.language
            items = [item_view(a, c, p, language=language, today=today, tag=tag) for a, c, p in open_rows]
            if not items:
                return None
            context = MeetingRoundContext(
                recipient_name=contact.name,
                owner_name=party_name(party, language),
                meeting=_meeting_view(meeting, language),
                days_to_meeting=(meeting.start_date - today).days,
                items=tuple(items),
                secretariat=secretariat_view(self.settings, language),
            )
            rendered = self.renderer.render("meeting_round", language, context)
            return self.compose_for(
                group,
                "meeting_round",
                rendered,
                now,
                to=[Mailbox(contact.email, contact.name)],
                assignment_ids=[i.assignment_id for i in items],
            )
        language = self.language_override or self.settings.secretariat.language
        by_party: dict[str, list[ItemView]] = {}
        names: dict[str, str] = {}
        for a, c, p in open_rows:
            view = item_view(a, c, p, language=language, today=today, tag=tag)
            by_party.setdefault(p.code, []).append(view)
            names[p.code] = view.owner_name
        matrix = status_matrix(self.engine, today)
        counts = matrix.counts()
        summary = RoundSummary(
            parties=len(matrix.owners),
            commitments=len(matrix.rows),
            open=sum(v for k, v in counts.items() if k in ("pending", "due_soon", "due_today", "overdue", "extended")),
            overdue=counts.get("overdue", 0),
            submitted=counts.get("submitted", 0),
            confirmed=counts.get("confirmed", 0),
            waived=counts.get("waived", 0),
        )
        context = MeetingRoundContext(
            recipient_name=self.settings.secretariat.name,
            owner_name=self.settings.secretariat.name,
            meeting=_meeting_view(meeting, language),
            days_to_meeting=(meeting.start_date - today).days,
            items=(),
            secretariat=secretariat_view(self.settings, language),
            summary=summary,
            open_by_party=tuple(PartyItems(names[code], tuple(items)) for code, items in sorted(by_party.items())),
            has_attachment=True,
        )
        rendered = self.renderer.render("meeting_round", language, context)
        header = ["commitment", "title", "due_rule", *[code for code, _ in matrix.owners]]
        csv_rows: list[list[Any]] = [header]
        for r in matrix.rows:
            csv_rows.append(
                [
                    r.commitment_id,
                    r.title,
                    r.due_rule,
                    *[r.cells[c].label if c in r.cells else "" for c, _ in matrix.owners],
                ]
            )
        attachment = csv_attachment(csv_rows, f"status-{meeting.id}.csv")
        to = [Mailbox(self.settings.secretariat.email, self.settings.secretariat.name)]
        return self.compose_for(group, "meeting_round", rendered, now, to=to, attachments=[attachment])

    def compose_for(
        self,
        group: DeliveryGroup,
        kind: str,
        rendered: Rendered,
        now: datetime,
        *,
        to: list[Mailbox],
        cc: Sequence[Mailbox] = (),
        assignment_ids: Sequence[int] = (),
        attachments: Sequence[Attachment] = (),
        in_reply_to: str | None = None,
        references: Sequence[str] = (),
    ) -> Outgoing:
        """Compose the email for ``group``: its first row signs the reply token."""
        message = self.composer.compose(
            rendered,
            kind=kind,
            to=to,
            cc=cc,
            now=now,
            notification_id=group.ids[0],
            assignment_ids=assignment_ids,
            attachments=attachments,
            in_reply_to=in_reply_to,
            references=references,
        )
        refs = " ".join(f"#{a}" for a in assignment_ids)
        summary = f"{kind} to {', '.join(message.recipients)}" + (f" ({refs})" if refs else "")
        return Outgoing(group.ids, kind, message, summary)


def _meeting_view(meeting: Meeting, language: str) -> MeetingView:
    return MeetingView(
        title=pick(language, meeting.title_en, meeting.title_es),
        start_date=meeting.start_date,
        end_date=meeting.end_date,
        place=meeting.place,
    )


class _SentLedger:
    """Records delivered emails as sent, a few at a time.

    Each email's Message-ID is stored before its SMTP transaction, so
    recording "sent" a handful of emails later changes nothing a reader of
    the ledger can tell, except after a crash in between: then those rows
    are sent again when their lease runs out, with the same Message-ID (the
    recipient's mail client folds the copies), exactly as after a crash
    during the SMTP transaction itself. One commit per ``flush_every``
    emails instead of one per email is what lets the send loop keep up with
    the SMTP server.
    """

    def __init__(self, engine: Engine, now: datetime, result: TickResult, *, flush_every: int) -> None:
        self.engine = engine
        self.now = now
        self.result = result
        self.flush_every = max(1, flush_every)
        self._pending: list[Outgoing] = []

    def add(self, item: Outgoing) -> None:
        self._pending.append(item)
        if len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        record_sent(self.engine, [i for item in pending for i in item.ids], self.now)
        self.result.sent += len(pending)
        self.result.messages.extend(item.summary for item in pending)


class _Cache:
    """Rows looked up while building one batch of emails, each fetched once.

    :meth:`preload_contacts` and :meth:`preload_items` fetch a whole batch's
    rows with one query per table (and per :data:`PRELOAD_CHUNK` keys); the
    lookups then fall back to one query per row only for what was not
    preloaded.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._contacts: dict[int, Contact | None] = {}
        self._parties: dict[str, Party] = {}
        self._assignments: dict[int, Assignment | None] = {}
        self._commitments: dict[str, Commitment] = {}
        self._meetings: dict[str, Meeting | None] = {}

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


#: Keys per IN (...) list when preloading.
PRELOAD_CHUNK = 500


def _chunks(keys: Sequence[_K]) -> Iterator[Sequence[_K]]:
    for start in range(0, len(keys), PRELOAD_CHUNK):
        yield keys[start : start + PRELOAD_CHUNK]

"""The send path: plan what is due, claim it, render, compose, send, record.

One tick is a loop of small units of work: claim a batch from the outbox
(leased, so several daemons can share one database), bundle the rows into
emails (one per contact per day), build each email from the database as it
is now, store its Message-ID, hand it to the transport, and record the
result. A failed email is retried with backoff or marked failed; nothing is
forgotten.

What holds through crashes, restarts and several daemons:

* An email's Message-ID is made the first time its rows are built and
  reused by every later build, so a copy sent again after a crash carries
  the first try's Message-ID.
* Leases run on the real clock (``lease_clock``), not on the tick's logical
  ``now``; they are renewed while a batch is built and sent, and right
  before each SMTP transaction a conditional UPDATE checks that the rows are
  still this worker's (and extends the lease): a worker whose lease lapsed
  and was taken over does not send. Two or three daemons on one database
  therefore send each email once.
* :meth:`Dispatcher.stop` (SIGTERM) stops claiming and building; emails in
  an SMTP transaction finish, everything else this worker holds goes back
  to ``planned``.
* A recipient refused while others accepted the email is recorded on the
  rows and in the event log; a temporary refusal gets a follow-up outbox row
  that sends the same bytes (same Message-ID) to that recipient only.
* The relay's quotas (messages per minute, recipients per day) are one
  database row shared by every daemon (:mod:`followup.outbound.relay_quota`):
  a tick claims no more than the quota has room for, takes each email's
  share right before its SMTP transaction, and a throttling reply (421,
  451 4.7.x, 454) pauses the relay for all daemons, longer each time in a
  row. Either way the tick stops: what it holds goes back in line with no
  attempt counted, keeping its place (oldest due first), marked as held
  for the digest, and goes out when the quota allows.
* An email claimed when its recipient's window is closed (held, retried,
  or the daemon was down) goes back for the start of their next window.
* A process that dies mid-send leaves its rows counted as ``interrupted``
  (:func:`followup.outbound.outbox.renew`); such rows are sent with no other
  transaction in flight, so a later death counts against the email at fault
  only, and one interrupted ``smtp.max_interrupted_sends`` times is failed
  instead of crashing the daemon in a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.clock import Clock, SystemClock, as_utc
from followup.errors import DeliveryError
from followup.outbound.compose import ComposedMessage, Composer
from followup.outbound.emails import build_email
from followup.outbound.emails.base import BuildContext
from followup.outbound.emails.lookup import RowCache
from followup.outbound.emails.reminder import email_kind
from followup.outbound.outbox import (
    assign_message_ids,
    claim,
    contact_recipients,
    defer_outside_window,
    due_clause,
    hold,
    plan_recipient_retry,
    record_failure,
    record_refusals,
    record_sent,
    release,
    renew,
    renew_all,
    resend_message,
    sends_ended,
    window_opens,
)
from followup.outbound.relay_limits import room, take
from followup.outbound.relay_quota import RelayQuota
from followup.outbound.render import Renderer, renderer_for
from followup.outbound.transports.base import Transport
from followup.schedule.planner import PlanResult, not_planned, plan, preview
from followup.schedule.policy import Policy
from followup.schedule.reminder_rules import REMINDER_KINDS, DeliveryGroup, group_for_delivery
from followup.schedule.rounds import meeting_round_rows
from followup.schedule.sendwindow import SendWindow
from followup.settings import Settings
from followup.store.models import Event, Notification

log = logging.getLogger("followup.dispatch")
#: How long a cancelled tick waits for its SMTP transactions to unwind before handing back their rows.
CANCEL_GRACE_SECONDS = 10.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class TickResult:
    plan: PlanResult = field(default_factory=PlanResult)
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    skipped: int = 0
    #: Emails not sent because this worker's lease on their rows had lapsed (another worker has them).
    lost_lease: int = 0
    #: Emails put back in line, no attempt counted, because the relay's quota or a throttling pause stopped sending.
    held: int = 0
    #: Why sending stopped before everything due went out ("30 messages per minute"); empty when it did not.
    halted: str = ""
    messages: list[str] = field(default_factory=list)

    @property
    def nothing_went_out(self) -> bool:
        """Something was tried and nothing of it was delivered (``tick`` exits non-zero)."""
        return self.sent == 0 and (self.failed + self.retrying) > 0


@dataclass(frozen=True)
class Outgoing:
    """One email ready to go, with the outbox rows it accounts for."""

    ids: list[int]
    kind: str
    message: ComposedMessage
    summary: str
    #: A sending process died during an earlier try of these rows: send with no other transaction
    #: in flight, so that only the email at fault is counted if it happens again.
    alone: bool = False


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
        batch_size: int = 100,
        commit_every: int = 50,
        lease_clock: Clock | None = None,
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
        #: The real time, for leases: a tick's ``now`` is the instant it plans for, which may be
        #: minutes old (a long tick) or any instant at all (``--now``); a lease must not be.
        self.lease_clock: Clock = lease_clock or SystemClock()
        self.lease_seconds = float(settings.schedule.lease_seconds)
        #: At most this many SMTP transactions at once; the lease is checked inside the slot,
        #: right before the transaction, so waiting for a slot cannot outlast it.
        self._slots = asyncio.Semaphore(settings.smtp.max_connections)
        self._alone = asyncio.Lock()
        self._stopping = False
        #: The relay's quotas and throttling pause, shared with every daemon through the database.
        self.quota = RelayQuota.from_settings(engine, settings)
        #: Set (with the reason) when the quota or a throttling pause stops this tick's sending.
        self._halt: str | None = None
        #: Throttling replies in a row as last read; a delivery that goes through resets them.
        self._strikes = 0
        #: Render in this language instead of the reader's (``followup preview --language``).
        self.language_override: str | None = None
        #: Rows whose SMTP transaction ended (sent, refused, held, cancelled) since the last
        #: :func:`renew`: their "interrupted" count is taken back with the next write, so only a
        #: process that dies mid-send leaves one behind.
        self._ended: list[int] = []

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def halted(self) -> str | None:
        """Why the relay's quota or a throttling pause stopped this tick's sending; None while it has not."""
        return self._halt

    def stop(self) -> None:
        """Claim nothing more, start no new SMTP transaction; those under way finish.

        Rows claimed but not sent are released when the running tick returns.
        Safe to call from a signal handler (it only sets a flag).
        """
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
        heartbeat = asyncio.create_task(self._heartbeat(), name="lease-heartbeat")
        self._halt = None
        try:
            while not self._stopping:
                space = await asyncio.to_thread(self._room)
                if space == 0:
                    break
                rows = await asyncio.to_thread(
                    claim,
                    self.engine,
                    now,
                    self.worker_id,
                    min(self.batch_size, space),
                    self.lease_seconds,
                    at=self.lease_clock.now(),
                    max_attempts=self.settings.smtp.max_attempts,
                    max_interrupted=self.settings.smtp.max_interrupted_sends,
                )
                if not rows:
                    break
                rows = await asyncio.to_thread(
                    defer_outside_window, self.engine, rows, self.worker_id, now, self.window
                )
                if not rows:
                    continue
                await self._send_batch(rows, now, result)
                if self.halted is not None:
                    break
        except BaseException:
            # Cancelled (the daemon's stop timeout ran out) or broken: hand back what we hold.
            heartbeat.cancel()
            self._settle_ended()
            self._release()
            raise
        heartbeat.cancel()
        await asyncio.to_thread(self._settle_ended)
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        halted = self.halted
        if self._stopping:
            await asyncio.to_thread(self._release)
        elif halted is not None:
            result.halted = halted
            handed = await asyncio.to_thread(hold, self.engine, self.worker_id, now, halted)
            log.info(
                "sending paused: %s; %d claimed row(s) back in line",
                halted,
                handed,
                extra={"event": "outbox.held", "reason": halted},
            )
        return result

    def _room(self) -> int:
        """How many emails the relay's quota lets this tick claim now; 0 (and the reason kept) when none."""
        at = self.lease_clock.now()
        state = self.quota.state(at)
        self._strikes = state.strikes
        space = room(state, self.quota.limits, at)
        if space == 0:
            self._halt = take(state, self.quota.limits, at, 1).reason or "the relay's quota"
        return space

    def _settle_ended(self) -> None:
        ended, self._ended = self._ended, []
        sends_ended(self.engine, ended)

    def _release(self) -> None:
        released = release(self.engine, self.worker_id)
        if released:
            log.info("released %d claimed row(s)", released, extra={"event": "outbox.released"})

    async def _heartbeat(self) -> None:
        """Renew this worker's leases every third of a lease while the tick runs."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            await asyncio.to_thread(renew_all, self.engine, self.worker_id, self.lease_clock.now(), self.lease_seconds)

    def _dry_run(self, now: datetime) -> TickResult:
        """The emails a tick at ``now`` would send, one line each; nothing is written.

        The rows are those a tick would claim (due rows already planned, plus
        what planning reminders and meeting rounds would add, which honours
        the send windows and the one-email-per-contact-per-day rule) bundled by
        :func:`group_for_delivery` as a tick bundles them, so the count is
        the count of emails a real tick sends.
        """
        result = TickResult()
        rounds = [
            r
            for r in not_planned(self.engine, meeting_round_rows(self.engine, self.settings, now))
            if r["scheduled_at"] <= now
        ]
        # A tick plans the rounds first, and a planned round counts as that contact's email of the
        # day: their reminders wait for the next day (the planner's one-email-a-day rule).
        round_contacts = {r["contact_id"] for r in rounds if r.get("contact_id") is not None}
        new = [
            r
            for r in preview(self.engine, now, self.settings, self.policies)
            if r["scheduled_at"] <= now and not (r["kind"] in REMINDER_KINDS and r.get("contact_id") in round_contacts)
        ]
        new += rounds
        with Session(self.engine) as session:
            due = list(
                session.exec(
                    select(Notification).where(due_clause(now, max_attempts=self.settings.smtp.max_attempts))
                ).all()
            )
            # Stand-in ids for rows not planned yet, after every stored one (a tick would insert them last).
            next_id = max((r.id or 0 for r in due), default=0) + 1
            for offset, values in enumerate(new):
                due.append(Notification(**{**values, "id": next_id + offset}))
            # As a tick would, leave for later what reaches a focal point outside their working hours.
            recipients = contact_recipients(self.engine, {r.contact_id for r in due if r.contact_id is not None})
            closed = window_opens(due, recipients, now, self.window)
            due = [r for r in due if r.id not in closed]
            due.sort(key=lambda r: (as_utc(r.scheduled_at), r.id or 0))
            cache = RowCache(session)
            cache.preload_contacts([r.contact_id for r in due if r.contact_id is not None])
            default_zone = self.settings.secretariat.timezone
            groups = group_for_delivery(due, now, lambda r: cache.zone(r.contact_id) or default_zone)
        result.messages = [describe_group(group) for group in groups]
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
        resends = [r for r in rows if resend_message(r) is not None]
        rows = [r for r in rows if resend_message(r) is None]
        try:
            deliveries += self._launch([_resend_outgoing(r) for r in resends], now, result, sent)
            with Session(self.engine) as session:
                cache = RowCache(session)
                # Everything the batch's emails need, a few queries in all rather than a few per email.
                cache.preload_contacts([r.contact_id for r in rows if r.contact_id is not None])
                default_zone = self.settings.secretariat.timezone
                groups = group_for_delivery(rows, now, lambda r: cache.zone(r.contact_id) or default_zone)
                cache.preload_items([r for g in groups if g.rows[0].kind in REMINDER_KINDS for r in g.items])
                ready: list[Outgoing] = []
                for group in groups:
                    if self._stopping or self._halt is not None:
                        break
                    built = self._build_or_fail(group, cache, now, result)
                    if built is not None:
                        ready.append(built)
                    if len(ready) >= self.commit_every:
                        deliveries += self._launch(ready, now, result, sent)
                        ready = []
                    if deliveries:
                        await asyncio.sleep(0)
                deliveries += self._launch(ready, now, result, sent)
            if deliveries:
                # Not gather(): a cancelled tick must get control back even if a transaction will not end.
                await asyncio.wait(deliveries)
        except BaseException as exc:
            # Emails already handed over finish (they are in the ledger); a cancelled tick cancels them,
            # and waits for them a bounded time: the caller then releases the rows they held.
            if isinstance(exc, asyncio.CancelledError):
                for task in deliveries:
                    task.cancel()
            if deliveries:
                await asyncio.wait(deliveries, timeout=CANCEL_GRACE_SECONDS)
            raise
        finally:
            sent.flush()
        for task in deliveries:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    def _build_or_fail(
        self, group: DeliveryGroup, cache: RowCache, now: datetime, result: TickResult
    ) -> Outgoing | None:
        """The email for ``group``; None (with the rows recorded as failed or cancelled) when there is none."""
        try:
            built = self.build(group, cache, now)
        except DeliveryError as exc:
            self._fail(group.ids, now, str(exc), error=exc, result=result)
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
        assign_message_ids(
            self.engine, [(item.ids, item.message.message_id) for item in ready], worker_id=self.worker_id
        )
        # Building is synchronous and may outlast a short lease on a busy machine: renew the whole batch.
        renew_all(self.engine, self.worker_id, self.lease_clock.now(), self.lease_seconds)
        return [asyncio.create_task(self._deliver(item, now, result, sent)) for item in ready]

    async def _deliver(self, item: Outgoing, now: datetime, result: TickResult, sent: _SentLedger) -> None:
        msg = item.message
        async with self._slot(alone=item.alone):
            if self._stopping or self._halt is not None:
                return  # released (or held) with the rest of the batch
            ended, self._ended = self._ended, []
            try:
                # On the loop, as the batch's other short writes are: through a worker thread this
                # 0.2 ms UPDATE waited its turn for the interpreter behind the email builder, about
                # 3 ms before every SMTP transaction, which capped the whole send path.
                held = renew(
                    self.engine, item.ids, self.worker_id, self.lease_clock.now(), self.lease_seconds, ended=ended
                )
            except BaseException:
                self._ended.extend(ended)  # not written: taken back with a later write
                raise
            if not held:
                self._ended.extend(item.ids)  # those still ours were counted: this transaction never begins
                result.lost_lease += 1
                log.warning(
                    "not sending %s %s: its lease lapsed and another worker took the rows over",
                    item.kind,
                    msg.message_id,
                    extra={"event": "outbox.lease_lost", "kind": item.kind},
                )
                return
            try:
                if self.quota.limits.any:
                    share = await asyncio.to_thread(self.quota.acquire, self.lease_clock.now(), len(msg.recipients))
                    if not share.granted:
                        self._halt = self._halt or share.reason
                        result.held += 1
                        return  # held with the rest of the batch
                try:
                    refused = await self.transport.send(msg.sender, msg.recipients, msg.data)
                except DeliveryError as exc:
                    refused = None
                    failure = exc
                    if exc.throttled:
                        # Before the slot is free: no other transaction of this tick may start now.
                        self._halt = self._halt or f"the relay asked us to slow down ({exc})"
            finally:
                # Alive to see it end, whichever way: not an interrupted send.
                self._ended.extend(item.ids)
        if refused is None and failure.throttled:
            result.held += 1
            await self._throttled(failure)
            return  # held with the rest of the batch: no attempt counted
        if refused is None:
            self._fail(item.ids, now, str(failure), error=failure, result=result)
            log.warning(
                "%s %s to %s failed: %s",
                item.kind,
                msg.message_id,
                ", ".join(msg.recipients),
                failure,
                extra={"event": "mail.failed", "kind": item.kind, "permanent": failure.permanent},
            )
            return
        sent.add(item)
        if self._strikes:
            self._strikes = 0
            await asyncio.to_thread(self.quota.recovered, self.lease_clock.now())
        if any(error.throttled for error in refused.values()):
            await self._throttled(next(error for error in refused.values() if error.throttled))
        if refused:
            sent.flush()  # the refusals are written on top of the "sent" record
            reasons = {address: str(error) for address, error in refused.items()}
            retry = [address for address, error in refused.items() if not error.permanent]
            record_refusals(self.engine, item.ids, reasons, now, worker=self.worker_id)
            for address in retry:
                retry_at = now + timedelta(seconds=self.settings.smtp.retry_base_seconds)
                plan_recipient_retry(self.engine, item.ids, item.kind, msg, address, reasons[address], retry_at, now)
        log.info(
            "sent %s %s to %s%s",
            item.kind,
            msg.message_id,
            ", ".join(msg.recipients),
            f" (refused: {', '.join(refused)})" if refused else "",
            extra={"event": "mail.sent", "kind": item.kind, "message_id": msg.message_id},
        )

    @contextlib.asynccontextmanager
    async def _slot(self, *, alone: bool) -> AsyncIterator[None]:
        """One of the pool's SMTP slots; ``alone``: all of them, so no other transaction runs meanwhile."""
        if not alone:
            async with self._slots:
                yield
            return
        taken = 0
        try:
            async with self._alone:  # one at a time gathers every slot: two half-gathered would wait forever
                for _ in range(self.settings.smtp.max_connections):
                    await self._slots.acquire()
                    taken += 1
            yield
        finally:
            for _ in range(taken):
                self._slots.release()

    async def _throttled(self, error: DeliveryError) -> None:
        """The relay asked us to slow down: pause it for every daemon and stop this tick's sending."""
        state = await asyncio.to_thread(self.quota.throttled, self.lease_clock.now(), str(error))
        self._strikes = state.strikes
        until = state.paused_until.isoformat() if state.paused_until else "?"
        self._halt = self._halt or f"the relay asked us to slow down ({error}); paused until {until}"
        log.warning(
            "relay %s throttled us (%s): nothing is sent through it until %s",
            self.quota.relay,
            error,
            until,
            extra={"event": "smtp.throttled", "code": error.code, "strikes": state.strikes},
        )

    def _fail(
        self,
        ids: list[int],
        now: datetime,
        message: str,
        *,
        result: TickResult,
        error: DeliveryError | None = None,
        permanent: bool = True,
    ) -> None:
        smtp = self.settings.smtp
        outcome = record_failure(
            self.engine,
            ids,
            now,
            message,
            error.permanent if error is not None else permanent,
            smtp.max_attempts,
            smtp.retry_base_seconds,
            smtp.retry_max_seconds,
            window=self.window,
            address_refused=error.address_refused if error is not None else False,
            worker_id=self.worker_id,
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

    def build(self, group: DeliveryGroup, rows: RowCache, now: datetime) -> Outgoing | None:
        """The email for ``group``, composed and ready to send; None when nothing is left to say."""
        context = BuildContext(self.engine, self.settings, self.renderer, rows, self.language_override)
        draft = build_email(context, group, now)
        if draft is None:
            return None
        # The Message-ID made the first time these rows were built: a resend is the same email.
        first_id = next((r.message_id for r in group.rows if r.message_id), None)
        message = self.composer.compose(
            draft.rendered,
            kind=draft.kind,
            to=list(draft.to),
            cc=draft.cc,
            now=now,
            notification_id=group.ids[0],
            assignment_ids=draft.assignment_ids,
            attachments=draft.attachments,
            in_reply_to=draft.in_reply_to,
            references=draft.references,
            message_id=first_id,
        )
        refs = " ".join(f"#{a}" for a in draft.assignment_ids)
        summary = f"{draft.kind} to {', '.join(message.recipients)}" + (f" ({refs})" if refs else "")
        return Outgoing(group.ids, draft.kind, message, summary, alone=any(r.interrupted for r in group.rows))


def _resend_outgoing(row: Notification) -> Outgoing:
    """The stored email of a one-recipient retry row, exactly as first sent (same bytes, same Message-ID)."""
    message = resend_message(row)
    assert message is not None
    assert row.id is not None
    summary = f"{row.kind} to {', '.join(message.recipients)} (resent)"
    return Outgoing([row.id], row.kind, message, summary, alone=row.interrupted > 0)


def describe_group(group: DeliveryGroup) -> str:
    """One line for an email a tick would send: kind, recipient, copies and the items it lists."""
    kinds = [r.kind for r in group.items]
    kind = email_kind(kinds) if kinds[0] in REMINDER_KINDS else kinds[0]
    line = f"{kind} to {group.recipient}"
    if group.cc:
        line += f" (cc {', '.join(group.cc)})"
    items = [f"#{r.assignment_id} {r.step}".rstrip() for r in group.items if r.assignment_id is not None]
    return line + (f": {', '.join(items)}" if items else "")


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

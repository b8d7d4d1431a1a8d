"""Messages per second: the daemon's whole send path against a naive ``smtplib`` loop.

The daemon's side is ``services.tick(mailer, now)`` on a real SQLite file
with ``n`` reminders due (one per contact), sending through
:class:`~followup.outbound.transports.smtp.SmtpTransport` with the default settings
(security none): it plans, claims, renders, composes, stores each
Message-ID, sends and records, exactly as ``followup run`` does. The clock
starts before the tick and stops when the ledger says every row is sent.

The naive side is what one writes without thinking about speed: for each
message an :class:`email.message.EmailMessage` with the default policy
(text, HTML alternative, calendar attachment), one new ``smtplib``
connection, ``send_message``, ``QUIT``. It is given the daemon's rendered
texts once and only substitutes each recipient into them, so it pays for no
database and no templates: the comparison flatters it.

Both send to the same sink process, which counts what arrives; a run whose
counts do not match fails rather than reporting a rate.
"""

from __future__ import annotations

import asyncio
import smtplib
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.common import Figure, Log, Outcome, bench_settings, median, spread
from bench.data import DUE, NOW, build_send_db, copy_db, count_rows, sqlite_url
from bench.sink import HOST, SinkProcess, SinkStats, make_sink
from followup.daemon.services import Mailer, tick
from followup.outbound.ics import calendar_feed, deadline_entry
from followup.outbound.render import ItemView, ReminderContext, SecretariatView, render
from followup.outbound.tokens import reference_tag
from followup.store.db import make_engine

#: The daemon's whole path must send at least this many times the naive loop's rate.
TARGET_RATIO = 3.0


@dataclass(frozen=True)
class SendRun:
    messages: int
    seconds: float
    #: Bytes the sink received per message (to show both sides send the same size).
    average_bytes: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


class CountMismatch(RuntimeError):
    """The sink or the ledger disagrees with what the sender says it sent."""


async def daemon_send(db: Path, sink: SinkProcess, n: int, workdir: Path) -> SendRun:
    """Send the ``n`` due reminders in ``db`` with ``services.tick`` and time it."""
    settings = bench_settings(workdir, db, sink.port)
    engine = make_engine(sqlite_url(db))
    before = sink.stats()
    mailer = Mailer.create(engine, settings)
    try:
        started = time.perf_counter()
        sent = 0
        while True:
            result = await tick(mailer, NOW)
            sent += result.sent
            if result.sent == 0 or sent >= n:
                break
        elapsed = time.perf_counter() - started
    finally:
        await mailer.close()
    recorded = count_rows(engine, "notification", state="sent")
    engine.dispose()
    return SendRun(sent, elapsed, _check(sink, before, n, recorded_sent=recorded))


def naive_send(sink: SinkProcess, n: int) -> SendRun:
    """``n`` equivalent messages, one ``EmailMessage`` and one connection each."""
    samples = {language: _sample(language) for language in ("es", "en")}
    before = sink.stats()
    started = time.perf_counter()
    for i in range(n):
        subject, text, html, ics = samples["es" if i % 3 else "en"]
        name, address = f"Focal Point {i}", f"focal.point{i}@s{i:06d}.example.org"
        tag = reference_tag("RCM", i + 1)
        msg = EmailMessage()
        msg["Date"] = format_datetime(NOW)
        msg["From"] = Address("RCM Technical Secretariat", addr_spec="ts@rcm.example.org")
        msg["To"] = Address(name, addr_spec=address)
        msg["Reply-To"] = Address("RCM Technical Secretariat", addr_spec=f"ts+{i:026d}@rcm.example.org")
        msg["Subject"] = f"{tag} {subject}"
        msg["Message-ID"] = make_msgid(domain="rcm.example.org")
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text.replace(_SAMPLE_NAME, name).replace(_SAMPLE_TAG, tag))
        msg.add_alternative(html.replace(_SAMPLE_NAME, name).replace(_SAMPLE_TAG, tag), subtype="html")
        msg.add_attachment(ics, maintype="text", subtype="calendar", filename="deadline.ics")
        with smtplib.SMTP(HOST, sink.port) as client:
            client.send_message(msg)
    elapsed = time.perf_counter() - started
    return SendRun(n, elapsed, _check(sink, before, n))


def run(n: int, repeats: int, log: Log, *, sink: str = "asyncio") -> Outcome:
    """Both sides ``repeats`` times, taking turns, against one sink; the medians, their ratio, the verdict."""
    daemon: list[SendRun] = []
    naive: list[SendRun] = []
    with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp, make_sink(sink) as server:
        workdir = Path(tmp)
        template = build_send_db(workdir / "template.db", n)
        for attempt in range(repeats):
            db = copy_db(template, workdir / f"send-{attempt}.db")
            daemon.append(asyncio.run(daemon_send(db, server, n, workdir)))
            log(f"send: daemon run {attempt + 1}/{repeats}: {daemon[-1].rate:,.0f} msg/s")
            naive.append(naive_send(server, n))
            log(f"send: naive run {attempt + 1}/{repeats}: {naive[-1].rate:,.0f} msg/s")
    return outcome(n, daemon, naive)


def outcome(n: int, daemon: list[SendRun], naive: list[SendRun]) -> Outcome:
    daemon_rate = median([r.rate for r in daemon])
    naive_rate = median([r.rate for r in naive])
    ratio = daemon_rate / naive_rate
    name = f"send {n:,}"
    return Outcome(
        name,
        [
            Figure(
                name,
                "daemon path (services.tick -> SMTP)",
                f"{daemon_rate:,.0f} msg/s",
                note=_note(daemon),
            ),
            Figure(name, "naive smtplib + EmailMessage", f"{naive_rate:,.0f} msg/s", note=_note(naive)),
            Figure(
                name, f"ratio daemon/naive (target >= {TARGET_RATIO:g}x)", f"{ratio:.2f}x", ok=ratio >= TARGET_RATIO
            ),
        ],
    )


def _note(runs: list[SendRun]) -> str:
    parts = [spread([r.rate for r in runs]), f"{median([r.average_bytes for r in runs]):,.0f} B/msg"]
    return "; ".join(p for p in parts if p)


def _check(sink: SinkProcess, before: SinkStats | None, n: int, *, recorded_sent: int | None = None) -> float:
    """Prove the run: the sink got ``n`` messages (and the ledger says ``n`` sent); return bytes per message."""
    if recorded_sent is not None and recorded_sent != n:
        raise CountMismatch(f"the ledger records {recorded_sent} sent, expected {n}")
    after = sink.stats()
    if before is None or after is None:
        return float("nan")
    got = after.messages - before.messages
    if got != n:
        raise CountMismatch(f"the sink received {got} messages, expected {n}")
    return (after.bytes - before.bytes) / n


_SAMPLE_NAME = "Sample Recipient"
_SAMPLE_TAG = reference_tag("RCM", 424242)


def _sample(language: str) -> tuple[str, str, str, bytes]:
    """The daemon's own reminder texts for one item, rendered once: what the naive loop sends."""
    item = ItemView(
        assignment_id=424242,
        reference=_SAMPLE_TAG,
        title="Completar y enviar la matriz de integración (1)"
        if language == "es"
        else "Complete and submit the integration matrix (1)",
        due_date=DUE,
        days_left=(DUE - NOW.date()).days,
        owner_name="País S000001" if language == "es" else "Country S000001",
        description="Completar la matriz sobre integración y enviarla a la Secretaría Técnica."
        if language == "es"
        else "Complete the matrix on integration and send it to the Technical Secretariat.",
        source_ref="Plan of Action 2006-11, Link between development and migration, objective 3",
    )
    secretariat = SecretariatView("Technical Secretariat of the Regional Conference on Migration", "ts@rcm.example.org")
    rendered = render("reminder", language, ReminderContext(_SAMPLE_NAME, (item,), secretariat, has_calendar=True))
    entry = deadline_entry(
        assignment_id=item.assignment_id,
        due_date=item.due_date,
        title=item.title,
        reference=item.reference,
        owner_name=item.owner_name,
        language=language,
        domain="rcm.example.org",
        description=item.description,
    )
    ics = calendar_feed([entry], now=NOW, name="Plazos" if language == "es" else "Deadlines")
    return rendered.subject, rendered.text, rendered.html, ics


# ---------------------------------------------------------------------------------------------------- relay
#
# A relay on the internet answers each message ~50 ms later; the connection pool (smtp.max_connections)
# is what covers that latency. Then the quota: Microsoft 365 takes 30 messages a minute, so 5,000 emails
# need ~167 minutes. The daemon ticks once a minute; the benchmark moves a simulated clock one minute per
# tick (the dispatchers' clock and the tick's instant alike), so the run takes a couple of real minutes.

#: The sink's delay before answering each message.
RELAY_LATENCY = 0.05
#: Pool sizes measured side by side: the default and a larger one.
POOLS = (4, 16)
#: The quota of the paced run (Microsoft 365's message rate limit).
QUOTA_PER_MINUTE = 30


@dataclass(frozen=True)
class PacedRun:
    messages: int
    #: Simulated minutes from the first tick to the one that sent the last email, inclusive.
    minutes: int
    #: The most emails sent within any one simulated minute.
    busiest_minute: int
    #: Emails the ledger records as failed or waiting for a retry (refused by the relay): must be 0.
    refused: int
    real_seconds: float

    @property
    def pace(self) -> float:
        return self.messages / self.minutes


class _SimulatedClock:
    """The dispatchers' clock, moved by the benchmark one tick at a time."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def now(self) -> datetime:
        return self.at


async def pooled_send(db: Path, sink: SinkProcess, n: int, workdir: Path, pool: int) -> SendRun:
    """``daemon_send`` with ``pool`` SMTP connections (the sink answers each message after RELAY_LATENCY)."""
    settings = bench_settings(workdir, db, sink.port, smtp={"max_connections": pool})
    engine = make_engine(sqlite_url(db))
    before = sink.stats()
    mailer = Mailer.create(engine, settings)
    try:
        started = time.perf_counter()
        sent = 0
        while sent < n:
            result = await tick(mailer, NOW)
            sent += result.sent
            if result.sent == 0:
                break
        elapsed = time.perf_counter() - started
    finally:
        await mailer.close()
    recorded = count_rows(engine, "notification", state="sent")
    engine.dispose()
    return SendRun(sent, elapsed, _check(sink, before, n, recorded_sent=recorded))


async def paced_send(db: Path, sink: SinkProcess, n: int, workdir: Path, per_minute: int) -> PacedRun:
    """Send the ``n`` due reminders with a ``per_minute`` quota, one tick per simulated minute."""
    settings = bench_settings(workdir, db, sink.port, smtp={"messages_per_minute": per_minute})
    engine = make_engine(sqlite_url(db))
    before = sink.stats()
    clock = _SimulatedClock(NOW)
    mailer = Mailer.create(engine, settings, lease_clock=clock)
    per_tick: list[int] = []
    started = time.perf_counter()
    try:
        # A bound, so a quota that let nothing through fails the run instead of looping for ever.
        for _minute in range(2 * n // per_minute + 10):
            result = await tick(mailer, clock.now())
            per_tick.append(result.sent)
            if result.failed or result.retrying:
                break
            if sum(per_tick) >= n:
                break
            clock.at += timedelta(minutes=1)
    finally:
        await mailer.close()
    real = time.perf_counter() - started
    recorded = count_rows(engine, "notification", state="sent")
    refused = count_rows(engine, "notification", state="failed") + _retries(engine)
    engine.dispose()
    _check(sink, before, n, recorded_sent=recorded)
    minutes = len(per_tick)
    return PacedRun(sum(per_tick), minutes, max(per_tick), refused, real)


def _retries(engine: Engine) -> int:
    """Rows put back for a retry after a failed attempt (a relay's refusal), as opposed to held for the quota."""
    with engine.connect() as conn:
        query = sa.text("SELECT count(*) FROM notification WHERE attempts > 0 AND state != 'sent'")
        return int(conn.execute(query).scalar_one())


def run_relay(n_pooled: int, n_paced: int, repeats: int, log: Log) -> Outcome:
    """Msg/s at each pool size against a 50 ms relay, then the paced run under a 30/minute quota."""
    rates: dict[int, list[SendRun]] = {pool: [] for pool in POOLS}
    with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp, SinkProcess(latency=RELAY_LATENCY) as server:
        workdir = Path(tmp)
        template = build_send_db(workdir / "template.db", n_pooled)
        for attempt in range(repeats):
            for pool in POOLS:
                db = copy_db(template, workdir / f"pool-{pool}-{attempt}.db")
                rates[pool].append(asyncio.run(pooled_send(db, server, n_pooled, workdir, pool)))
                log(f"relay: pool {pool}, run {attempt + 1}/{repeats}: {rates[pool][-1].rate:,.0f} msg/s")
        paced_db = build_send_db(workdir / "paced.db", n_paced)
        log(f"relay: {n_paced:,} emails under a {QUOTA_PER_MINUTE}/minute quota (simulated clock)")
        paced = asyncio.run(paced_send(paced_db, server, n_paced, workdir, QUOTA_PER_MINUTE))
        log(f"relay: paced run took {paced.minutes} simulated minutes, {paced.real_seconds:.0f} s real")
    name = f"relay {RELAY_LATENCY * 1000:.0f} ms"
    figures = [
        Figure(
            name,
            f"{n_pooled:,} msgs, pool {pool}" + (" (default)" if pool == POOLS[0] else ""),
            f"{median([r.rate for r in runs]):,.0f} msg/s",
            note=f"ceiling {pool / RELAY_LATENCY:,.0f} msg/s" + (f"; {_note(runs)}" if len(runs) > 1 else ""),
        )
        for pool, runs in rates.items()
    ]
    on_pace = paced.busiest_minute <= QUOTA_PER_MINUTE and paced.refused == 0 and paced.messages == n_paced
    figures.append(
        Figure(
            name,
            f"{n_paced:,} msgs, quota {QUOTA_PER_MINUTE}/min (target: that pace, none refused or lost)",
            f"{paced.pace:.1f} msg/min",
            ok=on_pace,
            note=(
                f"{paced.minutes} simulated min, busiest minute {paced.busiest_minute}, "
                f"refused {paced.refused}, sent {paced.messages:,}/{n_paced:,}; {paced.real_seconds:.0f} s real"
            ),
        )
    )
    return Outcome(name, figures)

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
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

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

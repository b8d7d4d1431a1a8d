"""Ingest rate: 10,000 replies from an mbox, against a bare ``email.message_from_bytes`` of the same file.

The replies answer reminders the database holds as sent (their Message-IDs
and signed reply tokens are real), in the mix a secretariat sees: mostly
confirmations in Spanish and English (quoted, half with an HTML alternative, a
fifth with a 40 KB spreadsheet, some with a signature logo),
extension requests, questions, out-of-office replies, bounces and a few
strangers. Both loops read the mbox the same way (``mailbox.mbox.get_bytes``);
ours then stores, classifies, matches and records every message through
:func:`followup.inbound.inbox.ingest_files` into a fresh copy of the database.
"""

from __future__ import annotations

import contextlib
import email
import hashlib
import mailbox
import tempfile
import time
import unittest.mock
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa

from bench.common import Figure, Log, Outcome, bench_settings, median, spread
from bench.data import CACHE_DIR, NOTIFICATION, NOW, build_send_db, copy_db
from bench.history import with_history
from followup.clock import FixedClock
from followup.inbound import ingest as ingest_module
from followup.inbound.batching import plan_batches
from followup.inbound.imap_source import DEFAULT_BATCH, FetchedMessage
from followup.inbound.inbox import ingest_files, store_batch
from followup.inbound.ingest import BATCH, IngestResult, interpret_pending
from followup.outbound.tokens import make_token, reply_address
from followup.settings import DEFAULT_BATCH_BYTES
from followup.store.db import flush_to_disk, head_revision, make_engine

TARGET_RATIO = 0.30
BATCH_MIB = DEFAULT_BATCH_BYTES / 2**20
DOMAIN = "rcm.example.org"
VERSION = 2


def world(n: int, log: Log) -> tuple[Path, Path]:
    """The cached database (n sent reminders) and mbox (n replies to them)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"ingest-{n}-v{VERSION}-{head_revision()}"
    db, box_path = CACHE_DIR / f"{stem}.db", CACHE_DIR / f"{stem}.mbox"
    if db.is_file() and box_path.is_file():
        return db, box_path
    log(f"building {stem} ({n:,} sent reminders and their replies; cached for later runs)")
    partial = CACHE_DIR / f"{stem}.building.db"
    build_send_db(partial, n)
    engine = make_engine(f"sqlite:///{partial}")
    with engine.begin() as conn:
        ids = [row.id for row in conn.execute(sa.text("SELECT id FROM assignment ORDER BY id"))]
        contacts = {r.party_code: (r.id, r.email, r.name) for r in conn.execute(sa.text("SELECT * FROM contact"))}
        parties = {r.id: r.party_code for r in conn.execute(sa.text("SELECT id, party_code FROM assignment"))}
        conn.execute(
            sa.insert(NOTIFICATION),
            [
                {
                    "dedupe_key": f"bench:{aid}",
                    "kind": "reminder",
                    "assignment_id": aid,
                    "contact_id": contacts[parties[aid]][0],
                    "recipient": contacts[parties[aid]][1],
                    "step": "-14d",
                    "due_date": None,
                    "scheduled_at": NOW,
                    "state": "sent",
                    "message_id": f"<bench.{aid}@{DOMAIN}>",
                    "attempts": 1,
                    "last_error": "",
                    "lease_owner": "",
                    "sent_at": NOW,
                    "created_at": NOW,
                    "payload": {},
                }
                for aid in ids
            ],
        )
        notification_ids = {
            r.assignment_id: r.id for r in conn.execute(sa.text("SELECT id, assignment_id FROM notification"))
        }
    engine.dispose()
    secret = bench_settings(CACHE_DIR, partial, 25).signing_secret.get_secret_value().encode()
    tmp_box = CACHE_DIR / f"{stem}.building.mbox"
    tmp_box.unlink(missing_ok=True)
    box = mailbox.mbox(tmp_box)
    box.lock()
    for i, aid in enumerate(ids):
        _cid, address, name = contacts[parties[aid]]
        token = make_token(notification_ids[aid], secret)
        box.add(_reply(i, aid, address, name, reply_address(token, "ts", DOMAIN)))
    box.flush()
    box.unlock()
    box.close()
    partial.rename(db)
    tmp_box.rename(box_path)
    return db, box_path


_ES_QUOTE = (
    "\n\nEl mar, 10 mar 2026 a las 10:00, RCM Technical Secretariat <ts@rcm.example.org> escribió:\n"
    "> Estimada/o colega:\n> Le recordamos que el plazo para el siguiente compromiso vence dentro de 14 días.\n"
    "> [RCM-{aid}] Completar y enviar la matriz de integración\n>    Plazo: martes, 24 de marzo de 2026\n"
)
_EN_QUOTE = (
    "\n\nOn Tue, 10 Mar 2026 at 10:00, RCM Technical Secretariat <ts@rcm.example.org> wrote:\n"
    "> Dear colleague,\n> This is a reminder that the following item is due in 14 days.\n"
    "> [RCM-{aid}] Complete and submit the integration matrix\n"
)


def _reply(i: int, aid: int, address: str, name: str, reply_to: str) -> bytes:
    kind = i % 20
    msg = EmailMessage()
    msg["From"] = f"{name} <{address}>" if kind != 19 else "Someone <someone@elsewhere.example>"
    msg["To"] = reply_to
    msg["Subject"] = f"RE: [RCM-{aid}] Recordatorio: Completar y enviar la matriz"
    msg["Message-ID"] = f"<reply.{i}.{aid}@{address.split('@')[1]}>"
    msg["In-Reply-To"] = f"<bench.{aid}@{DOMAIN}>"
    msg["References"] = f"<bench.{aid}@{DOMAIN}>"
    msg["Date"] = "Wed, 11 Mar 2026 09:15:00 -0600"
    if kind == 17:
        msg.replace_header("Subject", "Respuesta automática: Recordatorio")
        msg["Auto-Submitted"] = "auto-replied"
        msg.set_content(
            "Estaré fuera de la oficina hasta el 20 de marzo. Para asuntos urgentes, escriba a mi asistente."
        )
        return msg.as_bytes()
    if kind == 18:
        return _bounce(i, aid, address)
    spanish = i % 3 != 0
    quote = (_ES_QUOTE if spanish else _EN_QUOTE).format(aid=aid)
    if kind in (14, 15):
        body = (
            "Estimados, les solicitamos una prórroga hasta el 15 de abril."
            if spanish
            else ("Dear colleagues, we need two more weeks to complete it, until 7 April.")
        )
    elif kind == 16:
        body = "¿Podrían enviarnos de nuevo el formato de la matriz?" if spanish else "Could you resend the template?"
    else:
        body = (
            "Buenos días, adjunto la matriz completada. Saludos cordiales."
            if spanish
            else ("Good morning, please find attached the completed matrix. Best regards.")
        )
    text = body + "\n\n--\nDirección General de Migración" + quote
    msg.set_content(text)
    if i % 2 == 0:  # Outlook and Gmail send an HTML alternative too, quoting ours
        paragraphs = "".join(f"<p>{line}</p>" for line in text.replace(">", "&gt;").splitlines() if line)
        msg.add_alternative(f"<html><body><div dir='ltr'>{paragraphs}</div></body></html>", subtype="html")
    if kind in (0, 4, 8, 12):  # the spreadsheet itself (20% of replies)
        msg.add_attachment(_noise(i, 40_000), maintype="application", subtype="vnd.ms-excel", filename="matriz.xlsx")
    elif kind in (2, 6):  # a signature logo
        msg.add_attachment(_noise(i, 6_000), maintype="image", subtype="png", filename="logo.png")
    return msg.as_bytes()


def _noise(seed: int, size: int) -> bytes:
    """Incompressible bytes, as a real spreadsheet or image is."""
    return hashlib.shake_256(seed.to_bytes(8, "big")).digest(size)


def _bounce(i: int, aid: int, address: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.org\r\nTo: ts@rcm.example.org\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce.{i}@mx.example.org>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <bench.{aid}@{DOMAIN}>\r\n--b--\r\n"
    ).encode()


def bare(box_path: Path) -> float:
    started = time.perf_counter()
    box = mailbox.mbox(box_path, create=False)
    for key in box.iterkeys():
        email.message_from_bytes(box.get_bytes(key))
    box.close()
    return time.perf_counter() - started


def ours(db: Path, box_path: Path, workdir: Path, *, archive: bool = True) -> float:
    """Seconds to ingest the mbox; ``archive=False`` skips archiving the attachments, to show what it costs."""
    copy = copy_db(db, workdir / "ingest.db")
    settings = bench_settings(workdir, copy, 25)
    engine = _opened(settings.database_url)
    secret = settings.signing_secret.get_secret_value().encode()
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if not archive:
            stack.enter_context(unittest.mock.patch.object(ingest_module, "archive_parsed", _no_archive))
        result = ingest_files(engine, settings, [box_path], clock=FixedClock(NOW), secret=secret)
    elapsed = time.perf_counter() - started
    engine.dispose()
    if result.stored != len(result.results):
        raise RuntimeError(f"expected every reply stored once, got {result.stored} of {len(result.results)}")
    _all_understood([r for _, r in result.results])
    return elapsed


def _all_understood(results: list[IngestResult]) -> None:
    """Fail the run if a reply was quarantined or left unmatched: a broken statement must not pass as speed."""
    quarantined = sum(r.quarantined for r in results)
    unmatched = sum(not r.duplicate and not r.quarantined and not r.assignment_ids for r in results)
    if quarantined or unmatched:
        raise RuntimeError(f"{quarantined} replies quarantined and {unmatched} unmatched; expected none")


def _opened(url: str) -> sa.Engine:
    """An engine whose first connection is made before the clock starts, as a running daemon's is.

    The cached databases are single files in rollback mode; the first
    connection turns a fresh copy to WAL, which flushes the whole copy to disk
    (1.2 s for the 6.7 GB one with history): the cost of the copy, not of ingesting.
    """
    engine = make_engine(url)
    with engine.connect():
        pass
    return engine


def _no_archive(*args: object, **kwargs: object) -> int:
    return 0


def imap_sized(db: Path, box_path: Path, workdir: Path) -> float:
    """The IMAP poll's path without the network: batches of one FETCH each, stored as the poll stores them."""
    copy = copy_db(db, workdir / "ingest-imap.db")
    settings = bench_settings(workdir, copy, 25)
    engine = _opened(settings.database_url)
    secret = settings.signing_secret.get_secret_value().encode()
    box = mailbox.mbox(box_path, create=False)
    key = "imap://bench@localhost:143/INBOX"
    started = time.perf_counter()
    interpret_pending(engine, settings, now=NOW, secret=secret)
    results: list[IngestResult] = []

    def store(batch: list[FetchedMessage]) -> None:
        results.extend(store_batch(engine, settings, key, batch, NOW, secret))
        flush_to_disk(engine)  # as the poll does before moving the batch out of the inbox

    keys = list(box.iterkeys())
    raws = {uid: box.get_bytes(message_key) for uid, message_key in enumerate(keys, start=1)}
    # The poll asks the server for RFC822.SIZE, which counts CRLF line ends.
    sizes = [(uid, len(raw) + raw.count(b"\n")) for uid, raw in raws.items()]
    batches = plan_batches(sizes, max_count=DEFAULT_BATCH, max_bytes=settings.replies.batch_bytes)
    for uids in batches:
        store([FetchedMessage(uid=uid, uidvalidity=1, raw=raws[uid]) for uid in uids])
    elapsed = time.perf_counter() - started
    box.close()
    engine.dispose()
    stored = sum(not r.duplicate for r in results)
    if stored != len(keys):
        raise RuntimeError(f"expected every reply stored once, got {stored}")
    _all_understood(results)
    return elapsed


def run(n: int, repeats: int, log: Log, *, history: int = 10_000_000) -> Outcome:
    db, box_path = world(n, log)
    old = with_history(
        db,
        history,
        lambda i: 1 + i % n,  # the send database: assignment, party and contact i + 1 go together
        lambda aid: (aid, f"focal.point{aid - 1}@s{aid - 1:06d}.example.org"),
        log=log,
    )
    bare_runs, file_runs, imap_runs, unarchived_runs = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp:
        for _ in range(repeats):
            bare_runs.append(n / bare(box_path))
            file_runs.append(n / ours(db, box_path, Path(tmp)))
            unarchived_runs.append(n / ours(db, box_path, Path(tmp), archive=False))
            imap_runs.append(n / imap_sized(old, box_path, Path(tmp)))
            log(
                f"ingest: bare {bare_runs[-1]:,.0f} msg/s, file path {file_runs[-1]:,.0f} msg/s "
                f"({unarchived_runs[-1]:,.0f} without archiving), "
                f"IMAP-sized batches with history {imap_runs[-1]:,.0f} msg/s"
            )
    file_ratio = median(file_runs) / median(bare_runs)
    imap_ratio = median(imap_runs) / median(bare_runs)
    archiving = median(file_runs) / median(unarchived_runs)
    name = f"ingest ({n:,} replies)"
    return Outcome(
        name,
        [
            Figure(name, "bare email.message_from_bytes", f"{median(bare_runs):,.0f} msg/s", note=spread(bare_runs)),
            Figure(
                name,
                f"file path: mbox, {BATCH} per transaction, no history",
                f"{median(file_runs):,.0f} msg/s",
                note=spread(file_runs),
            ),
            Figure(
                name,
                f"ratio file path/bare (target >= {TARGET_RATIO:.0%})",
                f"{file_ratio:.0%}",
                ok=file_ratio >= TARGET_RATIO,
            ),
            Figure(
                name,
                f"IMAP path: FETCHes of <= {DEFAULT_BATCH} messages and {BATCH_MIB:g} MiB, "
                f"one transaction each, {history:,} notifications of history",
                f"{median(imap_runs):,.0f} msg/s",
                note=spread(imap_runs),
            ),
            Figure(
                name,
                f"ratio IMAP path/bare (target >= {TARGET_RATIO:.0%})",
                f"{imap_ratio:.0%}",
                ok=imap_ratio >= TARGET_RATIO,
            ),
            Figure(
                name,
                "file path without archiving attachments",
                f"{median(unarchived_runs):,.0f} msg/s",
                note=spread(unarchived_runs),
            ),
            Figure(name, "file path with archiving / without", f"{archiving:.0%}"),
        ],
    )

"""Replies through a real IMAP server: poll, store once, act, and survive restarts."""

from __future__ import annotations

import email
import email.policy
import os
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from followup.clock import FixedClock
from followup.daemon.services import Mailer, tick
from followup.inbound import inbox
from followup.inbound.inbox import poll_imap
from followup.outbound.signing import signing_key
from followup.schedule.loading import load_paths
from followup.settings import Settings
from followup.store.db import make_engine, migrate
from followup.store.models import Assignment, InboundMessage, MailboxState
from tests.factories import settings_for

if TYPE_CHECKING:
    from tests.dovecot import DovecotServer
    from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.imap
NOW = datetime(2026, 9, 4, 15, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


async def test_reply_polled_from_imap_is_ingested_once(
    tmp_path: Path, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    settings = settings_for(
        tmp_path,
        smtp_port=smtp_server.port,
        FOLLOWUP_IMAP__HOST=dovecot.host,
        FOLLOWUP_IMAP__PORT=str(dovecot.port),
        FOLLOWUP_IMAP__SECURITY="none",
        FOLLOWUP_IMAP__USERNAME=dovecot.user,
        FOLLOWUP_IMAP__PASSWORD=dovecot.password,
        FOLLOWUP_IMAP__FOLDER="Replies",
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    load_paths(engine, [FIXTURES / "year.yaml"], now=NOW - timedelta(days=30))
    mailer = Mailer.create(engine, settings)
    assert (await tick(mailer, NOW)).sent == 1
    await mailer.close()
    sent = email.message_from_bytes(smtp_server.handler.messages[0].data, policy=email.policy.default)
    with Session(engine) as s:
        matrix = s.exec(select(Assignment).where(Assignment.commitment_id == "matrix-a")).one()
    reply = EmailMessage()
    reply["From"] = "Ana María López <alopez@migracion.gob.hn.example>"
    reply["To"] = str(sent["Reply-To"])
    reply["Subject"] = "RE: " + str(sent["Subject"])
    reply["Message-ID"] = "<reply-1@migracion.gob.hn.example>"
    reply["In-Reply-To"] = str(sent["Message-ID"])
    reply.set_content(f"Buenos días, adjunto la matriz [RCM-{matrix.id}]. Saludos")
    dovecot.append(reply.as_bytes(), folder="Replies")
    dovecot.append(folder="Replies", raw=b"From: broken\r\nContent-Type: multipart/mixed\r\n\r\nno boundary at all\x00")

    clock = FixedClock(NOW + timedelta(hours=2))
    secret = signing_key(settings)
    first = await poll_imap(engine, settings, clock=clock, secret=secret)
    assert first.stored == 2
    outcomes = [r for _, r in first.results]
    assert outcomes[0].changed == [matrix.id]
    assert outcomes[1].quarantined or outcomes[1].triage == "open"
    # A restart (new engine) and a second poll read nothing again.
    engine.dispose()
    engine = make_engine(settings.database_url)
    second = await poll_imap(engine, settings, clock=clock, secret=secret)
    assert second.results == []
    with Session(engine) as s:
        assert len(s.exec(select(InboundMessage)).all()) == 2
        state = s.exec(select(MailboxState)).one()
        assert state.last_uid == max(dovecot.uids("Replies"))
        assert s.get(Assignment, matrix.id).state == "submitted"  # type: ignore[union-attr]
    # A new UIDVALIDITY (the folder was recreated with the same mail) re-reads, stores nothing twice.
    dovecot.recreate_folder("Replies")
    dovecot.append(reply.as_bytes(), folder="Replies")
    third = await poll_imap(engine, settings, clock=clock, secret=secret)
    assert [r.duplicate for _, r in third.results] == [True]


def _imap_settings(tmp_path: Path, dovecot: DovecotServer) -> Settings:
    return settings_for(
        tmp_path,
        FOLLOWUP_IMAP__HOST=dovecot.host,
        FOLLOWUP_IMAP__PORT=str(dovecot.port),
        FOLLOWUP_IMAP__SECURITY="none",
        FOLLOWUP_IMAP__USERNAME=dovecot.user,
        FOLLOWUP_IMAP__PASSWORD=dovecot.password,
        FOLLOWUP_IMAP__PROCESSED_FOLDER="Processed",
    )


def _note(n: int) -> bytes:
    return (
        f"From: someone{n}@gob.example\r\nTo: ts@rcm.example.org\r\nSubject: Note {n}\r\n"
        f"Message-ID: <note-{n}@gob.example>\r\n\r\nA note ({n}).\r\n"
    ).encode()


async def test_a_poll_stores_each_fetched_batch_in_one_transaction(tmp_path: Path, dovecot: DovecotServer) -> None:
    settings = _imap_settings(tmp_path, dovecot)
    engine = make_engine(settings.database_url)
    migrate(engine)
    uids = [dovecot.append(_note(n)) for n in range(45)]
    inserted: list[int] = []  # rows inserted into inbound_message per committed transaction
    pending = [0]

    def count(_c: object, _cur: object, statement: str, parameters: Any, *_rest: object) -> None:
        if statement.startswith("INSERT INTO inbound_message"):
            # One row per statement, or several: executemany, or one multi-row VALUES list.
            columns = statement.split("(", 1)[1].split(")", 1)[0].count(",") + 1
            rows = isinstance(parameters, list) and isinstance(parameters[0], tuple | dict)
            pending[0] += len(parameters) if rows else len(parameters) // columns

    def commit(_conn: object) -> None:
        if pending[0]:
            inserted.append(pending[0])
        pending[0] = 0

    sa.event.listen(engine, "before_cursor_execute", count)
    sa.event.listen(engine, "commit", commit)
    result = await poll_imap(engine, settings, clock=FixedClock(NOW), secret=signing_key(settings), batch_size=20)
    sa.event.remove(engine, "before_cursor_execute", count)
    sa.event.remove(engine, "commit", commit)
    assert result.stored == 45 and result.duplicates == 0
    assert inserted == [20, 20, 5]
    assert dovecot.uids("INBOX") == [] and len(dovecot.uids("Processed")) == 45
    with Session(engine) as s:
        assert len(s.exec(select(InboundMessage)).all()) == 45
        assert s.exec(select(MailboxState)).one().last_uid == uids[-1]
    engine.dispose()


async def test_a_poll_stopped_between_batches_leaves_the_unstored_batch_in_the_inbox(
    tmp_path: Path, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _imap_settings(tmp_path, dovecot)
    engine = make_engine(settings.database_url)
    migrate(engine)
    uids = [dovecot.append(_note(n)) for n in range(7)]
    calls: list[int] = []
    store = inbox.store_batch

    def crash_on_second(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return store(*args, **kwargs)

    clock, secret = FixedClock(NOW), signing_key(settings)
    with monkeypatch.context() as patch:
        patch.setattr(inbox, "store_batch", crash_on_second)
        with pytest.raises(RuntimeError, match="power cut"):
            await poll_imap(engine, settings, clock=clock, secret=secret, batch_size=4)
    with Session(engine) as s:
        assert len(s.exec(select(InboundMessage)).all()) == 4
        assert s.exec(select(MailboxState)).one().last_uid == uids[3]
    # The stored batch left the inbox; the one in hand stayed, and the next poll takes it, once.
    assert dovecot.uids("INBOX") == uids[4:]
    second = await poll_imap(engine, settings, clock=clock, secret=secret, batch_size=4)
    assert second.stored == 3 and second.duplicates == 0
    assert dovecot.uids("INBOX") == [] and len(dovecot.uids("Processed")) == 7
    engine.dispose()


async def test_each_batch_is_synced_to_disk_before_it_leaves_the_inbox(
    tmp_path: Path, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite commits with ``synchronous=NORMAL``: a power cut could undo a batch IMAP has already moved away.

    Each sync of the WAL file must come after its batch is stored and while
    the batch is still in the inbox.
    """
    settings = _imap_settings(tmp_path, dovecot)
    engine = make_engine(settings.database_url)
    migrate(engine)
    uids = [dovecot.append(_note(n)) for n in range(9)]
    wal = Path(f"{engine.url.database}-wal").resolve()
    synced: list[tuple[int, list[int]]] = []  # (messages stored, UIDs still in the inbox) at each sync of the WAL
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if Path(os.readlink(f"/proc/self/fd/{fd}")) == wal:
            with Session(engine) as s:
                stored = len(s.exec(select(InboundMessage)).all())
            synced.append((stored, dovecot.uids("INBOX")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    result = await poll_imap(engine, settings, clock=FixedClock(NOW), secret=signing_key(settings), batch_size=4)
    monkeypatch.undo()
    assert result.stored == 9
    assert synced == [(4, uids), (8, uids[4:]), (9, uids[8:])]
    assert dovecot.uids("INBOX") == []
    engine.dispose()

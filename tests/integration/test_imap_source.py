"""The IMAP source against a real Dovecot: UIDs, restarts, UIDVALIDITY, moving, TLS."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import date
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from followup.errors import InboundError
from followup.inbound.classify import understand
from followup.inbound.imap_source import (
    FetchedMessage,
    MailboxCursor,
    commit_uid,
    fetch_new,
    fetch_new_batches,
    mailbox_key,
    parse_fetch_response,
    quote_mailbox,
)
from followup.inbound.mailbox_state import load_cursor, save_cursor
from followup.settings import ImapSettings
from followup.store.db import session_scope
from followup.store.models import InboundMessage

if TYPE_CHECKING:
    from tests.dovecot import DovecotServer

pytestmark = pytest.mark.imap

REFERENCE = date(2026, 8, 3)


def reply(n: int, *, message_id: bool = True) -> bytes:
    lines = [
        f"From: Focal Point {n} <fp{n}@gob.example>",
        "To: ts+tok@rcm.example.org",
        f"Subject: RE: Recordatorio [RCM-{n}]",
        "Date: Mon, 03 Aug 2026 14:00:00 -0600",
    ]
    if message_id:
        lines.append(f"Message-ID: <reply-{n}@gob.example>")
    lines += ["Content-Type: text/plain; charset=utf-8", "", f"Adjunto la matriz número {n}.", ""]
    return "\r\n".join(lines).encode("utf-8")


def store(engine: Engine, key: str, message: FetchedMessage) -> bool:
    """What the poller does: store (deduplicated) and save the cursor in one transaction."""
    seen = understand(message.raw, REFERENCE)
    with session_scope(engine) as session:
        query = select(InboundMessage).where(col(InboundMessage.content_hash) == seen.content_hash)
        if seen.parsed.message_id:
            query = select(InboundMessage).where(
                (col(InboundMessage.content_hash) == seen.content_hash)
                | (col(InboundMessage.message_id) == seen.parsed.message_id)
            )
        new = session.exec(query).first() is None
        if new:
            session.add(
                InboundMessage(
                    message_id=seen.parsed.message_id,
                    content_hash=seen.content_hash,
                    raw=message.raw,
                    source=f"{key}#{message.uid}",
                    sender=seen.parsed.sender,
                    subject=seen.parsed.subject,
                    classification=seen.classification,
                    intent=seen.intent,
                    new_text=seen.visible_text,
                )
            )
        save_cursor(session, key, message.uidvalidity, message.uid)
    return new


def stored_ids(engine: Engine) -> list[str | None]:
    with session_scope(engine) as session:
        return sorted(m.message_id or m.content_hash for m in session.exec(select(InboundMessage)).all())


def current(engine: Engine, key: str) -> MailboxCursor | None:
    with session_scope(engine) as session:
        return load_cursor(session, key)


async def poll(engine: Engine, settings: ImapSettings) -> list[int]:
    key = mailbox_key(settings)
    uids = []
    async for message in fetch_new(settings, current(engine, key)):
        store(engine, key, message)
        uids.append(message.uid)
    return uids


async def collect(iterator: AsyncIterator[FetchedMessage]) -> list[FetchedMessage]:
    return [m async for m in iterator]


async def test_messages_are_fetched_once_in_uid_order(dovecot: DovecotServer, sqlite_engine: Engine) -> None:
    settings = dovecot.settings()
    uids = [dovecot.append(reply(n)) for n in range(3)]

    first = await collect(fetch_new(settings, None))
    assert [m.uid for m in first] == uids
    assert [understand(m.raw, REFERENCE).parsed.message_id for m in first] == [
        f"<reply-{n}@gob.example>" for n in range(3)
    ]
    assert first[0].raw.replace(b"\r\n", b"\n") == reply(0).replace(b"\r\n", b"\n")
    cursor = None
    for message in first:
        cursor = commit_uid(cursor, message)
    assert cursor == MailboxCursor(dovecot.uidvalidity(), uids[-1])

    assert await collect(fetch_new(settings, cursor)) == []
    later = dovecot.append(reply(3))
    assert [m.uid for m in await collect(fetch_new(settings, cursor))] == [later]
    # BODY.PEEK leaves the messages unread for the people who share the mailbox.
    with dovecot.client() as conn:
        conn.select("INBOX", readonly=True)
        _, unseen = conn.uid("SEARCH", "UNSEEN")
    assert [int(x) for x in unseen[0].split()] == [*uids, later]


async def test_stopping_before_commit_loses_and_repeats_nothing(dovecot: DovecotServer, sqlite_engine: Engine) -> None:
    settings = dovecot.settings(processed_folder="Processed")
    for n in range(5):
        dovecot.append(reply(n))
    dovecot.append(reply(99, message_id=False))

    # First poll: two messages stored, then the process dies while handling the third
    # (its transaction never commits).
    with pytest.raises(RuntimeError, match="power cut"):
        await store_two_then_crash(sqlite_engine, settings)
    assert len(stored_ids(sqlite_engine)) == 2
    # Only the stored ones left the inbox; the one in hand stayed.
    assert len(dovecot.uids("INBOX")) == 4
    assert len(dovecot.uids("Processed")) == 2

    # Second poll: the rest, once each.
    await poll(sqlite_engine, settings)
    expected = sorted(
        [f"<reply-{n}@gob.example>" for n in range(5)]
        + [understand(reply(99, message_id=False), REFERENCE).content_hash]
    )
    assert stored_ids(sqlite_engine) == expected
    assert dovecot.uids("INBOX") == []
    assert len(dovecot.uids("Processed")) == 6
    assert await poll(sqlite_engine, settings) == []


async def store_two_then_crash(engine: Engine, settings: ImapSettings) -> None:
    key = mailbox_key(settings)
    handled = 0
    async with aclosing(fetch_new(settings, current(engine, key))) as messages:
        async for message in messages:
            if handled == 2:
                with session_scope(engine) as session:
                    session.add(InboundMessage(content_hash="x" * 64, raw=message.raw))
                    raise RuntimeError("power cut")
            store(engine, key, message)
            handled += 1


async def test_stored_but_not_moved_is_moved_on_the_next_poll(dovecot: DovecotServer, sqlite_engine: Engine) -> None:
    settings = dovecot.settings(processed_folder="Processed")
    key = mailbox_key(settings)
    for n in range(3):
        dovecot.append(reply(n))
    iterator = fetch_new(settings, None)
    message = await iterator.__anext__()
    store(sqlite_engine, key, message)  # committed...
    await iterator.aclose()  # ...but the process stops before asking for the next one
    assert len(dovecot.uids("INBOX")) == 3

    assert len(await poll(sqlite_engine, settings)) == 2
    assert dovecot.uids("INBOX") == []
    assert sorted(dovecot.message_ids("Processed")) == [f"<reply-{n}@gob.example>" for n in range(3)]
    assert len(stored_ids(sqlite_engine)) == 3


async def test_changed_uidvalidity_rescans_and_deduplicates(dovecot: DovecotServer, sqlite_engine: Engine) -> None:
    settings = dovecot.settings(folder="Respuestas")
    key = mailbox_key(settings)
    for n in range(2):
        dovecot.append(reply(n), folder="Respuestas")
    assert len(await poll(sqlite_engine, settings)) == 2
    old = current(sqlite_engine, key)
    assert old is not None

    # The folder is recreated (a migration, a clumsy admin): same mail, new UIDs.
    dovecot.recreate_folder("Respuestas")
    for n in range(3):
        dovecot.append(reply(n), folder="Respuestas")
    new_validity = dovecot.uidvalidity("Respuestas")
    assert new_validity != old.uidvalidity

    fetched = await poll(sqlite_engine, settings)
    assert len(fetched) == 3  # read again from the start...
    assert stored_ids(sqlite_engine) == [f"<reply-{n}@gob.example>" for n in range(3)]  # ...stored once
    assert current(sqlite_engine, key) == MailboxCursor(new_validity, max(fetched))
    assert await poll(sqlite_engine, settings) == []


async def test_processed_messages_move_to_the_processed_folder(dovecot: DovecotServer, sqlite_engine: Engine) -> None:
    settings = dovecot.settings(processed_folder="Procesados Año 2026")
    for n in range(3):
        dovecot.append(reply(n))
    await poll(sqlite_engine, settings)
    assert dovecot.uids("INBOX") == []
    # The folder name went over the wire in modified UTF-7.
    assert dovecot.message_ids('"Procesados A&APE-o 2026"') == [f"<reply-{n}@gob.example>" for n in range(3)]
    # A second connection finds the folder there already.
    dovecot.append(reply(3))
    assert len(await poll(sqlite_engine, settings)) == 1


async def test_a_processed_folder_the_server_refuses_is_reported(dovecot: DovecotServer) -> None:
    dovecot.append(reply(1))
    settings = dovecot.settings(processed_folder="Procesados/2026")
    with pytest.raises(InboundError, match="cannot create folder 'Procesados/2026'"):
        await collect(fetch_new(settings, None))


async def test_move_falls_back_to_copy_and_expunge_without_move(
    dovecot_without_move: DovecotServer, sqlite_engine: Engine
) -> None:
    server = dovecot_without_move
    settings = server.settings(processed_folder="Procesados")
    for n in range(2):
        server.append(reply(n))
    await poll(sqlite_engine, settings)
    assert server.uids("INBOX") == []
    assert server.message_ids("Procesados") == [f"<reply-{n}@gob.example>" for n in range(2)]
    assert any(re.search(r"expunged=[1-9]", line) for line in server.log)


def padded(n: int, size: int) -> bytes:
    """A reply of about ``size`` bytes (an attachment-sized body)."""
    return reply(n) + b"x" * max(0, size - len(reply(n))) + b"\r\n"


async def test_fetches_are_cut_by_bytes_and_a_large_message_comes_alone(dovecot: DovecotServer) -> None:
    budget = 64 * 1024
    settings = dovecot.settings(processed_folder="Processed")
    sizes = [20_000, 20_000, 20_000, 20_000, 200_000, 1_000, 1_000]
    uids = [dovecot.append(padded(n, size)) for n, size in enumerate(sizes)]
    seen: list[list[int]] = []
    async with aclosing(fetch_new_batches(settings, None, batch_bytes=budget)) as batches:
        async for batch in batches:
            # Nothing is moved before the caller comes back for the next batch.
            assert set(dovecot.uids("INBOX")) >= {m.uid for m in batch}
            weight = sum(len(m.raw) for m in batch)
            assert len(batch) == 1 or weight <= budget
            seen.append([m.uid for m in batch])
    assert seen == [uids[0:3], [uids[3]], [uids[4]], uids[5:7]]
    assert dovecot.uids("INBOX") == []
    assert dovecot.uids("Processed") == uids


async def test_a_folder_of_ordinary_replies_comes_in_one_fetch(dovecot: DovecotServer) -> None:
    uids = [dovecot.append(reply(n)) for n in range(45)]
    batches = [[m.uid for m in batch] async for batch in fetch_new_batches(dovecot.settings(), None)]
    assert batches == [uids]
    assert [[m.uid for m in batch] async for batch in fetch_new_batches(dovecot.settings(), None, batch_size=20)] == [
        uids[0:20],
        uids[20:40],
        uids[40:45],
    ]


async def test_stopping_mid_poll_does_not_move_the_message_in_hand(dovecot: DovecotServer) -> None:
    settings = dovecot.settings(processed_folder="Processed")
    uids = [dovecot.append(reply(n)) for n in range(3)]
    async with aclosing(fetch_new(settings, None)) as messages:
        async for message in messages:
            assert message.uid == uids[0]
            break
    assert dovecot.uids("INBOX") == uids


async def test_implicit_tls_and_starttls_with_verified_certificates(dovecot_tls: DovecotServer) -> None:
    uid = dovecot_tls.append(reply(1))
    ca = dovecot_tls.ca_file
    over_tls = dovecot_tls.settings(security="tls", port=dovecot_tls.tls_port, ca_file=ca)
    assert [m.uid for m in await collect(fetch_new(over_tls, None))] == [uid]
    over_starttls = dovecot_tls.settings(security="starttls", ca_file=ca)
    assert [m.uid for m in await collect(fetch_new(over_starttls, None))] == [uid]
    assert sum("TLS" in line and "Login: user=<tester>" in line for line in dovecot_tls.log) == 2


async def test_an_unknown_certificate_is_refused_by_default(dovecot_tls: DovecotServer) -> None:
    dovecot_tls.append(reply(1))
    settings = dovecot_tls.settings(security="tls", port=dovecot_tls.tls_port)
    with pytest.raises(InboundError, match="CERTIFICATE_VERIFY_FAILED"):
        await collect(fetch_new(settings, None))
    # Turning verification off is an explicit choice.
    insecure = dovecot_tls.settings(security="tls", port=dovecot_tls.tls_port, verify_tls=False)
    assert len(await collect(fetch_new(insecure, None))) == 1


async def test_starttls_is_required_when_configured(dovecot: DovecotServer) -> None:
    with pytest.raises(InboundError, match="does not offer STARTTLS"):
        await collect(fetch_new(dovecot.settings(security="starttls"), None))


async def test_wrong_password_and_missing_folder_are_inbound_errors(dovecot: DovecotServer) -> None:
    with pytest.raises(InboundError, match="login"):
        await collect(fetch_new(dovecot.settings(password="wrong"), None))
    with pytest.raises(InboundError, match="cannot open folder"):
        await collect(fetch_new(dovecot.settings(folder="Nowhere"), None))


async def test_unreachable_server_is_an_inbound_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    settings = ImapSettings(host="127.0.0.1", port=port, security="none", username="u", timeout_seconds=5)
    with pytest.raises(InboundError, match="127.0.0.1"):
        await collect(fetch_new(settings, None))


def test_cursor_is_saved_forward_only_within_one_uidvalidity(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as session:
        assert load_cursor(session, "k") is None
        save_cursor(session, "k", 7, 10)
        assert save_cursor(session, "k", 7, 4) == MailboxCursor(7, 10)
        assert save_cursor(session, "k", 8, 2) == MailboxCursor(8, 2)
    with session_scope(sqlite_engine) as session:
        assert load_cursor(session, "k") == MailboxCursor(8, 2)


def test_fetch_response_parsing_pairs_bodies_with_uids() -> None:
    lines = [
        b"1 FETCH (UID 5 BODY[] {3}",
        bytearray(b"abc"),
        b")",
        b"2 FETCH (BODY[] {2}",
        bytearray(b"de"),
        b" UID 9)",
        b"3 FETCH (FLAGS (\\Seen))",
        b"Fetch completed.",
    ]
    assert parse_fetch_response(lines) == [(5, b"abc"), (9, b"de")]
    assert commit_uid(MailboxCursor(1, 9), FetchedMessage(5, 1, b"")) == MailboxCursor(1, 9)
    assert quote_mailbox('Año "2026"') == '"A&APE-o \\"2026\\""'

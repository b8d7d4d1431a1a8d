"""Reading replies in: from an IMAP folder (the daemon's poll) or from files.

The IMAP poll stores each FETCH's batch of messages in one transaction, as
``ingest`` does with files (raw first; interpreted after), and saves the
cursor (UIDVALIDITY and last UID) in that same transaction, so after any
restart nothing is read twice or missed; a changed UIDVALIDITY re-reads the folder and deduplication by
Message-ID and content hash keeps it from counting twice. A batch is synced
to disk before it leaves the inbox (:func:`followup.store.db.flush_to_disk`),
so a power cut cannot undo a batch the server no longer offers. Both readers first
interpret what an interrupted run stored but never interpreted (the cursor
has moved past it, so the mailbox will not hand it over again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from followup.clock import Clock
from followup.inbound.imap_source import DEFAULT_BATCH, FetchedMessage, fetch_new_batches, mailbox_key
from followup.inbound.ingest import BATCH, IngestResult, ingest_many, interpret_pending
from followup.inbound.mailbox_state import load_cursor, save_cursor
from followup.inbound.sources import iter_raw_messages
from followup.settings import Settings
from followup.store.db import flush_to_disk

log = logging.getLogger("followup.inbox")


@dataclass
class InboxResult:
    results: list[tuple[str, IngestResult]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return sum(1 for _, r in self.results if not r.duplicate)

    @property
    def duplicates(self) -> int:
        return sum(1 for _, r in self.results if r.duplicate)


def ingest_files(
    engine: Engine,
    settings: Settings,
    paths: Iterable[Path],
    *,
    clock: Clock,
    secret: bytes,
    on_progress: Callable[[int], None] | None = None,
) -> InboxResult:
    """``followup ingest``: .eml files, mbox files and Maildir folders.

    ``on_progress`` hears how many messages each batch handled (for a progress bar).
    A batch is :data:`BATCH` messages or ``replies.batch_bytes`` of mail,
    whichever comes first (a larger message goes alone), so a folder of large
    attachments is held in memory a few megabytes at a time.
    """
    out = InboxResult()
    out.results.extend(
        ("(stored earlier)", r) for r in interpret_pending(engine, settings, now=clock.now(), secret=secret)
    )

    def unreadable(label: str, reason: str) -> None:
        out.unreadable.append((label, reason))

    batch: list[tuple[str, bytes]] = []
    weight = 0

    def flush() -> None:
        nonlocal weight
        results = ingest_many(engine, settings, batch, now=clock.now(), secret=secret)
        out.results.extend((label, result) for (label, _raw), result in zip(batch, results, strict=True))
        if on_progress is not None:
            on_progress(len(batch))
        batch.clear()
        weight = 0

    for label, raw in iter_raw_messages(paths, on_error=unreadable):
        if batch and weight + len(raw) > settings.replies.batch_bytes:
            flush()
        batch.append((label, raw))
        weight += len(raw)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return out


async def poll_imap(
    engine: Engine, settings: Settings, *, clock: Clock, secret: bytes, batch_size: int = DEFAULT_BATCH
) -> InboxResult:
    """Fetch and store every new message of the configured folder, one FETCH's batch per transaction."""
    key = mailbox_key(settings.imap)
    with Session(engine) as session:
        cursor = load_cursor(session, key)
    out = InboxResult()
    resumed = await asyncio.to_thread(interpret_pending, engine, settings, now=clock.now(), secret=secret)
    out.results.extend(("(stored earlier)", r) for r in resumed)
    batches_of = fetch_new_batches(
        settings.imap, cursor, batch_size=min(batch_size, BATCH), batch_bytes=settings.replies.batch_bytes
    )
    async with aclosing(batches_of) as batches:
        async for batch in batches:
            results = await asyncio.to_thread(store_batch, engine, settings, key, batch, clock.now(), secret)
            # On disk before the generator moves the batch out of the inbox, power cut or not.
            await asyncio.to_thread(flush_to_disk, engine)
            out.results.extend((f"{key};uid={m.uid}", r) for m, r in zip(batch, results, strict=True))
    if out.results:
        log.info(
            "inbox: %d new, %d duplicate",
            out.stored,
            out.duplicates,
            extra={"event": "inbox.polled", "stored": out.stored},
        )
    return out


def store_batch(
    engine: Engine, settings: Settings, key: str, batch: Sequence[FetchedMessage], now: datetime, secret: bytes
) -> list[IngestResult]:
    """Store (raw first, one transaction), then interpret, one FETCH's messages; the cursor moves with them.

    The cursor is saved in the storing transaction at the highest UID it
    holds: the messages below it in this batch were stored by then too (by
    this transaction, or by an earlier one when a collision with another
    worker made ingest store them one at a time, in order).
    """
    uid_of = {f"{key};uidvalidity={m.uidvalidity};uid={m.uid}": m for m in batch}

    def save(session: Session, sources: Sequence[str]) -> None:
        last = max((uid_of[s] for s in sources), key=lambda m: m.uid)
        save_cursor(session, key, last.uidvalidity, last.uid)

    messages = [(source, m.raw) for source, m in uid_of.items()]
    return ingest_many(engine, settings, messages, now=now, secret=secret, on_stored=save)

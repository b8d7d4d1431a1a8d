"""Reading replies in: from an IMAP folder (the daemon's poll) or from files.

The IMAP cursor (UIDVALIDITY and last UID) is saved in the same transaction
that stores each message, so after any restart nothing is read twice or
missed; a changed UIDVALIDITY re-reads the folder and deduplication by
Message-ID and content hash keeps it from counting twice. Both readers first
interpret what an interrupted run stored but never interpreted (the cursor
has moved past it, so the mailbox will not hand it over again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from followup.clock import Clock
from followup.inbound.imap_source import FetchedMessage, fetch_new, mailbox_key
from followup.inbound.ingest import BATCH, IngestResult, ingest, ingest_many, interpret_pending
from followup.inbound.mailbox_state import load_cursor, save_cursor
from followup.inbound.sources import iter_raw_messages
from followup.settings import Settings

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
    """
    out = InboxResult()
    out.results.extend(
        ("(stored earlier)", r) for r in interpret_pending(engine, settings, now=clock.now(), secret=secret)
    )

    def unreadable(label: str, reason: str) -> None:
        out.unreadable.append((label, reason))

    batch: list[tuple[str, bytes]] = []

    def flush() -> None:
        results = ingest_many(engine, settings, batch, now=clock.now(), secret=secret)
        out.results.extend((label, result) for (label, _raw), result in zip(batch, results, strict=True))
        if on_progress is not None:
            on_progress(len(batch))
        batch.clear()

    for label, raw in iter_raw_messages(paths, on_error=unreadable):
        batch.append((label, raw))
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return out


async def poll_imap(engine: Engine, settings: Settings, *, clock: Clock, secret: bytes) -> InboxResult:
    """Fetch and store every new message of the configured folder."""
    key = mailbox_key(settings.imap)
    with Session(engine) as session:
        cursor = load_cursor(session, key)
    out = InboxResult()
    resumed = await asyncio.to_thread(interpret_pending, engine, settings, now=clock.now(), secret=secret)
    out.results.extend(("(stored earlier)", r) for r in resumed)
    async with aclosing(fetch_new(settings.imap, cursor)) as messages:
        async for message in messages:
            result = await asyncio.to_thread(_store, engine, settings, key, message, clock, secret)
            out.results.append((f"{key};uid={message.uid}", result))
    if out.results:
        log.info(
            "inbox: %d new, %d duplicate",
            out.stored,
            out.duplicates,
            extra={"event": "inbox.polled", "stored": out.stored},
        )
    return out


def _store(
    engine: Engine, settings: Settings, key: str, message: FetchedMessage, clock: Clock, secret: bytes
) -> IngestResult:
    def save(session: Session) -> None:
        save_cursor(session, key, message.uidvalidity, message.uid)

    return ingest(
        engine,
        settings,
        message.raw,
        source=f"{key};uidvalidity={message.uidvalidity};uid={message.uid}",
        now=clock.now(),
        secret=secret,
        on_stored=save,
    )

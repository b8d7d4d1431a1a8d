"""The submission archive: every submitted file stored once, by SHA-256, with a row per submission.

Bytes go to ``<archive_dir>/<aa>/<bb>/<sha256>``: the path comes from the
digest alone, so no file name chosen by a sender ever reaches the
filesystem. A file arrives either streamed from an upload (written to a
temporary file while hashed, then renamed into place) or as bytes from an
email attachment. Rows (:class:`ArchiveFile`) say who sent what for which
item, when and how.
"""

from __future__ import annotations

import csv
import email
import hashlib
import io
import logging
import os
import secrets
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select

from followup.inbound.sniff import Sniffed, safe_name, sniff_file, sniff_stream
from followup.settings import Settings
from followup.store.models import ArchiveFile, Assignment, Contact, InboundMatch, InboundMessage, InboundRaw

log = logging.getLogger("followup.archive")
CHUNK = 64 * 1024
ARCHIVE_FILE = SQLModel.metadata.tables["archive_file"]
#: Built once (ingest runs them every batch): what is archived for some replies already, and the insert.
_ARCHIVED_FOR = sa.select(ARCHIVE_FILE.c.inbound_id, ARCHIVE_FILE.c.sha256, ARCHIVE_FILE.c.assignment_id).where(
    ARCHIVE_FILE.c.inbound_id.in_(sa.bindparam("ids", expanding=True))
)
_ARCHIVE_ROWS = sa.insert(ARCHIVE_FILE)


class TooLarge(Exception):
    """A file went over the size limit while it was being received."""


@dataclass(frozen=True)
class StoredFile:
    """A file now in the archive (not yet recorded against any item)."""

    sha256: str
    size: int
    original_name: str
    kind: str
    media_type: str


class Archive:
    """The folder of archived files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._ready = False

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _incoming(self) -> Path:
        folder = self.root / "incoming"
        if not self._ready:  # once per Archive: a mkdir per file costs more than the write
            folder.mkdir(parents=True, exist_ok=True)
            self._ready = True
        return folder / secrets.token_hex(16)

    def receive(self, original_name: str, limit: int) -> Receiver:
        """A writer for one file arriving in pieces; it refuses bytes past ``limit``."""
        return Receiver(self, self._incoming(), safe_name(original_name), limit)

    def put_bytes(self, data: bytes, original_name: str) -> StoredFile:
        """Store bytes already in memory (an email attachment); known content is not written again.

        Written in one go (no :class:`Receiver`: the bytes are sniffed once, in
        memory, and not read back from disk); still through the incoming
        folder and a rename, so a reader never sees half a file.
        """
        name = safe_name(original_name)
        digest = hashlib.sha256(data).hexdigest()
        sniffed = sniff_stream(io.BytesIO(data), name)
        final = self.path_of(digest)
        if not final.exists():
            temp = self._incoming()
            with os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640), "wb") as fh:
                os.fchmod(fh.fileno(), 0o640)  # whatever the umask, as Receiver's files
                fh.write(data)
            try:
                temp.replace(final)
            except FileNotFoundError:  # the first file of its folder: make the folder (not before every file)
                final.parent.mkdir(parents=True, exist_ok=True)
                temp.replace(final)
        return StoredFile(digest, len(data), name, sniffed.kind, sniffed.media_type)

    def _commit(self, temp: Path, digest: str) -> Path:
        final = self.path_of(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            temp.unlink()
        else:
            temp.chmod(0o640)
            temp.replace(final)
        return final

    def open(self, sha256: str) -> IO[bytes]:
        return self.path_of(sha256).open("rb")


class Receiver:
    """Hashes and writes one file as it arrives; :meth:`finish` moves it into place."""

    def __init__(self, archive: Archive, temp: Path, original_name: str, limit: int) -> None:
        self._archive = archive
        self._temp = temp
        self._fh: IO[bytes] | None = temp.open("xb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.limit = limit
        self.original_name = original_name
        #: What the bytes are, known once the file is closed.
        self.sniffed: Sniffed | None = None

    def write(self, data: bytes) -> None:
        assert self._fh is not None
        self.size += len(data)
        if self.size > self.limit:
            self.abort()
            raise TooLarge(f"{self.original_name} is larger than {self.limit} bytes")
        self._hash.update(data)
        self._fh.write(data)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._temp.unlink(missing_ok=True)

    def close(self) -> None:
        """Every byte has arrived; the file waits for :meth:`finish` (or :meth:`abort`)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self.sniffed = sniff_file(self._temp, self.original_name)

    def finish(self) -> StoredFile:
        """Move the file into the archive under its digest."""
        self.close()
        sniffed = self.sniffed
        assert sniffed is not None
        digest = self._hash.hexdigest()
        self._archive._commit(self._temp, digest)
        return StoredFile(digest, self.size, self.original_name, sniffed.kind, sniffed.media_type)


def archive_for(settings: Settings) -> Archive:
    return Archive(settings.web.archive_dir)


def record_files(
    session: Session,
    files: Sequence[StoredFile],
    assignment: Assignment,
    *,
    contact_id: int | None,
    channel: str,
    now: datetime,
    inbound_id: int | None = None,
) -> list[ArchiveFile]:
    """One archive row per file for ``assignment`` (added to ``session``, committed by the caller)."""
    assert assignment.id is not None
    rows = [
        ArchiveFile(
            sha256=f.sha256,
            assignment_id=assignment.id,
            commitment_id=assignment.commitment_id,
            party_code=assignment.party_code,
            contact_id=contact_id,
            inbound_id=inbound_id,
            received_at=now,
            channel=channel,
            original_name=f.original_name[:255],
            media_type=f.media_type,
            size=f.size,
        )
        for f in files
    ]
    session.add_all(rows)
    return rows


# --------------------------------------------------------------------------- email attachments


def attachment_parts(raw: bytes) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) of each attached (not inline) part of a raw message.

    The compat32 parser is enough here (names and payloads only) and several
    times faster than the modern one.
    """
    return attachment_parts_of(email.message_from_bytes(raw))


def attachment_parts_of(message: Message) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) of each attached (not inline) part of a parsed (compat32) message."""
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if disposition != "attachment" and not (filename and disposition != "inline"):
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:  # a broken part is skipped, the message itself stays stored
            log.warning("an attachment part could not be decoded", extra={"event": "archive.bad_part"})
            continue
        if isinstance(payload, bytes) and payload:
            yield _decoded(filename) if filename else "attachment", payload


def _decoded(name: str) -> str:
    """A file name with any RFC 2047 encoded words decoded (compat32 leaves them as they came)."""
    try:
        return str(make_header(decode_header(name)))
    except (ValueError, LookupError, UnicodeDecodeError):
        return name


def _trusted() -> Any:
    """Replies whose files belong in the archive once matched (see :func:`archive_replies`)."""
    return or_(
        col(InboundMessage.verified),
        col(InboundMessage.triage) == "assigned",
        col(InboundMessage.match_method) == "manual",
    )


def archive_replies(
    engine: Engine,
    settings: Settings,
    inbound_ids: Iterable[int],
    now: datetime,
    *,
    vouched: bool = False,
    trees: Mapping[int, Message] | None = None,
) -> int:
    """Archive the attachments of matched replies the archive may trust; return how many rows were added.

    Trusted: a verified sender (a focal point of the item's owner), or a
    message the secretariat attached to an item by hand (``vouched``: the
    caller is doing so now; afterwards triage ``assigned`` or match method
    ``manual`` say so, for the backfill).

    ``trees`` holds the MIME trees ingest already parsed, by inbound id: their
    attachments are taken from there, and only the other messages are read
    back from the database and parsed again.

    Idempotent: a file already archived for the same reply and item is not
    added again, so the backfill command may run any number of times. Reads
    what it needs for the whole batch with a few queries.
    """
    archive = archive_for(settings)
    wanted = sorted(set(inbound_ids))
    added = 0
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        with Session(engine) as session:
            messages = session.exec(
                select(InboundMessage).where(col(InboundMessage.id).in_(chunk), sa.true() if vouched else _trusted())
            ).all()
            messages = [m for m in messages if m.attachments]
            if not messages:
                continue
            ids = [m.id for m in messages]
            matched: dict[int, list[Assignment]] = {}
            for inbound_id, assignment in session.exec(
                select(InboundMatch.inbound_id, Assignment)
                .join(Assignment, col(Assignment.id) == col(InboundMatch.assignment_id))
                .where(col(InboundMatch.inbound_id).in_(ids))
            ).all():
                matched.setdefault(inbound_id, []).append(assignment)
            senders = sorted({m.sender for m in messages if m.sender})
            contacts = {
                c.email.lower(): c.id
                for c in session.exec(select(Contact).where(col(Contact.email_lower).in_(senders))).all()
            }
            known = set(
                session.exec(
                    select(ArchiveFile.inbound_id, ArchiveFile.sha256, ArchiveFile.assignment_id).where(
                        col(ArchiveFile.inbound_id).in_(ids)
                    )
                ).all()
            )
            unparsed = [i for i in matched if not (trees and i in trees)]
            raws: dict[int, bytes] = dict(
                session.exec(
                    select(InboundRaw.inbound_id, InboundRaw.raw).where(col(InboundRaw.inbound_id).in_(unparsed))
                ).all()
            )
            for message in messages:
                assert message.id is not None
                if message.id not in matched:
                    continue
                tree = trees.get(message.id) if trees else None
                parts = attachment_parts_of(tree) if tree is not None else attachment_parts(raws.get(message.id, b""))
                stored = [archive.put_bytes(data, name) for name, data in parts]
                for assignment in matched[message.id]:
                    fresh = [f for f in stored if (message.id, f.sha256, assignment.id) not in known]
                    rows = record_files(
                        session,
                        fresh,
                        assignment,
                        contact_id=contacts.get(message.sender.lower()),
                        channel="email",
                        now=message.received_at or now,
                        inbound_id=message.id,
                    )
                    added += len(rows)
            session.commit()
    return added


@dataclass(frozen=True)
class ParsedReply:
    """A reply ingest has just parsed, matched and verified: what archiving its attachments needs."""

    inbound_id: int
    tree: Message
    received_at: datetime
    contact_id: int | None
    #: (assignment id, commitment id, party code) of each item the reply is matched to.
    assignments: tuple[tuple[int, str, str], ...]
    #: Stored by a run that stopped before interpreting it: a person may have filed it by hand since, so
    #: its files may be archived already. A reply interpreted as it is stored has none yet.
    again: bool = True


def archive_parsed(conn: sa.Connection, settings: Settings, replies: Sequence[ParsedReply]) -> int:
    """Archive the attachments of replies ingest trusts, in the caller's transaction; return the rows added.

    Ingest already knows each reply's sender, items and MIME tree, so nothing
    is read back or parsed again: one query (what is archived already, only
    when a reply stored by an interrupted run is among them) and one insert
    per batch.
    """
    if not replies:
        return 0
    archive = archive_for(settings)
    again = [r.inbound_id for r in replies if r.again]
    known = set(conn.execute(_ARCHIVED_FOR, {"ids": again}).all()) if again else set()
    rows: list[dict[str, Any]] = []
    for reply in replies:
        stored = [archive.put_bytes(data, name) for name, data in attachment_parts_of(reply.tree)]
        for assignment_id, commitment_id, party_code in reply.assignments:
            rows.extend(
                {
                    "sha256": f.sha256,
                    "assignment_id": assignment_id,
                    "commitment_id": commitment_id,
                    "party_code": party_code,
                    "contact_id": reply.contact_id,
                    "inbound_id": reply.inbound_id,
                    "received_at": reply.received_at,
                    "channel": "email",
                    "original_name": f.original_name[:255],
                    "media_type": f.media_type,
                    "size": f.size,
                }
                for f in stored
                if (reply.inbound_id, f.sha256, assignment_id) not in known
            )
    if rows:
        conn.execute(_ARCHIVE_ROWS, rows)
    return len(rows)


def backfill(engine: Engine, settings: Settings, now: datetime) -> int:
    """Archive the attachments of every matched reply already stored."""
    with Session(engine) as session:
        ids = list(session.exec(select(InboundMessage.id).where(_trusted()).order_by(col(InboundMessage.id))).all())
    return archive_replies(engine, settings, [i for i in ids if i is not None], now)


# --------------------------------------------------------------------------- listing and export


def list_files(
    session: Session, *, commitment: str | None = None, party: str | None = None, assignment: int | None = None
) -> list[ArchiveFile]:
    stmt = select(ArchiveFile)
    if commitment:
        stmt = stmt.where(ArchiveFile.commitment_id == commitment)
    if party:
        stmt = stmt.where(ArchiveFile.party_code == party.upper())
    if assignment is not None:
        stmt = stmt.where(ArchiveFile.assignment_id == assignment)
    return list(session.exec(stmt.order_by(col(ArchiveFile.received_at), col(ArchiveFile.id))).all())


MANIFEST_FIELDS = (
    "path",
    "id",
    "assignment_id",
    "commitment_id",
    "party_code",
    "contact_id",
    "received_at",
    "channel",
    "original_name",
    "media_type",
    "size",
    "sha256",
)


def export_zip(archive: Archive, rows: Sequence[ArchiveFile], out: IO[bytes]) -> int:
    """Write the files of ``rows`` and a ``manifest.csv`` as a ZIP to ``out``; return the file count.

    Entries are named ``<party>/<commitment>/<id>-<sanitised name>``: never a
    path a sender chose.
    """
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(MANIFEST_FIELDS)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for row in rows:
            entry = (
                f"{safe_name(row.party_code)}/{safe_name(row.commitment_id)}/{row.id}-{safe_name(row.original_name)}"
            )
            with archive.open(row.sha256) as src, zf.open(entry, "w") as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
            writer.writerow(
                [
                    entry,
                    row.id,
                    row.assignment_id,
                    row.commitment_id,
                    row.party_code,
                    row.contact_id or "",
                    row.received_at.isoformat(),
                    row.channel,
                    row.original_name,
                    row.media_type,
                    row.size,
                    row.sha256,
                ]
            )
        zf.writestr("manifest.csv", manifest.getvalue())
    return len(rows)

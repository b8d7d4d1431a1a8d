"""Fetch new messages from an IMAP folder, by UID, so nothing is read twice or missed.

The contract with the caller (the inbox poller):

1. ``async with aclosing(fetch_new(settings, cursor)) as messages:`` then
   ``async for msg in messages:`` yields each message whose UID is above the
   stored cursor, oldest first (``aclosing`` logs out at once when the loop
   stops early instead of whenever the garbage collector gets to it).
2. The caller stores the message and, in the same transaction, saves the
   cursor: ``save_cursor(session, mailbox_key(settings), msg.uidvalidity,
   msg.uid)`` (:mod:`followup.inbound.mailbox_state`; ``commit_uid`` is the
   same rule for a cursor kept in memory).
3. Only when the caller comes back for the next message (or ends the loop
   normally) is the previous message moved to ``processed_folder``, if one is
   configured. A crash or a ``break`` before that leaves the message where it
   was and the cursor where it was: the next poll fetches it again, and
   Message-ID / content-hash deduplication makes that harmless. A message is
   never moved before it is stored, so none is lost; one that was stored but
   not yet moved when the process stopped is moved at the start of the next
   poll (every UID up to the cursor is stored).

:func:`fetch_new_batches` keeps the same contract a FETCH's batch at a
time: the caller stores the batch in one transaction with the cursor at
its highest UID, and the batch is moved when the caller asks for the next.

Batches are cut by size, not only by count (:func:`plan_batches`): the
server is first asked each new message's ``RFC822.SIZE``, and one FETCH
carries at most ``replies.batch_bytes`` of mail (a larger message goes alone)
and at most ``batch_size`` messages. Memory stays bounded by bytes whatever
the messages weigh, and a mailbox of ordinary replies is stored a couple of
hundred per transaction, so the commit and the sync to disk that each batch
costs are shared by many messages.

UIDVALIDITY: UIDs only mean something within one UIDVALIDITY. When the
server reports a different one than the cursor holds (the folder was
recreated, the server migrated), the folder is read again from the start;
each yielded message carries the new UIDVALIDITY, so the first commit
replaces the stale cursor, and deduplication absorbs the repeats.

Connections: implicit TLS, STARTTLS (aioimaplib has no STARTTLS of its own;
the upgrade is done on its transport here and never falls back to plain
text) or plain, with certificate verification on unless explicitly turned
off. Messages are fetched with ``BODY.PEEK[]`` so the \\Seen flag of the
people who also read the mailbox is left alone.

The password never reaches a log: aioimaplib logs every command it sends at
DEBUG and masks the password only as given, while the wire carries it
quoted (``\\`` and ``"`` escaped) and the log line shows the bytes' repr
(escaped once more). :class:`RedactPassword` sits on aioimaplib's logger
while a session is open and removes the password in every one of those
forms, and whatever follows ``LOGIN <user>`` in any case.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import ssl
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import aioimaplib

from followup.errors import InboundError
from followup.inbound.batching import plan_batches
from followup.settings import DEFAULT_BATCH_BYTES, ImapSettings

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_UIDVALIDITY_RE = re.compile(rb"UIDVALIDITY (\d+)", re.IGNORECASE)
_FETCH_START_RE = re.compile(rb"^\d+ FETCH \(")
_UID_RE = re.compile(rb"\bUID (\d+)")
_LITERAL_RE = re.compile(rb"\{(\d+)\}$")
_SIZE_RE = re.compile(rb"\bRFC822\.SIZE (\d+)", re.IGNORECASE)
_LOGIN_LINE_RE = re.compile(r"(?i)(\bLOGIN\s+(?:\"(?:[^\"\\\\]|\\\\.)*\"|\S+)\s).*?(\\r\\n|['\"]?$)")
IMAP_LIBRARY_LOGGER = "aioimaplib.aioimaplib"
#: Messages per FETCH (and per storing transaction) at most; ingest's own batch.
DEFAULT_BATCH = 200
#: UIDs whose sizes one ``UID FETCH ... (RFC822.SIZE)`` asks for.
SIZES_PER_COMMAND = 1000


@dataclass(frozen=True, slots=True)
class MailboxCursor:
    """How far a folder has been read: the UIDVALIDITY and the last UID stored."""

    uidvalidity: int
    last_uid: int


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    uid: int
    uidvalidity: int
    raw: bytes


def commit_uid(cursor: MailboxCursor | None, message: FetchedMessage) -> MailboxCursor:
    """The cursor to save once ``message`` is stored (it only ever moves forward)."""
    if cursor is None or cursor.uidvalidity != message.uidvalidity:
        return MailboxCursor(message.uidvalidity, message.uid)
    return MailboxCursor(cursor.uidvalidity, max(cursor.last_uid, message.uid))


def uid_set(uids: Sequence[int]) -> str:
    """An IMAP sequence set for sorted UIDs, runs written ``a:b`` so a long list stays a short command."""
    parts: list[str] = []
    start = previous = None
    for uid in uids:
        if previous is not None and uid == previous + 1:
            previous = uid
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}:{previous}")
        start = previous = uid
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}:{previous}")
    return ",".join(parts)


def mailbox_key(settings: ImapSettings) -> str:
    """The MailboxState key for a configured folder."""
    return f"imap://{settings.username}@{settings.host}:{settings.port}/{settings.folder}"


def ssl_context_for(settings: ImapSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def fetch_new(
    settings: ImapSettings,
    state: MailboxCursor | None,
    *,
    batch_size: int = DEFAULT_BATCH,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> AsyncGenerator[FetchedMessage, None]:
    """Yield the messages above ``state`` (see the module docstring for the commit contract)."""
    async with ImapMailbox(settings) as box:
        await box.sweep_processed(state)
        # aclosing: when the caller stops early, the inner generator is closed now, not by the GC.
        async with aclosing(box.new_messages(state, batch_size=batch_size, batch_bytes=batch_bytes)) as messages:
            async for message in messages:
                yield message
                # The caller asked for the next one: the previous one is stored.
                await box.mark_processed(message.uid)


async def fetch_new_batches(
    settings: ImapSettings,
    state: MailboxCursor | None,
    *,
    batch_size: int = DEFAULT_BATCH,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> AsyncGenerator[list[FetchedMessage], None]:
    """Like :func:`fetch_new`, a FETCH's worth of messages at a time (oldest first).

    A batch holds at most ``batch_size`` messages and ``batch_bytes`` bytes
    (:func:`plan_batches`; a larger message comes alone). The caller stores a
    whole batch in one transaction, saving the cursor at its highest UID;
    only when it comes back for the next batch (or ends the loop normally)
    is the batch moved to ``processed_folder``, with one UID MOVE for the lot.
    """
    async with ImapMailbox(settings) as box:
        await box.sweep_processed(state)
        async with aclosing(box.new_batches(state, batch_size=batch_size, batch_bytes=batch_bytes)) as batches:
            async for batch in batches:
                yield batch
                # The caller asked for the next batch: this one is stored.
                await box.mark_processed(uid_set([m.uid for m in batch]))


class RedactPassword(logging.Filter):
    """Replace a password in log records, however the IMAP library escaped it."""

    def __init__(self, password: str) -> None:
        super().__init__()
        self.forms = _password_forms(password)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken record is the logging module's business, not ours
            return True
        redacted = _LOGIN_LINE_RE.sub(lambda m: m.group(1) + "***" + m.group(2), text)
        for form in self.forms:
            redacted = redacted.replace(form, "***")
        if redacted != text:
            record.msg, record.args = redacted, None
        return True


def _password_forms(password: str) -> list[str]:
    """The password as given, as IMAP quotes it, and as Python's repr of either shows it."""
    if not password:
        return []
    quoted = password.replace("\\", "\\\\").replace('"', '\\"')
    forms = {password, quoted}
    for form in list(forms):
        forms.add(repr(form.encode())[2:-1])
        forms.add(repr(form)[1:-1])
        forms.add(repr(form.encode("utf-8")).strip("b")[1:-1])
    return sorted((f for f in forms if f), key=len, reverse=True)


class ImapMailbox:
    """One logged-in session on the configured folder."""

    def __init__(self, settings: ImapSettings) -> None:
        if not settings.host:
            raise InboundError("no IMAP host configured (imap.host)")
        self.settings = settings
        self.uidvalidity = 0
        self._client: Any = None
        self._where = f"IMAP {settings.host}:{settings.port}"
        self._redact: RedactPassword | None = None

    async def __aenter__(self) -> ImapMailbox:
        try:
            await self._connect()
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def new_messages(
        self, state: MailboxCursor | None, *, batch_size: int = DEFAULT_BATCH, batch_bytes: int = DEFAULT_BATCH_BYTES
    ) -> AsyncGenerator[FetchedMessage, None]:
        async with aclosing(self.new_batches(state, batch_size=batch_size, batch_bytes=batch_bytes)) as batches:
            async for batch in batches:
                for message in batch:
                    yield message

    async def new_batches(
        self, state: MailboxCursor | None, *, batch_size: int = DEFAULT_BATCH, batch_bytes: int = DEFAULT_BATCH_BYTES
    ) -> AsyncGenerator[list[FetchedMessage], None]:
        """The messages above ``state``, one list per FETCH, cut by :func:`plan_batches`."""
        last_uid = 0
        if state is not None and state.uidvalidity == self.uidvalidity:
            last_uid = state.last_uid
        elif state is not None:
            log.warning(
                "%s folder %s: UIDVALIDITY changed from %s to %s; reading the folder again",
                self._where,
                self.settings.folder,
                state.uidvalidity,
                self.uidvalidity,
                extra={"event": "imap_uidvalidity_changed"},
            )
        uids = await self._uids_after(last_uid)
        for start in range(0, len(uids), SIZES_PER_COMMAND):
            sizes = await self._sizes(uids[start : start + SIZES_PER_COMMAND])
            for batch in plan_batches(sizes, max_count=max(1, batch_size), max_bytes=batch_bytes):
                fetched = [
                    FetchedMessage(uid=uid, uidvalidity=self.uidvalidity, raw=raw)
                    for uid, raw in await self._fetch(batch)
                ]
                if fetched:
                    yield fetched

    async def sweep_processed(self, state: MailboxCursor | None) -> None:
        """Move messages the cursor already covers but a crash left behind (stored, not yet moved)."""
        if not self.settings.processed_folder or state is None or state.uidvalidity != self.uidvalidity:
            return
        if state.last_uid <= 0:
            return
        leftovers = [uid for uid in await self._uids_in(f"1:{state.last_uid}") if uid <= state.last_uid]
        if leftovers:
            await self.mark_processed(",".join(str(u) for u in leftovers))

    async def mark_processed(self, uid: int | str) -> bool:
        """Move stored messages (a UID or a UID set) to the processed folder. False if that failed."""
        target = self.settings.processed_folder
        if not target:
            return False
        folder = quote_mailbox(target)
        try:
            if self._client.has_capability("MOVE"):
                response = await self._client.uid("move", str(uid), folder)
                ok = bool(response.result == "OK")
            else:
                response = await self._client.uid("copy", str(uid), folder)
                ok = bool(response.result == "OK")
                if ok:
                    stored = await self._client.uid("store", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
                    ok = stored.result == "OK"
                if ok and self._client.has_capability("UIDPLUS"):
                    ok = (await self._client.uid("expunge", str(uid))).result == "OK"
                elif ok:
                    ok = (await self._client.expunge()).result == "OK"
        except (OSError, aioimaplib.AioImapException) as exc:
            raise InboundError(f"{self._where}: moving UID {uid} to {target} failed: {exc}") from exc
        if not ok:
            log.warning(
                "%s: could not move UID %s to %s",
                self._where,
                uid,
                target,
                extra={"event": "imap_move_failed"},
            )
        return ok

    # -- internals

    async def _connect(self) -> None:
        s = self.settings
        timeout = s.timeout_seconds
        self._redact = RedactPassword(s.password.get_secret_value())
        logging.getLogger(IMAP_LIBRARY_LOGGER).addFilter(self._redact)
        try:
            if s.security == "tls":
                self._client = aioimaplib.IMAP4_SSL(
                    host=s.host, port=s.port, timeout=timeout, ssl_context=ssl_context_for(s)
                )
            else:
                self._client = aioimaplib.IMAP4(host=s.host, port=s.port, timeout=timeout)
            await self._client.wait_hello_from_server()
            if s.security == "starttls":
                await self._starttls()
            response = await self._client.login(s.username, s.password.get_secret_value())
            if response.result != "OK":
                raise InboundError(f"{self._where}: login as {s.username!r} refused: {_text(response.lines)}")
            response = await self._client.select(quote_mailbox(s.folder))
            if response.result != "OK":
                raise InboundError(f"{self._where}: cannot open folder {s.folder!r}: {_text(response.lines)}")
        except InboundError:
            raise
        except ssl.SSLError as exc:
            raise InboundError(f"{self._where}: TLS failed: {exc.reason or exc}") from exc
        except (OSError, aioimaplib.AioImapException) as exc:
            raise InboundError(f"{self._where}: {type(exc).__name__}: {exc}") from exc
        self.uidvalidity = _uidvalidity(response.lines)
        if not self.uidvalidity:
            raise InboundError(f"{self._where}: the server did not report UIDVALIDITY for {s.folder!r}")
        if s.processed_folder:
            await self._ensure_folder(s.processed_folder)

    async def _ensure_folder(self, name: str) -> None:
        """Create the processed folder unless it exists; a name the server refuses is a config error."""
        quoted = quote_mailbox(name)
        try:
            created = await self._client.create(quoted)
            if created.result == "OK":
                return
            listed = await self._client.list('""', quoted)
        except (OSError, aioimaplib.AioImapException) as exc:
            raise InboundError(f"{self._where}: cannot create folder {name!r}: {exc}") from exc
        # aioimaplib hands back each "* LIST (flags) sep name" line without its "* LIST ".
        if listed.result == "OK" and any(
            isinstance(x, bytes | bytearray) and bytes(x).startswith(b"(") for x in listed.lines
        ):
            return
        raise InboundError(f"{self._where}: cannot create folder {name!r}: {_text(created.lines)}")

    async def _starttls(self) -> None:
        protocol = self._client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise InboundError(f"{self._where}: the server does not offer STARTTLS")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await asyncio.wait_for(protocol.execute(command), self.settings.timeout_seconds)
        if response.result != "OK":
            raise InboundError(f"{self._where}: STARTTLS refused: {_text(response.lines)}")
        loop = asyncio.get_running_loop()
        transport = await asyncio.wait_for(
            loop.start_tls(
                protocol.transport, protocol, ssl_context_for(self.settings), server_hostname=self.settings.host
            ),
            self.settings.timeout_seconds,
        )
        if transport is None:
            raise InboundError(f"{self._where}: STARTTLS negotiation failed")
        protocol.transport = transport
        # Capabilities may change after the upgrade (RFC 3501 6.2.1); ask again.
        await asyncio.wait_for(protocol.capability(), self.settings.timeout_seconds)

    async def _uids_after(self, last_uid: int) -> list[int]:
        # "N:*" always includes the highest UID, even below N: filter.
        return [u for u in await self._uids_in(f"{last_uid + 1}:*") if u > last_uid]

    async def _uids_in(self, uid_set: str) -> list[int]:
        try:
            response = await self._client.uid_search("UID", uid_set, charset=None)
        except (OSError, aioimaplib.AioImapException) as exc:
            raise InboundError(f"{self._where}: UID SEARCH failed: {exc}") from exc
        if response.result != "OK":
            raise InboundError(f"{self._where}: UID SEARCH refused: {_text(response.lines)}")
        uids: set[int] = set()
        for line in response.lines:
            if not isinstance(line, bytes | bytearray):
                continue
            text = bytes(line).decode("ascii", "replace")
            if text.upper().startswith("SEARCH"):
                text = text[6:]
            for token in text.split():
                if token.isdigit():
                    uids.add(int(token))
        return sorted(uids)

    async def _sizes(self, uids: Sequence[int]) -> list[tuple[int, int]]:
        """``(uid, RFC822.SIZE)`` for each of ``uids`` still in the folder, in UID order."""
        lines = await self._uid_fetch(uids, "(UID RFC822.SIZE)", "FETCH of sizes")
        return _in_order(uids, parse_size_response(lines))

    async def _fetch(self, uids: Sequence[int]) -> list[tuple[int, bytes]]:
        return _in_order(uids, parse_fetch_response(await self._uid_fetch(uids, "(UID BODY.PEEK[])", "FETCH")))

    async def _uid_fetch(self, uids: Sequence[int], items: str, what: str) -> Sequence[Any]:
        try:
            response = await self._client.uid("fetch", uid_set(uids), items)
        except (OSError, aioimaplib.AioImapException) as exc:
            raise InboundError(f"{self._where}: {what} failed: {exc}") from exc
        if response.result != "OK":
            raise InboundError(f"{self._where}: {what} refused: {_text(response.lines)}")
        lines: Sequence[Any] = response.lines
        return lines

    async def _close(self) -> None:
        client = self._client
        self._client = None
        try:
            await self._close_client(client)
        finally:
            if self._redact is not None:
                logging.getLogger(IMAP_LIBRARY_LOGGER).removeFilter(self._redact)
                self._redact = None

    async def _close_client(self, client: Any) -> None:
        if client is None:
            return
        try:
            if client.get_state() in ("AUTH", "SELECTED"):
                await asyncio.wait_for(client.logout(), self.settings.timeout_seconds)
        except (OSError, aioimaplib.AioImapException, RuntimeError):
            pass
        finally:
            transport = getattr(client.protocol, "transport", None)
            if transport is not None:
                if not transport.is_closing():
                    transport.abort()
                # abort() releases the socket on the loop's next turns; let them run, so
                # that a caller whose loop ends right after us leaves no socket behind.
                for _ in range(3):
                    await asyncio.sleep(0)


def parse_fetch_response(lines: Sequence[Any]) -> list[tuple[int, bytes]]:
    """Pair each message body with its UID in aioimaplib's FETCH response lines.

    aioimaplib gives ``b'3 FETCH (UID 7 BODY[] {1234}'``, then the literal
    as a ``bytearray``, then ``b')'`` (or ``b' UID 7)'`` when the server puts
    the UID after the body).
    """
    out: list[tuple[int, bytes]] = []
    uid: int | None = None
    body: bytes | None = None
    expect_literal = False

    def flush() -> None:
        if uid is not None and body is not None:
            out.append((uid, body))

    for item in lines:
        if isinstance(item, bytearray) or (expect_literal and isinstance(item, bytes)):
            if expect_literal:
                body = bytes(item)
                expect_literal = False
            continue
        if not isinstance(item, bytes):
            continue
        if _FETCH_START_RE.match(item):
            flush()
            uid, body = None, None
        found = _UID_RE.search(item)
        if found and uid is None:
            uid = int(found.group(1))
        expect_literal = bool(_LITERAL_RE.search(item))
    flush()
    return out


def _in_order(uids: Sequence[int], pairs: Sequence[tuple[int, _T]]) -> list[tuple[int, _T]]:
    """The pairs for ``uids``, in their order; messages expunged meanwhile are simply absent."""
    found = dict(pairs)
    return [(uid, found[uid]) for uid in uids if uid in found]


def parse_size_response(lines: Sequence[Any]) -> list[tuple[int, int]]:
    """``(uid, size)`` from ``UID FETCH ... (UID RFC822.SIZE)``: lines like ``b'3 FETCH (UID 7 RFC822.SIZE 1234)'``."""
    out: list[tuple[int, int]] = []
    for item in lines:
        if not isinstance(item, bytes | bytearray) or not _FETCH_START_RE.match(item):
            continue
        uid, size = _UID_RE.search(item), _SIZE_RE.search(item)
        if uid and size:
            out.append((int(uid.group(1)), int(size.group(1))))
    return out


def quote_mailbox(name: str) -> str:
    """A folder name as an IMAP quoted string, non-ASCII in modified UTF-7 (RFC 3501 5.1.3)."""
    encoded = _modified_utf7(name)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _modified_utf7(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def _uidvalidity(lines: Sequence[Any]) -> int:
    for line in lines:
        if isinstance(line, bytes | bytearray):
            m = _UIDVALIDITY_RE.search(bytes(line))
            if m:
                return int(m.group(1))
    return 0


def _text(lines: Sequence[Any]) -> str:
    parts = [bytes(x).decode("utf-8", "replace") for x in lines if isinstance(x, bytes | bytearray)]
    return " ".join(parts)[:300]

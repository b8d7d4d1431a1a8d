"""The default transport: each message becomes a file in a local Maildir.

With no SMTP server configured the daemon still does everything else, and
what it would have sent can be read with any mail client (``mutt -f``) or
with :class:`mailbox.Maildir`.

Delivery follows the Maildir protocol, so any number of writers (threads,
processes, replicas on one host) can deliver at once without locks: write
the file under ``tmp/`` with a name no other writer can pick (time, process
id, a per-process counter, random bits, host name; opened with ``O_EXCL``),
flush it to disk, then link it into ``new/``, which readers see atomically.
The envelope, which a file does not otherwise keep, is recorded the way a
delivery agent does it: ``Return-Path`` and one ``Delivered-To`` per
recipient (Bcc included). Line ends are stored as LF, as on any Unix
mailbox.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import socket
import time
from pathlib import Path

from followup.errors import PermanentDeliveryError, TransientDeliveryError
from followup.outbound.compose import clean_header_text
from followup.outbound.transports.base import BaseTransport, Refusals

_counter = itertools.count(1)


def _hostname() -> str:
    # Maildir names may not contain "/" or ":" (the latter separates flags).
    return socket.gethostname().replace("/", r"\057").replace(":", r"\072") or "localhost"


class MaildirTransport(BaseTransport):
    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._host = _hostname()
        self._ready = False

    async def send(self, sender: str, recipients: list[str], data: bytes) -> Refusals:
        if not recipients:
            raise PermanentDeliveryError("no recipients")
        try:
            await asyncio.to_thread(self.deliver, sender, recipients, data)
        except OSError as exc:
            # A full disk or a permissions problem: an operator can fix it, then we retry.
            raise TransientDeliveryError(f"cannot write to maildir {self.path}: {exc.strerror or exc}") from exc
        return {}

    def deliver(self, sender: str, recipients: list[str], data: bytes) -> Path:
        """Write one message; return its path under ``new/``."""
        self._prepare()
        envelope = f"Return-Path: <{clean_header_text(sender)}>\n" + "".join(
            f"Delivered-To: {clean_header_text(r)}\n" for r in recipients
        )
        content = envelope.encode("ascii", "replace") + data.replace(b"\r\n", b"\n")
        now = time.time()
        name = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(_counter)}R{secrets.token_hex(4)}.{self._host}"
        tmp = self.path / "tmp" / name
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:
            # Someone removed the Maildir while we ran: make it again.
            self._ready = False
            self._prepare()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            final = self.path / "new" / name
            try:
                os.link(tmp, final)
            except (PermissionError, NotImplementedError):
                # File systems without hard links; the name is unique, so a rename is as safe.
                tmp.rename(final)
        finally:
            tmp.unlink(missing_ok=True)
        if self.fsync:
            self._sync_dir(self.path / "new")
        return final

    def _prepare(self) -> None:
        if self._ready:
            return
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._ready = True

    @staticmethod
    def _sync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

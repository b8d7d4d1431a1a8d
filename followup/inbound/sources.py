"""Raw messages from files: ``.eml`` files, mbox files and Maildir folders.

``followup ingest`` accepts whatever an officer exported from a mail client,
so each path is sniffed rather than trusted by its name: a directory with
``new/`` or ``cur/`` is a Maildir, any other directory is searched for
message files, and a file starting with ``From `` is an mbox; any other file
must start with a header block (:func:`looks_like_email`). One unreadable
file must not stop the other ten thousand: problems are reported through
``on_error`` (by default a warning in the log) and iteration carries on.
"""

from __future__ import annotations

import logging
import mailbox
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

#: Called with (label, reason) for every file or message that could not be read.
OnError = Callable[[str, str], None]
NOT_AN_EMAIL = "not an email (no header block with From or Message-ID)"
#: A header field: a name of printable ASCII other than the colon, then a colon (RFC 5322 section 2.2).
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:")
#: How far into a file to look for the end of its header block.
_HEADER_LIMIT = 256 * 1024


def looks_like_email(data: bytes) -> bool:
    """Whether ``data`` starts with a header block naming From or Message-ID.

    A file that is not a message at all (a text file, YAML, a spreadsheet)
    is refused rather than stored and quarantined; a damaged message still
    has a header block, so it is kept and quarantined as before.
    """
    names: set[bytes] = set()
    for index, line in enumerate(data[:_HEADER_LIMIT].split(b"\n")):
        line = line.rstrip(b"\r")
        if not line:
            break
        if index == 0 and line.startswith(b"From "):
            continue  # an mbox envelope line
        field = _FIELD.match(line)
        if field is not None:
            names.add(field.group(1).lower())
        elif not line[:1].isspace() and not names:
            return False  # the first line is neither a field nor a continuation
    return b"from" in names or b"message-id" in names


class RawMessage(NamedTuple):
    """One message and where it came from (``path``, ``path#3`` in an mbox)."""

    label: str
    raw: bytes


def iter_raw_messages(paths: Iterable[Path | str], on_error: OnError | None = None) -> Iterator[RawMessage]:
    """Yield every message found under ``paths``, in a stable order."""
    report = on_error or _log_problem
    for item in paths:
        path = Path(item)
        try:
            if path.is_dir():
                yield from _directory(path, report)
            elif path.exists():
                yield from _file(path, report)
            else:
                report(str(path), "does not exist")
        except OSError as exc:
            report(str(path), _reason(exc))


def _log_problem(label: str, reason: str) -> None:
    log.warning("cannot read message source %s: %s", label, reason, extra={"event": "inbound_source_error"})


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() or (path / "new").is_dir()


def _directory(path: Path, report: OnError) -> Iterator[RawMessage]:
    if is_maildir(path):
        yield from _maildir(path, report)
        return
    for root, dirs, files in os.walk(path, onerror=lambda exc: report(str(exc.filename or path), _reason(exc))):
        base = Path(root)
        dirs.sort()
        maildirs = [d for d in dirs if not d.startswith(".") and is_maildir(base / d)]
        for name in maildirs:
            yield from _maildir(base / name, report)
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in maildirs]
        for name in sorted(files):
            if name.startswith("."):
                continue
            try:
                yield from _file(base / name, report)
            except OSError as exc:
                report(str(base / name), _reason(exc))


def _maildir(path: Path, report: OnError) -> Iterator[RawMessage]:
    for sub in ("new", "cur"):
        folder = path / sub
        if not folder.is_dir():
            continue
        try:
            names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        except OSError as exc:
            report(str(folder), _reason(exc))
            continue
        for name in names:
            file = folder / name
            try:
                data = file.read_bytes()
            except OSError as exc:
                report(str(file), _reason(exc))
                continue
            if data.strip():
                yield RawMessage(str(file), data)
            else:
                report(str(file), "empty file")


def _file(path: Path, report: OnError) -> Iterator[RawMessage]:
    with path.open("rb") as fh:
        head = fh.read(5)
    if head == b"From ":
        yield from _mbox(path, report)
        return
    data = path.read_bytes()
    if not data.strip():
        report(str(path), "empty file")
        return
    if not looks_like_email(data):
        report(str(path), NOT_AN_EMAIL)
        return
    yield RawMessage(str(path), data)


def _mbox(path: Path, report: OnError) -> Iterator[RawMessage]:
    try:
        box = mailbox.mbox(path, factory=None, create=False)
        keys = list(box.iterkeys())
    except (OSError, mailbox.Error) as exc:
        report(str(path), _reason(exc))
        return
    try:
        for index, key in enumerate(keys, start=1):
            label = f"{path}#{index}"
            try:
                data = box.get_bytes(key)
            except (OSError, KeyError, mailbox.Error) as exc:
                report(label, _reason(exc))
                continue
            if data.strip():
                yield RawMessage(label, data)
            else:
                report(label, "empty message")
    finally:
        box.close()

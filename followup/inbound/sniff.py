"""What a submitted file is, from its bytes, and a file name safe to show.

The browser's (or the mail client's) content type is never trusted: the kind
comes from the first bytes (and, for ZIP containers, from the names in the
central directory, read without expanding anything). The original name is
kept only as a label: it never reaches the filesystem.
"""

from __future__ import annotations

import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

#: Bytes read from the start of a file to recognise it.
HEAD_BYTES = 64 * 1024
MAX_NAME_BYTES = 200
_PDF = b"%PDF-"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ODF = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
}
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "csv": "text/csv",
    "txt": "text/plain",
    "zip": "application/zip",
    "ole": "application/x-ole-storage",
    "unknown": "application/octet-stream",
}
#: Characters that reorder or hide text (RTL override and friends), never shown.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}


@dataclass(frozen=True)
class Sniffed:
    kind: str
    media_type: str


def _sniffed(kind: str) -> Sniffed:
    return Sniffed(kind, MEDIA_TYPES[kind])


def sniff_bytes(head: bytes, name: str = "") -> Sniffed:
    """The kind of a file from its first bytes; ZIP containers are told apart by :func:`sniff_file`."""
    ext = Path(safe_name(name)).suffix.lower().lstrip(".")
    if head.startswith(_PDF):
        return _sniffed("pdf")
    if head.startswith(_OLE2):
        # Word and Excel 97-2003 share the container; the name says which (a wrong name gains nothing).
        return _sniffed(ext if ext in ("doc", "xls") else "ole")
    if head.startswith(_ZIP):
        return _sniffed("zip")
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
                try:
                    head.decode("cp1252")
                except UnicodeDecodeError:
                    return _sniffed("unknown")
        return _sniffed("csv" if ext == "csv" or _looks_tabular(head) else "txt")
    return _sniffed("unknown")


def _looks_tabular(head: bytes) -> bool:
    lines = [line for line in head.splitlines()[:5] if line.strip()]
    return len(lines) >= 2 and all(line.count(b",") or line.count(b";") for line in lines)


def sniff_file(path: Path, name: str = "") -> Sniffed:
    """The kind of the file at ``path``, looking inside ZIP containers for OOXML and ODF."""
    with path.open("rb") as fh:
        return sniff_stream(fh, name)


def sniff_stream(fh: IO[bytes], name: str = "") -> Sniffed:
    """The kind of a seekable binary stream's content (read from its start)."""
    fh.seek(0)
    found = sniff_bytes(fh.read(HEAD_BYTES), name)
    if found.kind != "zip":
        return found
    try:
        fh.seek(0)
        with zipfile.ZipFile(fh) as archive:
            names = archive.namelist()
            if names and names[0] == "mimetype":
                info = archive.getinfo("mimetype")
                if info.compress_type == zipfile.ZIP_STORED and info.file_size < 100:
                    mimetype = archive.read(info).decode("ascii", "replace").strip()
                    if mimetype in _ODF:
                        return _sniffed(_ODF[mimetype])
            if "[Content_Types].xml" in names:
                if any(n.startswith("word/") for n in names):
                    return _sniffed("docx")
                if any(n.startswith("xl/") for n in names):
                    return _sniffed("xlsx")
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return _sniffed("unknown")
    return found


def safe_name(name: str, default: str = "file") -> str:
    """A file name fit to show and to offer on download: no directories, controls or bidi tricks.

    Keeps the extension when it has to shorten a very long name.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c not in _BIDI and unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    name = " ".join(name.split()).strip(" .")
    if not name or name in (".", ".."):
        return default
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        if not dot or len(ext) > 10:
            stem, ext = name, ""
        keep = MAX_NAME_BYTES - len(ext.encode("utf-8")) - 1
        stem = stem.encode("utf-8")[:keep].decode("utf-8", "ignore").rstrip(" .")
        name = f"{stem}.{ext}" if ext else stem
    return name or default

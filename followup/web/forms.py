"""Reading a POST body as it streams in: form fields in memory (small), files straight to the archive.

Starlette's own form parser spools every file whole before anyone can look
at its size; here a file is written to the archive's incoming folder piece
by piece and the request stops (413) at the first byte past the limit, so
an oversized upload never fills memory or disk. A ``Content-Length`` that
already says too much is refused before a byte is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from followup.inbound.archive import Archive, Receiver, StoredFile, TooLarge
from followup.web.context import WebState

MAX_FIELD_BYTES = 20_000
MAX_FIELDS = 20
MAX_FILES = 10


class FormError(Exception):
    """The body is not a form we accept (malformed, too many parts, too large a field)."""


class FormRefused(Exception):
    """A POST not to act on: unreadable (400), too large (413), or without the page's CSRF token (403)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class ReceivedForm:
    fields: dict[str, str] = field(default_factory=dict)
    uploads: list[Receiver] = field(default_factory=list)

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)

    def abort(self) -> None:
        for upload in self.uploads:
            upload.abort()

    def finish(self) -> list[StoredFile]:
        return [upload.finish() for upload in self.uploads]


def body_limit(file_limit: int) -> int:
    return file_limit * MAX_FILES + MAX_FIELD_BYTES * MAX_FIELDS


async def read_form(
    content_type: str, content_length: str | None, body: AsyncIterator[bytes], archive: Archive, file_limit: int
) -> ReceivedForm:
    """Parse a urlencoded or multipart body; raise :class:`TooLarge` or :class:`FormError`."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise FormError("bad Content-Length") from None
        if declared > body_limit(file_limit):
            raise TooLarge("request body larger than allowed")
    ctype, params = parse_options_header(content_type)
    if ctype == b"application/x-www-form-urlencoded":
        return await _urlencoded(body)
    if ctype == b"multipart/form-data" and params.get(b"boundary"):
        return await _multipart(params[b"boundary"], body, archive, file_limit)
    raise FormError("not a form")


async def read_posted_form(
    request: Request, web: WebState, *, csrf: Callable[[str], bool], file_limit: int = 0
) -> ReceivedForm:
    """The request's form once its CSRF token passes ``csrf``; files (up to ``file_limit`` each) wait in the archive.

    Raises :class:`FormRefused`, having thrown away whatever files arrived.
    The caller keeps the files with :meth:`ReceivedForm.finish` or drops
    them with :meth:`ReceivedForm.abort`.
    """
    try:
        form = await read_form(
            request.headers.get("content-type", ""),
            request.headers.get("content-length"),
            request.stream(),
            web.archive,
            file_limit,
        )
    except TooLarge:
        raise FormRefused(413, "request body larger than allowed") from None
    except FormError as exc:
        raise FormRefused(400, str(exc)) from None
    if not csrf(form.get("csrf")):
        form.abort()
        raise FormRefused(403, "CSRF token missing or wrong")
    return form


async def read_small_form(request: Request, web: WebState, *, csrf: Callable[[str], bool]) -> ReceivedForm:
    """A form of fields only (login, logout, a secretariat action): any file in it is refused unread."""
    form = await read_posted_form(request, web, csrf=csrf, file_limit=0)
    form.abort()
    return form


async def _urlencoded(body: AsyncIterator[bytes]) -> ReceivedForm:
    data = bytearray()
    async for chunk in body:
        data += chunk
        if len(data) > MAX_FIELD_BYTES * MAX_FIELDS:
            raise FormError("form too large")
    form = ReceivedForm()
    for key, value in parse_qsl(data.decode("utf-8", "replace"), keep_blank_values=True)[:MAX_FIELDS]:
        form.fields.setdefault(key, value)
    return form


class _Parts:
    """Callbacks of python-multipart's push parser, building the form part by part."""

    def __init__(self, archive: Archive, file_limit: int) -> None:
        self.archive = archive
        self.file_limit = file_limit
        self.form = ReceivedForm()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.name = ""
        self.value = bytearray()
        self.receiver: Receiver | None = None
        self.is_file = False
        self.parts = 0

    def on_part_begin(self) -> None:
        self.headers = {}
        self.value = bytearray()
        self.receiver = None
        self.is_file = False
        self.parts += 1
        if self.parts > MAX_FIELDS + MAX_FILES:
            raise FormError("too many parts")

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field = bytearray()
        self.header_value = bytearray()

    def on_headers_finished(self) -> None:
        _disp, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = params.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in params:
            filename = params[b"filename"].decode("utf-8", "replace")
            self.is_file = True
            if not filename:  # an empty file input sends a part with no name and no bytes
                return
            if len(self.form.uploads) >= MAX_FILES:
                raise FormError("too many files")
            self.receiver = self.archive.receive(filename, self.file_limit)
            self.form.uploads.append(self.receiver)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.is_file:
            if self.receiver is not None:
                self.receiver.write(data[start:end])
            return
        self.value += data[start:end]
        if len(self.value) > MAX_FIELD_BYTES:
            raise FormError(f"field {self.name!r} too large")

    def on_part_end(self) -> None:
        if self.receiver is not None:
            if self.receiver.size == 0:
                self.receiver.abort()
                self.form.uploads.remove(self.receiver)
            else:
                self.receiver.close()
        elif not self.is_file:
            self.form.fields.setdefault(self.name, self.value.decode("utf-8", "replace"))


async def _multipart(boundary: bytes, body: AsyncIterator[bytes], archive: Archive, file_limit: int) -> ReceivedForm:
    parts = _Parts(archive, file_limit)
    callbacks = {
        "on_part_begin": parts.on_part_begin,
        "on_header_field": parts.on_header_field,
        "on_header_value": parts.on_header_value,
        "on_header_end": parts.on_header_end,
        "on_headers_finished": parts.on_headers_finished,
        "on_part_data": parts.on_part_data,
        "on_part_end": parts.on_part_end,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    total = 0
    try:
        async for chunk in body:
            total += len(chunk)
            if total > body_limit(file_limit):
                raise TooLarge("request body larger than allowed")
            parser.write(chunk)
        parser.finalize()
    except (TooLarge, FormError):
        parts.form.abort()
        raise
    except Exception as exc:  # python-multipart's parse errors
        parts.form.abort()
        raise FormError(f"malformed multipart body: {exc}") from None
    return parts.form

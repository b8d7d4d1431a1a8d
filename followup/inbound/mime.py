"""The stdlib's compat32 MIME tree, built without reading attachments line by line.

``email.message_from_bytes`` hands every line of a message to a Python
generator that tests it against the boundary of each enclosing multipart
(a regular expression compiled afresh for every boundary, since each
message has its own). A reply with a 40 KB spreadsheet is some 550 base64
lines: four fifths of the parse. :func:`parse_bytes` builds the same tree
(the same :class:`~email.message.Message` objects, headers, payloads,
preambles, epilogues and defects) by finding the boundary lines with
``str.find`` and cutting each part's body out in one slice; each part's
header block still goes through the stdlib's own header parser.

Only plainly well-formed structure takes this way: a part whose headers
do not end with a blank line, a multipart without its boundary, its first
or its closing delimiter, two delimiters in a row, a ``message/*`` or
``multipart/digest`` part, or an encoding a multipart may not have, is
parsed by the stdlib from the start, as before. Either way the result is
what ``BytesParser(policy=compat32).parsebytes`` returns.
"""

from __future__ import annotations

import io
import itertools
import re
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import compat32

_BYTES_PARSER = BytesParser(policy=compat32)
_HEADER_PARSER = HeaderParser(policy=compat32)
#: The blank line that ends a header block: a line ending right after another one.
_BLANK_LINE = re.compile(r"(?:\r\n|\n|\r(?!\n))(\r\n|\n|\r)")
#: What may follow ``--boundary`` on a delimiter line (the stdlib's boundary pattern, after the boundary).
_DELIMITER_TAIL = re.compile(r"(--)?[ \t]*(\r\n|\n|\r|\Z)")
#: A header line with its name, as the stdlib's header pattern allows one (no envelope "From " line).
_HEADER_LINE = re.compile(r"[\041-\071\073-\176]+:")
_PLAIN_ENCODINGS = ("7bit", "8bit", "binary")
#: Deeper nesting is left to the stdlib (its own limits apply there).
_MAX_DEPTH = 30


class _Fallback(Exception):
    """Structure this module does not rebuild: the stdlib parses the message."""


def parse_bytes(data: bytes) -> Message:
    """``BytesParser(policy=compat32).parsebytes(data)``, cheaper for well-formed multiparts."""
    text = data.decode("ascii", "surrogateescape")
    try:
        return _part(text, 0, len(text), 0)
    except _Fallback:
        return _BYTES_PARSER.parsebytes(data)


def _headers(text: str) -> Message:
    """The part's header block (up to its blank line) as the stdlib reads it.

    The usual block, every line a ``Name: value`` or a continuation of one,
    is read here with the stdlib's own header rule; any other line (an
    envelope line, a header without a name...) lets the stdlib read it all.
    """
    lines = io.StringIO(text, newline="").readlines()[:-1]  # the blank line ends the block
    fields: list[list[str]] = []
    for line in lines:
        if line[0] in " \t" and fields:
            fields[-1].append(line)
        elif _HEADER_LINE.match(line):
            fields.append([line])
        else:
            return _HEADER_PARSER.parsestr(text)
    msg = Message(policy=compat32)
    for source in fields:
        msg.set_raw(*compat32.header_source_parse(source))
    msg.set_payload("")
    return msg


def _part(text: str, start: int, end: int, depth: int) -> Message:
    """The message (depth 0) or part held by ``text[start:end]``.

    A part's last line ending belongs to the delimiter after it: the stdlib
    takes it off the part's body, or off its epilogue when the part is a
    multipart itself (an epilogue left empty is None then).
    """
    if depth > _MAX_DEPTH:
        raise _Fallback
    if text.startswith(("\n", "\r"), start, end):  # no headers at all: the blank line comes first
        body = start + (2 if text.startswith("\r\n", start, end) else 1)
    else:
        blank = _BLANK_LINE.search(text, start, end)
        if blank is None:
            raise _Fallback
        body = blank.end()
    msg = _headers(text[start:body])
    if msg.defects or msg.get_payload():
        raise _Fallback  # a line that is not a header before the blank line
    maintype = msg.get_content_maintype()
    if maintype == "message":
        raise _Fallback
    if maintype == "multipart":
        _multipart(msg, text, body, end, depth)
        if depth and msg.epilogue is not None:
            msg.epilogue = _without_line_end(msg.epilogue) if msg.epilogue else None
    else:
        payload = text[body:end]
        msg.set_payload(_without_line_end(payload) if depth else payload)
    return msg


def _without_line_end(text: str) -> str:
    """``text`` less one final CRLF, CR or LF (the stdlib's ``(\\r\\n|\\r|\\n)\\Z``, without a regex scan of it)."""
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith(("\r", "\n")):
        return text[:-1]
    return text


def _delimiters(text: str, start: int, end: int, separator: str) -> list[tuple[int, int, bool]]:
    """(line start, next line start, closing) of each delimiter line between ``start`` and ``end``."""
    found: list[tuple[int, int, bool]] = []
    at = text.find(separator, start, end)
    while at >= 0:
        if at == start or text[at - 1] in "\r\n":
            tail = _DELIMITER_TAIL.match(text, at + len(separator), end)
            if tail is not None:
                found.append((at, tail.end(), tail.group(1) is not None))
                if tail.group(1) is not None:
                    break
        at = text.find(separator, at + len(separator), end)
    return found


def _multipart(msg: Message, text: str, start: int, end: int, depth: int) -> None:
    boundary = msg.get_boundary()
    if not boundary or msg.get_content_subtype() == "digest":
        raise _Fallback
    if str(msg.get("content-transfer-encoding", "8bit")).lower() not in _PLAIN_ENCODINGS:
        raise _Fallback
    found = _delimiters(text, start, end, "--" + boundary)
    if len(found) < 2 or found[0][2] or not found[-1][2]:
        raise _Fallback  # no opening delimiter, or no closing one
    first = found[0][0]
    if first > start:
        msg.preamble = _without_line_end(text[start:first])
    parts: list[Message | str] = []
    for (_at, part_start, _closing), (next_at, _next_end, _next_closing) in itertools.pairwise(found):
        if next_at == part_start:
            raise _Fallback  # two delimiters in a row: the stdlib skips the second
        parts.append(_part(text, part_start, next_at, depth + 1))
    msg.set_payload(parts)
    close_end = found[-1][1]
    closed_with_newline = close_end > found[-1][0] and text[close_end - 1] in "\r\n"
    msg.epilogue = text[close_end:end] if closed_with_newline else ""

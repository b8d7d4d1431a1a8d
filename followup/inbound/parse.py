"""Turn raw message bytes into plain data, whatever the bytes are.

Replies arrive from ministries' mail systems of every age, and a parser that
raises on one odd message would stall the inbox. So :func:`parse_message`
never raises: anything it cannot read becomes an entry in ``defects``, and
``parse_ok`` is False only when the input is not recognisable as a message at
all (the caller quarantines those).

It parses once into the stdlib's ``compat32`` tree (which
:mod:`followup.inbound.mime` builds without reading attachments line by
line) and walks the MIME tree once; header values are decoded only for the
handful of headers we use.
Attachment bytes are never decoded or kept: their size is computed from the
encoded form. All text handed back is free of NUL characters and lone
surrogates, so it can go straight into SQLite or PostgreSQL.
"""

from __future__ import annotations

import binascii
import codecs
import email.header
import email.utils
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from followup.inbound.html_text import html_to_text
from followup.inbound.mime import parse_bytes

#: Longest body text we analyse; beyond this the text is cut (and a defect noted).
MAX_TEXT_CHARS = 1_000_000
#: Longest HTML we convert to text.
MAX_HTML_CHARS = 2_000_000
#: Limits that keep a hostile message from costing more than a normal one.
MAX_PARTS = 500
MAX_DEPTH = 30
#: Of a message over the caller's size limit, the body bytes read after the headers: the
#: reply's own text and the names of the first attachments fit; the attachments' bytes do not.
LARGE_MESSAGE_BODY_BYTES = 256 * 1024
_HASH_CHUNK = 1 << 20
MAX_ADDRESSES = 100
MAX_REFERENCES = 200
MAX_DEFECTS = 50
MAX_HEADER_CHARS = 4000

#: Headers whose presence tells us the input really is an email message.
_MESSAGE_HEADERS = (
    "from",
    "sender",
    "to",
    "subject",
    "date",
    "message-id",
    "received",
    "return-path",
    "mime-version",
    "content-type",
)

_ID_RE = re.compile(r"<([^<>\s]{1,990})>")
_SINGLE_BYTE_CHARSETS = frozenset(
    {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "cp819", "windows-1252", "cp1252", "us-ascii", "ascii"}
)

_HEADER_PARSER = BytesHeaderParser(policy=compat32)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A part that is not the message text. Its bytes are not kept."""

    filename: str
    content_type: str
    size: int
    #: Shown inside the message (a logo, a pasted picture) rather than attached.
    inline: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "content_type": self.content_type, "size": self.size, "inline": self.inline}


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """What a raw message says, decoded. Addresses are lower-case; ids keep their ``<>``."""

    parse_ok: bool
    sender: str = ""
    sender_name: str = ""
    subject: str = ""
    message_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    delivered_to: tuple[str, ...] = ()
    x_original_to: tuple[str, ...] = ()
    date: datetime | None = None
    #: The message text: text/plain when there is one, else the HTML rendered as text.
    text: str = ""
    #: Where ``text`` came from: ``plain``, ``html`` or ``none``.
    text_source: str = "none"
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()
    #: Lower-cased header name -> raw (undecoded) values, in message order.
    raw_headers: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)
    #: The parsed MIME tree, for the bounce detector. None when parsing failed, and in
    #: ``Understanding.parsed`` (dropped there so attachment bytes are not held).
    message: Message | None = field(default=None, repr=False, compare=False)

    def header(self, name: str) -> str:
        """The first value of a header, decoded and unfolded; "" when absent."""
        values = self.raw_headers.get(name.lower())
        return decode_header_value(values[0]) if values else ""

    def header_all(self, name: str) -> list[str]:
        return [decode_header_value(v) for v in self.raw_headers.get(name.lower(), ())]

    def has_header(self, name: str) -> bool:
        return name.lower() in self.raw_headers

    @property
    def all_recipients(self) -> tuple[str, ...]:
        """Every address the message was delivered or addressed to, without repeats."""
        return _unique((*self.to, *self.cc, *self.delivered_to, *self.x_original_to))


def content_hash(raw: bytes) -> str:
    """SHA-256 of the message with line endings normalised.

    The same message read from IMAP (CRLF) and from an exported file (LF)
    then deduplicates when it carries no Message-ID.
    """
    if len(raw) <= _HASH_CHUNK:  # the usual reply: one pass, no copy of each piece
        return hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()
    digest = hashlib.sha256()
    view = memoryview(raw)
    carry = b""
    # In pieces, so that hashing a 30 MB message does not copy it whole.
    for start in range(0, len(view), _HASH_CHUNK):
        piece = carry + bytes(view[start : start + _HASH_CHUNK])
        carry = b""
        if piece.endswith(b"\r"):
            piece, carry = piece[:-1], b"\r"
        digest.update(piece.replace(b"\r\n", b"\n"))
    digest.update(carry)
    return digest.hexdigest()


def parse_message(raw: bytes, *, max_bytes: int | None = None) -> ParsedMessage:
    """Parse ``raw``; never raises.

    A message over ``max_bytes`` is read only as far as its headers and the
    first :data:`LARGE_MESSAGE_BODY_BYTES` of its body: parsing a 28 MB
    message in full takes ten times its size in memory, and what a reply
    says is in its first part, not in its attachment.
    """
    try:
        data = raw if type(raw) is bytes else bytes(raw)
        if max_bytes is not None and len(data) > max_bytes:
            return _parse_large(data)
        if not data[:4096].strip() and not data.strip():
            return ParsedMessage(parse_ok=False, defects=("empty input",))
        return _parse(data)
    except Exception as exc:
        return _fallback(raw, f"parse failed: {type(exc).__name__}: {str(exc)[:200]}")


def _parse_large(data: bytes) -> ParsedMessage:
    end = _header_end(data)
    cut = data.rfind(b"\n", end, end + LARGE_MESSAGE_BODY_BYTES)
    prefix = data[: cut + 1 if cut > end else end + LARGE_MESSAGE_BODY_BYTES]
    parsed = _parse(prefix)
    note = f"message of {len(data)} bytes: only its headers and first {LARGE_MESSAGE_BODY_BYTES} body bytes were read"
    return replace(parsed, defects=(note, *parsed.defects)[:MAX_DEFECTS])


def _header_end(data: bytes) -> int:
    """Where the body starts (after the first empty line); the whole length when there is none."""
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep)) >= 0]
    return min(ends) if ends else len(data)


def _parse(data: bytes) -> ParsedMessage:
    msg = parse_bytes(data)
    defects = _Defects()
    headers = _collect_headers(msg)
    parse_ok = any(name in headers for name in _MESSAGE_HEADERS)
    if not parse_ok:
        defects.add("no message headers found")

    walk = _Walk(defects)
    walk.visit(msg, 0)
    text, source = walk.body_text()

    sender_name, sender = "", ""
    for name in ("from", "sender"):
        if name in headers:
            pairs = _addresses(headers[name][:1], with_names=True, keep_empty=True)
            if pairs:
                sender_name, sender = pairs[0]
                break
    if not sender:
        defects.add("no sender address")

    message_id = _first_id(headers.get("message-id"))
    if message_id is None:
        defects.add("no Message-ID")

    return ParsedMessage(
        parse_ok=parse_ok,
        sender=sender,
        sender_name=sender_name,
        subject=decode_header_value(headers["subject"][0]) if "subject" in headers else "",
        message_id=message_id,
        in_reply_to=_ids(headers.get("in-reply-to")),
        references=_ids(headers.get("references")),
        to=_address_list(headers.get("to")),
        cc=_address_list(headers.get("cc")),
        reply_to=_address_list(headers.get("reply-to")),
        delivered_to=_address_list(headers.get("delivered-to")),
        x_original_to=_address_list(headers.get("x-original-to")),
        date=_date(headers.get("date"), defects),
        text=text,
        text_source=source,
        attachments=tuple(walk.attachments),
        defects=defects.result(),
        raw_headers=headers,
        message=msg,
    )


def _fallback(raw: object, reason: str) -> ParsedMessage:
    """Salvage what the headers say when the full parse blew up (a quarantine case)."""
    try:
        data = bytes(raw) if isinstance(raw, bytes | bytearray | memoryview) else b""
        msg = _HEADER_PARSER.parsebytes(data[:65536])
        headers = _collect_headers(msg)
        pairs = _addresses(headers.get("from", [])[:1], with_names=True)
        sender_name, sender = pairs[0] if pairs else ("", "")
        return ParsedMessage(
            parse_ok=False,
            sender=sender,
            sender_name=sender_name,
            subject=decode_header_value(headers["subject"][0]) if "subject" in headers else "",
            message_id=_first_id(headers.get("message-id")),
            in_reply_to=_ids(headers.get("in-reply-to")),
            references=_ids(headers.get("references")),
            defects=(reason,),
            raw_headers=headers,
        )
    except Exception:
        return ParsedMessage(parse_ok=False, defects=(reason,))


# --- headers -----------------------------------------------------------------


def _collect_headers(msg: Message) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        key = str(name).strip().lower()
        text = value if isinstance(value, str) else str(value)
        headers.setdefault(key, []).append(text)
    return headers


def decode_header_value(value: str) -> str:
    """Decode RFC 2047 words and raw 8-bit bytes in a header; unfold; never raises."""
    try:
        if len(value) > MAX_HEADER_CHARS:
            value = value[:MAX_HEADER_CHARS]
        if not value.isascii():
            value = _fix_surrogates(value)
        if "=?" in value:
            # Unfold first (RFC 5322: a line break before whitespace is not content). Folded, the
            # decoder drops the space between an encoded word and the plain word on the next line.
            value = _decode_words(_FOLD_RE.sub("", value))
        return clean_text(" ".join(value.split()))
    except Exception:
        return clean_text(" ".join(str(value).split()))


_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")


def _decode_words(value: str) -> str:
    try:
        parts = email.header.decode_header(value)
    except Exception:
        return value
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_bytes(chunk, charset)[0])
    return "".join(out)


def _fix_surrogates(value: str) -> str:
    """Headers with raw 8-bit bytes arrive as surrogate escapes; read them as UTF-8 (else cp1252)."""
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return decode_bytes(data, None)[0]


_SIMPLE_ADDRESS_RE = re.compile(r"^\s*<?([A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+)>?\s*$")
_SIMPLE_NAMED_RE = re.compile(r"""^\s*(?:"([^"\\]*)"|([^"<>,;:@()\\]*?))\s*<([A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+)>\s*$""")


def _addresses(values: list[str] | None, *, with_names: bool, keep_empty: bool = False) -> list[tuple[str, str]]:
    if not values:
        return []
    if len(values) == 1 and values[0].isascii() and "," not in values[0]:
        # The usual single address, without the cost of the full RFC 5322 parser.
        value = " ".join(values[0].split())
        simple = _SIMPLE_ADDRESS_RE.match(value)
        if simple:
            return [("", simple.group(1).lower())]
        named = _SIMPLE_NAMED_RE.match(value)
        if named:
            name = named.group(1) if named.group(1) is not None else named.group(2)
            display = decode_header_value(name) if with_names and name else ""
            return [(display, named.group(3).lower())]
    cleaned = [_fix_surrogates(v) if not v.isascii() else v for v in values[:MAX_ADDRESSES]]
    cleaned = [v[:MAX_HEADER_CHARS] for v in cleaned]
    out: list[tuple[str, str]] = []
    for name, addr in email.utils.getaddresses(cleaned):
        address = clean_text(addr).strip().strip("<>").strip().lower()
        display = decode_header_value(name) if with_names and name else ""
        if not address and not (keep_empty and display):
            continue
        out.append((display, address))
        if len(out) >= MAX_ADDRESSES:
            break
    return out


def _address_list(values: list[str] | None) -> tuple[str, ...]:
    return _unique(addr for _name, addr in _addresses(values, with_names=False))


def _first_id(values: list[str] | None) -> str | None:
    if not values:
        return None
    value = values[0]
    match = _ID_RE.search(value)
    if match:
        return clean_text(f"<{match.group(1)}>")
    token = clean_text(value).strip()
    if token and " " not in token and len(token) < 990:
        return f"<{token.strip('<>')}>"
    return None


def _ids(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return ()
    found: list[str] = []
    for value in values:
        found.extend(f"<{m}>" for m in _ID_RE.findall(value))
        if not _ID_RE.search(value):
            found.extend(f"<{tok}>" for tok in value.split() if "@" in tok and len(tok) < 990)
    return _unique(clean_text(i) for i in found[:MAX_REFERENCES])


def _date(values: list[str] | None, defects: _Defects) -> datetime | None:
    if not values:
        return None
    try:
        when = email.utils.parsedate_to_datetime(values[0].strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.add("unparseable Date header")
        return None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except (OverflowError, ValueError):
        defects.add("Date header out of range")
        return None


# --- bodies ------------------------------------------------------------------


class _Defects:
    def __init__(self) -> None:
        self._items: dict[str, None] = {}

    def add(self, text: str) -> None:
        if len(self._items) < MAX_DEFECTS:
            self._items[text] = None

    def result(self) -> tuple[str, ...]:
        return tuple(self._items)


class _Walk:
    """One pass over the MIME tree: text parts, attachments and defects."""

    def __init__(self, defects: _Defects) -> None:
        self.defects = defects
        self.plain: list[str] = []
        # HTML parts are decoded only when there is no plain text (most mail has both).
        self.html: list[tuple[Message, object]] = []
        self.attachments: list[Attachment] = []
        self.parts = 0

    def visit(self, part: Message, depth: int) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            if self.parts == MAX_PARTS + 1:
                self.defects.add(f"more than {MAX_PARTS} MIME parts; the rest ignored")
            return
        for defect in part.defects:
            self.defects.add(type(defect).__name__)
        ctype = part.get_content_type()
        maintype = ctype.partition("/")[0]
        payload = part.get_payload()
        if maintype == "multipart":
            if depth >= MAX_DEPTH:
                self.defects.add("MIME nesting too deep")
                return
            if isinstance(payload, list):
                for sub in payload:
                    if isinstance(sub, Message):
                        self.visit(sub, depth + 1)
            else:
                # A multipart without its boundary: the parser kept the text as it was.
                self._leaf(part, "text/plain", payload)
            return
        if maintype == "message":
            # Delivery reports and returned messages belong to the bounce detector;
            # a forwarded message is an attachment, never the reply's own text.
            if ctype in ("message/rfc822", "message/global"):
                self.attachments.append(
                    Attachment(
                        filename=_filename(part) or "message.eml",
                        content_type=ctype,
                        size=_tree_size(part),
                        inline=False,
                    )
                )
            return
        self._leaf(part, ctype, payload)

    def _leaf(self, part: Message, ctype: str, payload: object) -> None:
        disposition = _disposition(part)
        filename = _filename(part) if _may_have_filename(part) else ""
        is_text = ctype in ("text/plain", "text/html")
        if is_text and disposition != "attachment" and not (filename and disposition != "inline"):
            if ctype == "text/plain":
                self.plain.append(self._text(part, payload))
            else:
                self.html.append((part, payload))
            return
        if ctype in ("text/rfc822-headers", "application/pgp-signature", "application/pkcs7-signature") and (
            not filename
        ):
            return
        self.attachments.append(
            Attachment(
                filename=filename or "",
                content_type=ctype,
                size=_payload_size(part, payload),
                inline=disposition == "inline" or (disposition == "" and part.get("Content-ID") is not None),
            )
        )

    def _text(self, part: Message, payload: object) -> str:
        if not isinstance(payload, str):
            return ""
        try:
            data = part.get_payload(decode=True)
        except Exception:
            self.defects.add("undecodable transfer encoding")
            data = payload.encode("ascii", "surrogateescape")
        if not isinstance(data, bytes):
            return ""
        charset = _charset(part)
        text, problem = decode_bytes(data, charset)
        if problem:
            self.defects.add(problem)
        return text

    def body_text(self) -> tuple[str, str]:
        plain = "\n".join(t for t in self.plain if t.strip())
        if plain.strip():
            return self._cap(_normalise_newlines(plain)), "plain"
        html = "\n".join(t for t in (self._text(part, payload) for part, payload in self.html) if t.strip())
        if html.strip():
            if len(html) > MAX_HTML_CHARS:
                self.defects.add("HTML body truncated")
                html = html[:MAX_HTML_CHARS]
            return self._cap(html_to_text(html)), "html"
        return "", "none"

    def _cap(self, text: str) -> str:
        if len(text) > MAX_TEXT_CHARS:
            self.defects.add("body text truncated")
            return text[:MAX_TEXT_CHARS]
        return text


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode text whose declared charset may be missing, unknown or wrong.

    Returns the text and a defect note (None when the declared charset was
    right). Mail that says us-ascii or latin-1 but carries UTF-8 is common
    enough that valid UTF-8 wins over a single-byte declaration.
    """
    name = (charset or "").strip().strip("\"'").lower()
    if data.isascii():
        return clean_text(data.decode("ascii")), None
    if name in _SINGLE_BYTE_CHARSETS or not name:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            note = None if not name else f"declared {name} but the text is UTF-8"
            return clean_text(text), note
        if name in ("us-ascii", "ascii"):
            return clean_text(_cp1252(data)), "8-bit text declared us-ascii"
        return clean_text(_cp1252(data)), None if name else "8-bit text without a charset"
    try:
        codec = codecs.lookup(name)
        if not getattr(codec, "_is_text_encoding", True):
            raise LookupError(name)
        return clean_text(data.decode(codec.name)), None
    except LookupError:
        problem = f"unknown charset {name[:40]!r}"
    except (UnicodeDecodeError, ValueError):
        problem = f"text is not valid {name[:40]}"
    except Exception:
        problem = f"charset {name[:40]!r} failed"
    try:
        return clean_text(data.decode("utf-8")), problem
    except UnicodeDecodeError:
        return clean_text(_cp1252(data)), problem


def _cp1252(data: bytes) -> str:
    # iso-8859-1 mail is nearly always windows-1252 in practice (curly quotes in 0x80-0x9f).
    return data.decode("cp1252", errors="replace")


def clean_text(text: str) -> str:
    """Drop NUL characters and lone surrogates (neither may be stored in a text column)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


#: The characters other than ASCII letters that a case-insensitive pattern matches to an ASCII letter.
_CASE_TWINS = re.compile("[\u0130\u0131\u017f\u212a]")


def may_say(text: str, words: tuple[str, ...]) -> bool:
    """Whether ``text`` holds one of ``words`` (lower-case ASCII or not cased at all), ignoring case.

    A necessary condition for a case-insensitive pattern each of whose
    branches contains one of ``words``, tested in C before the pattern's
    long alternation is tried at every position (a text with a character
    the pattern would take for an ASCII letter, as the Kelvin sign for
    ``k``, always goes on to the pattern).
    """
    low = text.lower()
    return any(w in low for w in words) or (not text.isascii() and _CASE_TWINS.search(text) is not None)


def _normalise_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _disposition(part: Message) -> str:
    value = part.get("Content-Disposition")
    if value is None:
        return ""
    return str(value).partition(";")[0].strip().lower()


_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)


def _charset(part: Message) -> str | None:
    value = str(part.get("Content-Type", ""))
    if "charset*" in value.lower():
        return _param(part, "charset")  # RFC 2231 form: let the library decode it
    match = _CHARSET_RE.search(value)
    return match.group(1) if match else None


def _may_have_filename(part: Message) -> bool:
    for header in ("Content-Disposition", "Content-Type"):
        value = part.get(header)
        if value is not None and "name" in str(value).lower():
            return True
    return False


def _param(part: Message, name: str) -> str | None:
    try:
        value = part.get_param(name)
    except Exception:
        return None
    if isinstance(value, tuple):
        value = email.utils.collapse_rfc2231_value(value)
    return str(value) if value else None


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or _param(part, "name") or ""
    except Exception:
        return ""
    name = decode_header_value(str(name))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch >= " " and ch != "\x7f")[:255]


def _payload_size(part: Message, payload: object) -> int:
    """The decoded size, computed from the encoded text without decoding it."""
    if not isinstance(payload, str):
        return 0
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte == "base64":
        length = len(payload) - sum(payload.count(ch) for ch in "\r\n \t")
        tail = payload.rstrip()
        pad = 2 if tail.endswith("==") else 1 if tail.endswith("=") else 0
        return max(0, (length * 3) // 4 - pad)
    try:
        data = payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        data = payload.encode("utf-8", "replace")
    if cte == "quoted-printable":
        try:
            return len(binascii.a2b_qp(data))
        except (binascii.Error, ValueError):
            return len(data)
    return len(data)


def _tree_size(part: Message) -> int:
    """Approximate size of an enclosed message: the sum of its parts' encoded sizes."""
    total = 0
    stack: list[Message] = [part]
    seen = 0
    while stack and seen < MAX_PARTS:
        node = stack.pop()
        seen += 1
        payload = node.get_payload()
        if isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
        elif isinstance(payload, str):
            total += len(payload)
    return total


def _unique(items: Iterator[str] | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))

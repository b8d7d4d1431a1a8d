"""Outgoing messages as wire bytes, built directly and cheaply.

Why not ``email.message.EmailMessage``: building and flattening one with
``email.policy.default`` costs about a millisecond, more than rendering the
templates; a daemon sending thousands of reminders spends its time there.
The structure of our messages is fixed (text + HTML, optionally a calendar
file and a CSV), so we write the MIME bytes ourselves: quoted-printable
bodies through :func:`binascii.b2a_qp` (C), base64 attachments, RFC 2047
encoded words for non-ASCII header text, lines folded under 78 characters
(76 where encoded words appear, as RFC 2047 asks), CRLF line ends. Tests
parse the result back with ``email.policy.default``.

Every header value that comes from data (names, titles, addresses, ids) is
cleaned of CR, LF and other control characters before it is written, and
addresses are checked against a conservative grammar, so no data can add a
header or a recipient.

Header decisions:

* ``Auto-Submitted: auto-generated`` (RFC 3834), ``auto-replied`` for
  acknowledgements, which also carry ``In-Reply-To``/``References``.
* ``X-Auto-Response-Suppress`` asks Exchange not to send delivery and read
  receipts or rule-based auto-replies. We deliberately do *not* send ``All``:
  that would also suppress non-delivery reports (which tell us an address is
  dead) and out-of-office replies (which tell us when a focal point is back);
  the inbound side uses both and never answers them. Acknowledgements and
  digests also suppress out-of-office replies, which would tell us nothing.
* No ``Precedence: bulk``: it is non-standard, these are person-to-person
  messages about one person's obligations, and several providers file
  ``bulk`` mail under promotions or junk and skip vacation replies to it.
* No ``List-*`` headers: these are not list mail.
"""

from __future__ import annotations

import base64
import binascii
import csv
import functools
import io
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from followup.clock import as_utc
from followup.errors import ConfigError, PermanentDeliveryError
from followup.outbound.render import Rendered
from followup.outbound.tokens import TOKEN_LENGTH, make_token, parse_reference_tags, reference_tag, reply_address
from followup.settings import MailSettings

#: At most this many reference tags go into a subject; more items are counted in the text.
MAX_SUBJECT_TAGS = 3

_LINE = 76
#: Longest word written as is; longer ones are encoded (and so split), keeping
#: even ``Reply-To: `` plus one word under 76 columns.
_MAX_WORD = 60
#: Longest 7bit body line we write as is (RFC 5322 allows 998; leave room for dot-stuffing).
_MAX_7BIT_LINE = 900
#: Raw bytes per encoded word: 52 base64 characters, a 64-character word, so
#: ``Reply-To: `` plus one word still fits in 76 columns.
_WORD_BYTES = 39
_CONTROL = dict.fromkeys((*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029), " ")
_ATOM_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}"
_ADDRESS_RE = re.compile(rf"{_LOCAL}@(?:{_DOMAIN}|localhost)")
_MSGID_RE = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

_SUPPRESS_PERSONAL = "DR, RN, NRN, AutoReply"
_SUPPRESS_ALL_BUT_NDR = "DR, RN, NRN, OOF, AutoReply"


@dataclass(frozen=True)
class Mailbox:
    address: str
    name: str = ""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    #: Extra Content-Type parameters, e.g. ``(("method", "PUBLISH"),)``.
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ComposedMessage:
    """What the transport needs: the envelope and the bytes (CRLF line ends)."""

    message_id: str
    sender: str
    recipients: list[str]
    data: bytes


def calendar_attachment(ics: bytes, filename: str = "deadline.ics") -> Attachment:
    return Attachment(filename, "text/calendar", ics, (("charset", "utf-8"), ("method", "PUBLISH")))


def csv_attachment(rows: Iterable[Sequence[object]], filename: str = "status.csv") -> Attachment:
    """A CSV file (RFC 4180, UTF-8 with a byte-order mark so spreadsheets read accents right)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return Attachment(
        filename, "text/csv", b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"), (("charset", "utf-8"),)
    )


# --------------------------------------------------------------------------- header pieces


def clean_header_text(value: str) -> str:
    """One line of text: control characters and line breaks become single spaces."""
    if not value.isprintable():  # CR, LF, TAB, C0/C1 controls, U+2028/2029, surrogates
        value = value.translate(_CONTROL).encode("utf-8", "replace").decode("utf-8")
    return " ".join(value.split())


def check_address(address: str) -> str:
    """A plain ``local@domain`` address, IDN domains as ACE; anything else is unusable."""
    cleaned = (address if address.isprintable() else address.translate(_CONTROL)).strip()
    local, at, domain = cleaned.rpartition("@")
    if at and not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise PermanentDeliveryError(f"unusable address {address!r}") from None
        cleaned = f"{local}@{domain}"
    if len(cleaned) > 254 or not _ADDRESS_RE.fullmatch(cleaned):
        raise PermanentDeliveryError(f"unusable address {address!r}")
    return cleaned


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 ``B`` encoded words, split on character boundaries."""
    data = text.encode("utf-8")
    if len(data) <= _WORD_BYTES:
        return ["=?utf-8?b?" + base64.b64encode(data).decode("ascii") + "?="]
    words: list[str] = []
    chunk = bytearray()
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append("=?utf-8?b?" + base64.b64encode(bytes(chunk)).decode("ascii") + "?=")
            chunk.clear()
        chunk += encoded
    if chunk:
        words.append("=?utf-8?b?" + base64.b64encode(bytes(chunk)).decode("ascii") + "?=")
    return words


def _plain_word(word: str, phrase: bool) -> bool:
    """Whether a word can be written as is (``phrase``: in a display name, where specials need quoting)."""
    if not word.isascii() or "=?" in word or len(word) > _MAX_WORD:
        return False
    return not (phrase and _ATOM_SPECIALS.search(word))


def _word_tokens(text: str, *, phrase: bool) -> list[str]:
    """Header tokens for text: plain words as they are, runs of the others as encoded words.

    Encoding only what needs it keeps tags and most words readable in the raw
    header, and keeps an unencoded word between encoded ones wherever the text
    allows: some parsers (CPython's among them) insert a space between two
    adjacent encoded words in a display name, which RFC 2047 says to drop.
    """
    words = text.split(" ")
    if (
        text.isascii()
        and "=?" not in text
        and (len(text) <= _MAX_WORD or max(map(len, words)) <= _MAX_WORD)
        and not (phrase and _ATOM_SPECIALS.search(text))
    ):
        return words
    tokens: list[str] = []
    run: list[str] = []
    for word in words:
        if _plain_word(word, phrase):
            if run:
                tokens.extend(_encoded_words(" ".join(run)))
                run.clear()
            tokens.append(word)
        else:
            run.append(word)
    if run:
        tokens.extend(_encoded_words(" ".join(run)))
    return tokens


def _fold(name: str, tokens: Sequence[str]) -> str:
    """``Name: tokens`` folded at token boundaries into lines of at most 76 characters."""
    single = f"{name}: {' '.join(tokens)}"
    if len(single) <= _LINE:
        return single + "\r\n"
    lines: list[str] = []
    line = name + ":"
    for token in tokens:
        if len(line) + 1 + len(token) > _LINE and len(line) > len(name) + 1:
            lines.append(line)
            line = " " + token
        else:
            line += " " + token
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _mailbox_tokens(box: Mailbox, address: str) -> list[str]:
    name = clean_header_text(box.name)
    if not name:
        return [address]
    if name.isascii() and "=?" not in name and _ATOM_SPECIALS.search(name):
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if len(quoted) <= _MAX_WORD:
            return [quoted, f"<{address}>"]
    return [*_word_tokens(name, phrase=True), f"<{address}>"]


def _address_header(name: str, boxes: Sequence[tuple[Mailbox, str]]) -> str:
    tokens: list[str] = []
    for index, (box, address) in enumerate(boxes):
        parts = _mailbox_tokens(box, address)
        if index < len(boxes) - 1:
            parts[-1] += ","
        tokens.extend(parts)
    return _fold(name, tokens)


def _param(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _safe_filename(filename: str) -> str:
    return _FILENAME_UNSAFE.sub("_", clean_header_text(filename)).strip("._") or "attachment"


# --------------------------------------------------------------------------- bodies


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _text_part(content_type: str, text: str) -> bytes:
    """A text part: 7bit when it is ASCII with short lines, else quoted-printable."""
    text = _crlf(text)
    if text.isascii() and max(map(len, text.split("\r\n"))) <= _MAX_7BIT_LINE:
        encoding, body = "7bit", text.encode("ascii")
    else:
        encoding = "quoted-printable"
        body = binascii.b2a_qp(text.encode("utf-8", "replace"), quotetabs=False, istext=True, header=False)
    head = f"Content-Type: {content_type}; charset=utf-8\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
    return head.encode("ascii") + body


def _base64_part(attachment: Attachment) -> bytes:
    filename = _safe_filename(attachment.filename)
    params = "".join(f"; {key}={_param(clean_header_text(value))}" for key, value in attachment.params)
    head = (
        f"Content-Type: {attachment.content_type}{params}; name={_param(filename)}\r\n"
        f"Content-Disposition: attachment; filename={_param(filename)}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head.encode("ascii") + base64.encodebytes(attachment.data).replace(b"\n", b"\r\n")


def _multipart(subtype: str, parts: Sequence[bytes]) -> tuple[str, bytes]:
    """The Content-Type value and the body of a multipart.

    Boundaries start with ``=_``, which neither quoted-printable nor base64
    output can contain, so a boundary can never collide with a part.
    """
    boundary = "=_fu_" + secrets.token_hex(12)
    delimiter = b"--" + boundary.encode("ascii")
    # The CRLF before each delimiter belongs to the delimiter, so a part that
    # ends in a line break keeps it.
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts) + delimiter + b"--\r\n"
    return f"multipart/{subtype}; boundary={_param(boundary)}", body


# --------------------------------------------------------------------------- composer


class Composer:
    """Turns rendered templates into signed, tagged, sendable messages.

    One per process: the parts of the header that never change (From) are
    built once.
    """

    def __init__(self, mail: MailSettings, *, secret: bytes, tag: str) -> None:
        if not secret:
            raise ConfigError("the signing secret for reply tokens is empty")
        self.mail = mail
        self.secret = secret
        self.tag = tag
        self.domain = clean_header_text(mail.domain)
        try:
            self.sender = check_address(mail.from_address)
        except PermanentDeliveryError:
            raise ConfigError(f"mail.from_address = {mail.from_address!r} is not a usable address") from None
        try:
            check_address(reply_address("a" * TOKEN_LENGTH, mail.reply_local_part, self.domain))
        except PermanentDeliveryError:
            raise ConfigError(
                f"mail.reply_local_part = {mail.reply_local_part!r} and mail.domain = {mail.domain!r} "
                "do not make a usable reply address"
            ) from None
        self._from = _address_header("From", [(Mailbox(self.sender, mail.from_name), self.sender)])
        self._reply_name = mail.from_name
        # The name a Spanish reader sees in their inbox is Spanish too.
        spanish = mail.from_name_es or mail.from_name
        self._from_es = _address_header("From", [(Mailbox(self.sender, spanish), self.sender)])
        self._reply_name_es = spanish

    def subject(self, rendered_subject: str, assignment_ids: Sequence[int]) -> str:
        """The rendered subject behind the items' tags (those it does not carry already)."""
        subject = clean_header_text(rendered_subject)
        present = set(parse_reference_tags(subject, self.tag))
        tags = [reference_tag(self.tag, i) for i in assignment_ids[:MAX_SUBJECT_TAGS] if i not in present]
        return " ".join([*tags, subject]) if tags else subject

    def compose(
        self,
        rendered: Rendered,
        *,
        kind: str,
        to: Sequence[Mailbox],
        now: datetime,
        cc: Sequence[Mailbox] = (),
        bcc: Sequence[str] = (),
        notification_id: int | None = None,
        assignment_ids: Sequence[int] = (),
        in_reply_to: str | None = None,
        references: Sequence[str] = (),
        attachments: Sequence[Attachment] = (),
        message_id: str | None = None,
    ) -> ComposedMessage:
        """Build one message.

        ``message_id`` is the one this message already has (a resend after a
        crash, a retry); without it a new one is made. ``notification_id``
        signs the Reply-To (``ts+<token>@domain``) so the reply finds its
        notification; ``assignment_ids`` tag the subject.
        """
        if not to:
            raise ValueError("a message needs at least one To recipient")
        seen: set[str] = set()
        to_boxes = self._unique(to, seen)
        cc_boxes = self._unique(cc, seen)
        recipients = [address for _, address in (*to_boxes, *cc_boxes)]
        for address in bcc:
            checked = check_address(address)
            if checked.lower() not in seen:
                seen.add(checked.lower())
                recipients.append(checked)

        message_id = _msgid(message_id) or new_message_id(now, self.domain)
        spanish = rendered.language == "es"
        head = [
            _date_header(now),
            self._from_es if spanish else self._from,
            _address_header("To", to_boxes),
        ]
        if cc_boxes:
            head.append(_address_header("Cc", cc_boxes))
        if notification_id is not None:
            token = make_token(notification_id, self.secret)
            address = reply_address(token, self.mail.reply_local_part, self.domain)
            name = self._reply_name_es if spanish else self._reply_name
            head.append(_address_header("Reply-To", [(Mailbox(address, name), address)]))
        subject = self.subject(rendered.subject, assignment_ids)
        head.append(_fold("Subject", _word_tokens(subject, phrase=False)))
        head.append(f"Message-ID: {message_id}\r\n")
        parent = _msgid(in_reply_to)
        if parent:
            head.append(f"In-Reply-To: {parent}\r\n")
        chain = [m for m in (_msgid(r) for r in references) if m]
        if parent and parent not in chain:
            chain.append(parent)
        if chain:
            head.append(_fold("References", chain))
        replying = kind == "acknowledgement"
        head.append(f"Auto-Submitted: {'auto-replied' if replying else 'auto-generated'}\r\n")
        personal = kind not in ("acknowledgement", "digest")
        head.append(f"X-Auto-Response-Suppress: {_SUPPRESS_PERSONAL if personal else _SUPPRESS_ALL_BUT_NDR}\r\n")
        language = rendered.language if _LANGUAGE_TAG.fullmatch(rendered.language) else "en"
        head.append(f"Content-Language: {language}\r\n")
        head.append("MIME-Version: 1.0\r\n")

        alt_type, alt_body = _multipart(
            "alternative", [_text_part("text/plain", rendered.text), _text_part("text/html", rendered.html)]
        )
        if attachments:
            alt_part = f"Content-Type: {alt_type}\r\n\r\n".encode("ascii") + alt_body
            top_type, body = _multipart("mixed", [alt_part, *(_base64_part(a) for a in attachments)])
        else:
            top_type, body = alt_type, alt_body
        head.append(f"Content-Type: {top_type}\r\n\r\n")
        data = "".join(head).encode("ascii") + body
        return ComposedMessage(message_id=message_id, sender=self.sender, recipients=recipients, data=data)

    @staticmethod
    def _unique(boxes: Sequence[Mailbox], seen: set[str]) -> list[tuple[Mailbox, str]]:
        out: list[tuple[Mailbox, str]] = []
        for box in boxes:
            address = check_address(box.address)
            if address.lower() in seen:
                continue
            seen.add(address.lower())
            out.append((box, address))
        return out


@functools.lru_cache(maxsize=64)
def _date_header(now: datetime) -> str:
    """``Date:`` from the caller's clock (cached: a batch shares one ``now``)."""
    return "Date: " + format_datetime(as_utc(now).replace(microsecond=0)) + "\r\n"


def new_message_id(now: datetime, domain: str) -> str:
    """A Message-ID unique on ``domain`` and unguessable.

    Not :func:`email.utils.make_msgid`: its random part comes from the
    ``random`` module (predictable), and matching replies by In-Reply-To is
    only as safe as Message-IDs are hard to guess; it also runs past 78
    columns once an id string is added.
    """
    return f"<{int(as_utc(now).timestamp())}.{secrets.token_hex(10)}@{domain}>"


def _msgid(value: str | None) -> str | None:
    """A ``<id@host>`` taken from data, or None when it is not one."""
    if not value:
        return None
    match = _MSGID_RE.search(value.translate(_CONTROL))
    return match.group(0) if match else None

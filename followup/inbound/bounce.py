"""Recognise bounces: which addresses failed, whether for good, and which mail bounced.

A bounce must never be read as a reply (it quotes our reminder, words like
"submit" and all), and a permanent one tells the secretariat a focal point's
address is dead. Two families:

- RFC 3464 delivery status notifications: ``multipart/report;
  report-type=delivery-status`` with a ``message/delivery-status`` part
  holding ``Final-Recipient``, ``Action`` and ``Status`` per recipient.
  ``Action: delivered/relayed/expanded`` reports are not bounces.
- Everything else mail systems send: Exchange/Outlook NDRs ("Undeliverable:",
  "Delivery has failed to these recipients"), Gmail's "Delivery Status
  Notification (Failure)", Postfix and Exim text bounces, qmail's "Hi. This is
  the qmail-send program", and the many MAILER-DAEMON/postmaster notes. These
  are recognised by sender and subject, confirmed by the wording of the
  body, and their failed addresses read from the body's notification part
  (before the copy of the returned message).

The original Message-ID comes from the returned headers
(``text/rfc822-headers`` or ``message/rfc822``) or, failing that, from a
``Message-ID:`` line in the returned copy in the body text.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from followup.inbound.parse import ParsedMessage, decode_bytes, may_say

_STATUS_RE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE_RE = re.compile(r"(?<![\d.])([45])\d\d(?:[ -]|$)")
_ADDRESS_RE = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+", re.UNICODE)
_MESSAGE_ID_LINE_RE = re.compile(r"^[ \t>]*Message-I[dD][ \t]*:[ \t]*(<[^<>\s]{1,990}>)", re.MULTILINE | re.IGNORECASE)

_DAEMON_LOCALS = frozenset(
    {
        "mailer-daemon",
        "mailer_daemon",
        "maildaemon",
        "mail-daemon",
        "mailerdaemon",
        "postmaster",
        "mail-delivery-subsystem",
        "mail.delivery.subsystem",
        "maildelivery",
        "mail-delivery",
        "mdaemon",
        "mmdf",
        "smtp",
        "mail-router",
        "mailadmin",
        "mail_admin",
        "nobody",
        "bounce",
        "bounces",
        "microsoftexchange329e71ec88ae4615bbc36ab6ce41109e",
    }
)
_DAEMON_NAME_RE = re.compile(
    r"mail delivery|mailer.?daemon|mail administrator|mail system|postmaster|delivery subsystem|mail transport"
    r"|sistema de (?:entrega|correo)|administrador de correo|servicio de entrega|microsoft outlook",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|undelivered|not (?:be )?delivered|delivery (?:status notification|failure|failed|problem|error"
    r"|notification|has failed)|mail delivery (?:failed|failure|problem|system)|returned mail|return(?:ed)? to sender"
    r"|failure notice|non.?deliver|could not (?:be )?deliver|delivery report|mail system error|message not delivered"
    r"|rejected|bounced?|unable to deliver|permanent(?:ly)? fail|mail failure|delivery warning|warning: could not send"
    r"|delayed mail|delivery delay|still being retried|no se (?:pudo|puede) entregar|no entregado"
    r"|error (?:de|en la) entrega"
    r"|notificaci[oó]n de estado de (?:la )?entrega|no se ha podido entregar|mensaje no entregado|devuelto"
    r"|non remis|unzustellbar|nicht zustellbar|non recapitabile|niet bezorgd|onbestelbaar|failed mail|mail failed"
    r"|传输失败|无法投递|退信|发送失败",
    re.IGNORECASE,
)
#: Each branch of :data:`_BOUNCE_SUBJECT_RE` holds one of these.
_BOUNCE_SUBJECT_WORDS = (
    "deliver", "returned mail", "to sender", "failure", "mail system error", "rejected", "bounce", "permanent",
    "could not send", "delayed mail", "retried", "entrega", "devuelto", "non remis", "zustellbar", "recapitabile",
    "bezorgd", "onbestelbaar", "failed mail", "mail failed", "传输失败", "无法投递", "退信", "发送失败",
)  # fmt: skip


def _says_bounce(subject: str) -> bool:
    return may_say(subject, _BOUNCE_SUBJECT_WORDS) and _BOUNCE_SUBJECT_RE.search(subject) is not None


_NOT_BOUNCE_SUBJECT_RE = re.compile(r"\(success\)|\brelayed\b|^delivered:|read:|le[ií]do:|gelesen:", re.IGNORECASE)
# Wording that confirms a body reports a failed delivery.
_FAILURE_TEXT_RE = re.compile(
    r"could not be delivered|couldn't be delivered|can(?:not|'t) be delivered|could not deliver|wasn't delivered"
    r"|was not delivered"
    r"|delivery (?:has )?failed|delivery to the following recipients? (?:failed|has been delayed)|failed permanently"
    r"|permanent (?:fatal )?(?:error|failure)|undeliverable|user unknown|unknown user|no such (?:user|mailbox|address)"
    r"|mailbox (?:unavailable|not found|is full|full|does not exist)|does not exist|recipient (?:address )?rejected"
    r"|address rejected|i'm sorry to have to inform you|unable to deliver|this is the qmail-send program"
    r"|this is the mail system at host|message that you sent could not be delivered|returned to sender"
    r"|delivery status notification|the following (?:message|addresses|recipients?) (?:had|could not|cannot|failed)"
    r"|invalid (?:recipient|address|mailbox)|account (?:has been )?(?:disabled|suspended|closed|is inactive)"
    r"|host unknown|domain not found|quota exceeded|over quota|rejected|not delivered|delivery attempts?"
    r"|will (?:continue|keep) (?:to )?(?:try|retry)|has not yet been delivered|temporary (?:failure|error)"
    r"|no se (?:pudo|puede|ha podido) entregar|no se entreg[oó]|error (?:permanente|temporal)|no existe"
    r"|direcci[oó]n (?:de correo )?(?:no v[aá]lida|desconocida)|buz[oó]n (?:lleno|no disponible|no existe)"
    r"|nicht zugestellt|unzustellbar|non (?:è stato|e' stato) (?:possibile )?recapitat"
    r"|did not reach|did not receive your message|not a valid (?:user|recipient|address|mailbox)|was undeliverable"
    r"|has been returned because|encountered an error|failed addresses|no valid recipients|intended recipient"
    r"|无法投递|无法送达|发送失败|退信",
    re.IGNORECASE,
)
_GAVE_UP_RE = re.compile(
    r"not going to try again|giving up|gave up|will not be retried|no further attempts|too long in the queue"
    r"|has been in the queue too long|no se reintentar[aá]",
    re.IGNORECASE,
)
_TRANSIENT_TEXT_RE = re.compile(
    r"attempts will continue|will (?:continue|keep) (?:to )?(?:try|retry|attempt)|will retry"
    r"|still (?:trying|being retried)|delayed|delay"
    r"|temporar(?:y|ily)|try again later|has not yet been delivered|not yet been delivered|transient|deferred"
    r"|mailbox (?:is )?full|over quota|quota exceeded|se reintentar[aá]|temporal",
    re.IGNORECASE,
)
_PERMANENT_TEXT_RE = re.compile(
    r"permanent|fatal|user unknown|unknown user|no such user|does not exist|doesn't exist|not found|invalid"
    r"|rejected|giving up|gave up|failed permanently|no existe|permanente",
    re.IGNORECASE,
)
# Where a text bounce's own notification ends and the returned copy starts.
_RETURNED_COPY_RE = re.compile(
    r"^[ \t-]*(?:-{2,}|_{3,}|={3,})?[ \t]*(?:(?:this is a )?copy of (?:the|your) (?:original )?message|original message"
    r"|returned message|below this line is a copy|undelivered message headers|original message headers"
    r"|the original message (?:was|headers)|headers of the original message|message headers follow|unsent message below"
    r"|the message you sent|original mail|original text follows|mensaje original|encabezados del mensaje original"
    r"|return-path:|received: from)",
    re.IGNORECASE | re.MULTILINE,
)
_QMAIL_RE = re.compile(r"^<([^<>\s]+@[^<>\s]+)>:", re.MULTILINE)
_EXIM_BLOCK_RE = re.compile(
    r"could not be delivered to one or more of its\s+recipients\. (?:This is a permanent error\. )?"
    r"The following address(?:\(es\))? failed:\s*\n(?P<block>(?:[ \t]*\n)*(?:[ \t]+\S.*\n?|[ \t]*\n)+)",
    re.IGNORECASE,
)
_RECIPIENT_INTRO_RE = re.compile(
    r"(?:(?:following|these|the)\s+(?:recipients?|addresses|addressees?|destinations?)(?:\(s\)|\(es\))?"
    r"|could not be delivered to|couldn't be delivered to|wasn't delivered to|was not delivered to"
    r"|failed addresses follow|did not reach the following|delivery to the following|no se entreg[oó] a"
    r"|destinatarios?|permanent error for|intended recipient|recipient address|original address)"
    r"[^\n:]{0,120}:?[ \t]*(?P<rest>[^\n]*)\n",
    re.IGNORECASE,
)
_HEADERISH_LINE_RE = re.compile(
    r"^[ \t>]*(?:to|from|cc|sent|date|subject|message-id|reply-to|return-path|received|reporting-mta|x-[\w-]+|de"
    r"|para|asunto|enviado)[ \t]*:",
    re.IGNORECASE,
)
_POSTFIX_RE = re.compile(r"^<([^<>\s]+@[^<>\s]+)>(?:\s*\(expanded from [^)]*\))?:\s", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class BouncedRecipient:
    address: str
    permanent: bool
    #: Enhanced status code such as ``5.1.1`` ("" when the bounce gives none).
    status: str = ""
    action: str = ""
    diagnostic: str = ""


@dataclass(frozen=True, slots=True)
class BounceInfo:
    recipients: tuple[BouncedRecipient, ...]
    #: True unless every failed recipient's failure is temporary (4.x.x, "will retry").
    permanent: bool
    original_message_id: str | None
    #: ``rfc3464`` or ``text`` (a bounce recognised from its wording).
    format: str
    reporting_mta: str = ""

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(r.address for r in self.recipients)


def detect_bounce(msg: ParsedMessage) -> BounceInfo | None:
    """Return what bounced, or None when ``msg`` is not a bounce. Never raises."""
    try:
        info = _detect(msg)
        if info is None:
            return None
        return replace(info, original_message_id=_original_message_id(msg, msg.message))
    except Exception:
        return None


def _detect(msg: ParsedMessage) -> BounceInfo | None:
    tree = msg.message
    reports = list(_report_parts(tree)) if tree is not None else []
    original_id = None
    if reports:
        recipients: list[BouncedRecipient] = []
        reporting = ""
        any_report = False
        for part in reports:
            blocks = _status_blocks(part)
            if not blocks:
                continue
            any_report = True
            reporting = reporting or _field(blocks[0], "reporting-mta").partition(";")[2].strip()
            recipients.extend(_recipients_from_blocks(blocks))
        if any_report and not recipients and _only_successes(reports):
            return None  # a delivery/relay success report
        if recipients:
            return BounceInfo(
                recipients=_dedupe(recipients),
                permanent=any(r.permanent for r in recipients),
                original_message_id=original_id,
                format="rfc3464",
                reporting_mta=reporting,
            )
    return _text_bounce(msg, original_id, is_report=bool(reports))


def _only_successes(reports: list[Message]) -> bool:
    actions = [
        _field(block, "action").lower().split()[0]
        for part in reports
        for block in _status_blocks(part)
        if _field(block, "action")
    ]
    return bool(actions) and all(a in ("delivered", "relayed", "expanded") for a in actions)


# --- RFC 3464 ----------------------------------------------------------------


def _report_parts(tree: Message) -> Iterator[Message]:
    stack = [tree]
    seen = 0
    while stack and seen < 200:
        part = stack.pop()
        seen += 1
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            yield part
            continue
        if ctype.startswith("multipart/"):
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend(reversed([p for p in payload if isinstance(p, Message)]))


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The per-message and per-recipient field blocks of a delivery-status part."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                fields = {str(k).lower(): _header_str(v) for k, v in sub.raw_items()}
                if fields:
                    blocks.append(fields)
        if blocks:
            return blocks
    data = part.get_payload(decode=True)
    text = decode_bytes(data, None)[0] if isinstance(data, bytes) else str(payload)
    return _parse_blocks(text)


def _parse_blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        fields: dict[str, str] = {}
        last = ""
        for line in chunk.split("\n"):
            if line[:1] in (" ", "\t") and last:
                fields[last] += " " + line.strip()
                continue
            name, sep, value = line.partition(":")
            if sep and name.strip() and " " not in name.strip():
                last = name.strip().lower()
                fields[last] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _header_str(value: object) -> str:
    text = str(value)
    if not text.isascii():
        with contextlib.suppress(UnicodeEncodeError):
            text = decode_bytes(text.encode("ascii", "surrogateescape"), None)[0]
    return " ".join(text.split())


def _field(block: dict[str, str], name: str) -> str:
    return block.get(name, "")


def _recipients_from_blocks(blocks: list[dict[str, str]]) -> list[BouncedRecipient]:
    out: list[BouncedRecipient] = []
    for block in blocks:
        if "final-recipient" not in block and "original-recipient" not in block:
            continue
        action = _field(block, "action").lower().split()[0] if _field(block, "action") else ""
        status_match = _STATUS_RE.search(_field(block, "status"))
        status = status_match.group(0) if status_match else ""
        diagnostic = _field(block, "diagnostic-code")
        if action in ("delivered", "relayed", "expanded"):
            continue
        if not action and not status and not diagnostic:
            continue
        if not action and status.startswith("2"):
            continue
        # The original recipient is the address we wrote to, which is what matters to
        # the secretariat; the final one may be an internal alias.
        address = _address_field(block.get("original-recipient", "")) or _address_field(
            block.get("final-recipient", "")
        )
        if not address:
            continue
        if status.startswith("4") or action == "delayed":
            permanent = False
        elif status.startswith("5"):
            permanent = True
        else:
            permanent = _permanent_from_text(diagnostic, default=action != "delayed")
        out.append(BouncedRecipient(address, permanent, status, action, diagnostic[:500]))
    return out


def _address_field(value: str) -> str:
    """``rfc822; <Someone@Example.org>`` -> ``someone@example.org``."""
    _kind, sep, rest = value.partition(";")
    text = rest if sep else value
    match = _ADDRESS_RE.search(text)
    if match:
        return _clean_address(match.group(0))
    return ""


def _clean_address(address: str) -> str:
    addr = address.lower().strip(".<>:,;'\"")
    for prefix in ("smtp=", "rfc822;", "mailto:"):
        if addr.startswith(prefix):
            addr = addr[len(prefix) :]
    return addr


# --- text bounces ------------------------------------------------------------


def _text_bounce(msg: ParsedMessage, original_id: str | None, *, is_report: bool) -> BounceInfo | None:
    subject = msg.subject
    # A delivery report without usable recipient fields still is one; so is mail "From: <>".
    from_daemon = is_report or _is_daemon(msg.sender, msg.sender_name) or (msg.has_header("From") and not msg.sender)
    subject_says = _says_bounce(subject) and not _NOT_BOUNCE_SUBJECT_RE.search(subject)
    if not (from_daemon or subject_says):
        return None  # the common case, a person's mail: decided without reading the body
    text = msg.text
    notice = _notification_part(text)
    if msg.text_source == "none" and not text:
        notice = ""
    body_says = bool(_FAILURE_TEXT_RE.search(notice[:20_000]))
    if not ((from_daemon and (subject_says or body_says)) or (subject_says and body_says)):
        return None
    if _NOT_BOUNCE_SUBJECT_RE.search(subject):
        return None
    addresses = _failed_addresses(text, notice, msg)
    transient = bool(_TRANSIENT_TEXT_RE.search(subject)) or (
        bool(_TRANSIENT_TEXT_RE.search(notice[:5000])) and not _PERMANENT_TEXT_RE.search(notice[:5000])
    )
    status_match = _STATUS_RE.search(notice[:20_000])
    status = status_match.group(0) if status_match else ""
    if status.startswith("4"):
        transient = True
    elif status.startswith("5"):
        transient = False
    if _GAVE_UP_RE.search(notice[:20_000]):
        transient = False
    permanent = not transient
    recipients = tuple(BouncedRecipient(a, permanent, status) for a in addresses)
    return BounceInfo(
        recipients=recipients,
        permanent=permanent,
        original_message_id=original_id,
        format="text",
    )


def _is_daemon(sender: str, name: str) -> bool:
    local = sender.partition("@")[0].lower()
    if local in _DAEMON_LOCALS or local.startswith(("mailer-daemon", "postmaster", "mail-daemon")):
        return True
    return bool(name and _DAEMON_NAME_RE.search(name))


def _notification_part(text: str) -> str:
    """The bounce's own words: the text before the returned copy of our message."""
    match = _RETURNED_COPY_RE.search(text, 40) if len(text) > 40 else None
    return text[: match.start()] if match else text[:50_000]


def _failed_addresses(text: str, notice: str, msg: ParsedMessage) -> tuple[str, ...]:
    found: list[str] = []
    found.extend(_QMAIL_RE.findall(text[:50_000] if "qmail-send program" in text else notice))
    for m in _EXIM_BLOCK_RE.finditer(notice):
        for line in m.group("block").splitlines():
            first = line.strip().split(" ")[0] if line.strip() else ""
            if first and "@" in first:
                found.append(first.strip("<>:,"))
    found.extend(_POSTFIX_RE.findall(notice))
    if not found:
        found.extend(_addresses_after_intro(notice))
    if not found:
        # Last resort: any address in the notification, except in quoted header lines.
        for line in notice.splitlines():
            if not _HEADERISH_LINE_RE.match(line):
                found.extend(_ADDRESS_RE.findall(line))
    own = {msg.sender, *msg.to, *msg.cc, *msg.reply_to}
    out: list[str] = []
    for address in found:
        addr = _clean_address(address)
        local = addr.partition("@")[0]
        if not addr or addr in own or local in _DAEMON_LOCALS or addr in out:
            continue
        out.append(addr)
    return tuple(out[:20])


def _addresses_after_intro(notice: str) -> list[str]:
    """Addresses listed after "the following recipients:" and its kin, up to the next blank line."""
    found: list[str] = []
    for m in _RECIPIENT_INTRO_RE.finditer(notice[:20_000]):
        found.extend(_ADDRESS_RE.findall(m.group("rest")))
        seen_text = False
        for line in notice[m.end() : m.end() + 2000].split("\n")[:10]:
            if not line.strip():
                if seen_text:
                    break
                continue
            seen_text = True
            if _HEADERISH_LINE_RE.match(line):
                continue
            found.extend(_ADDRESS_RE.findall(line))
    return found


def _permanent_from_text(text: str, *, default: bool) -> bool:
    status = _STATUS_RE.search(text)
    if status:
        return status.group(1) == "5"
    code = _SMTP_CODE_RE.search(text)
    if code:
        return code.group(1) == "5"
    if _TRANSIENT_TEXT_RE.search(text):
        return False
    return default


# --- the returned message ----------------------------------------------------


def _original_message_id(msg: ParsedMessage, tree: Message | None) -> str | None:
    if tree is not None:
        stack = [tree]
        seen = 0
        while stack and seen < 200:
            part = stack.pop()
            seen += 1
            ctype = part.get_content_type()
            payload = part.get_payload()
            if ctype in ("message/rfc822", "message/global", "message/rfc822-headers"):
                inner = payload[0] if isinstance(payload, list) and payload else None
                if isinstance(inner, Message):
                    found = _id_from_headers(inner)
                    if found:
                        return found
                continue
            if ctype in ("text/rfc822-headers", "text/rfc822-header"):
                data = part.get_payload(decode=True)
                text = decode_bytes(data, None)[0] if isinstance(data, bytes) else str(payload)
                headers = HeaderParser(policy=compat32).parsestr(text.lstrip(), headersonly=True)
                found = _id_from_headers(headers)
                if found:
                    return found
                continue
            if isinstance(payload, list):
                stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    # A text bounce quotes the original below its notification.
    text = msg.text
    notice_end = len(_notification_part(text))
    for m in _MESSAGE_ID_LINE_RE.finditer(text, notice_end if notice_end < len(text) else 0):
        if m.group(1) != msg.message_id:
            return m.group(1)
    return None


def _id_from_headers(headers: Message) -> str | None:
    for name, value in headers.raw_items():
        if str(name).lower() == "message-id":
            match = re.search(r"<[^<>\s]{1,990}>", str(value))
            if match:
                return match.group(0)
    return None


def _dedupe(recipients: list[BouncedRecipient]) -> tuple[BouncedRecipient, ...]:
    seen: dict[str, BouncedRecipient] = {}
    for r in recipients:
        seen.setdefault(r.address, r)
    return tuple(seen.values())

"""One call from raw bytes to what the message means: :func:`understand`.

Order matters: bounces are checked before auto-replies because most bounces
also carry ``Auto-Submitted`` (and a null sender), and a bounce carries
more information (which address failed). Intent is worked out for human
replies only, so a bounce or an out-of-office can never be taken for a
confirmation, whatever words it quotes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from email.message import Message

from followup.inbound.autoreply import AutoReplyInfo, detect_autoreply, is_mailing_list
from followup.inbound.bounce import BounceInfo, detect_bounce
from followup.inbound.intent import UNKNOWN, IntentResult, classify_intent
from followup.inbound.parse import Attachment, ParsedMessage, content_hash, parse_message
from followup.inbound.quotes import visible_text

HUMAN = "human"
AUTOREPLY = "autoreply"
BOUNCE = "bounce"
UNPARSEABLE = "unparseable"


@dataclass(frozen=True, slots=True)
class Understanding:
    """Everything the matcher and the database need to know about one inbound message."""

    #: One of ``human``, ``autoreply``, ``bounce``, ``unparseable`` (vocabulary.INBOUND_CLASSES).
    classification: str
    #: One of ``confirmation``, ``extension``, ``question``, ``unknown``; not ``unknown`` for humans only.
    intent: str
    proposed_date: date | None
    intent_signals: tuple[str, ...]
    #: The sender's own words (quotes and signature cut).
    visible_text: str
    attachments: tuple[Attachment, ...]
    bounce: BounceInfo | None
    autoreply: AutoReplyInfo | None
    #: When an out-of-office says its writer is back.
    return_date: date | None
    is_mailing_list: bool
    content_hash: str
    #: The parsed message, without its MIME tree (so attachment bytes are not held).
    parsed: ParsedMessage
    #: The MIME tree, kept only for a person's reply with real attachments, read in full: the
    #: archive takes their bytes from it instead of parsing the message a second time.
    tree: Message | None = field(default=None, repr=False, compare=False)

    @property
    def may_answer(self) -> bool:
        """Whether sending an acknowledgement could not start a mail loop."""
        return (
            self.classification == HUMAN
            and not self.is_mailing_list
            and bool(self.parsed.sender)
            and "@" in self.parsed.sender
        )


def understand(raw: bytes, reference: date, *, max_parse_bytes: int | None = None) -> Understanding:
    """Parse and classify ``raw``; ``reference`` (normally the receipt date) anchors relative dates.

    Never raises: a message that cannot be read comes back as ``unparseable``.
    Over ``max_parse_bytes``, only the headers and the start of the body are read.
    """
    full = parse_message(raw, max_bytes=max_parse_bytes)
    complete = max_parse_bytes is None or len(raw) <= max_parse_bytes
    digest = content_hash(raw) if isinstance(raw, bytes | bytearray) else content_hash(b"")
    # Everything below needs the headers and text only, except the bounce detector.
    parsed = replace(full, message=None)
    if not parsed.parse_ok:
        return _result(UNPARSEABLE, parsed, digest, text=_visible(parsed.text))

    listed = _safe_is_list(parsed)
    bounce = detect_bounce(full)
    if bounce is not None:
        return _result(BOUNCE, parsed, digest, bounce=bounce, listed=listed)

    auto = detect_autoreply(parsed, reference, full.message)
    text = _visible(parsed.text)
    if auto is not None:
        return _result(AUTOREPLY, parsed, digest, text=text, auto=auto, listed=listed)

    try:
        intent = classify_intent(text, parsed.attachments, parsed.subject, reference)
    except Exception as exc:  # a rule bug must not stop the inbox; the message goes to triage
        intent = IntentResult(UNKNOWN, None, (f"error:{type(exc).__name__}",))
    return Understanding(
        classification=HUMAN,
        intent=intent.intent,
        proposed_date=intent.proposed_date,
        intent_signals=intent.signals,
        visible_text=text,
        attachments=parsed.attachments,
        bounce=None,
        autoreply=None,
        return_date=None,
        is_mailing_list=listed,
        content_hash=digest,
        parsed=parsed,
        tree=full.message if complete and any(not a.inline for a in parsed.attachments) else None,
    )


def _visible(text: str) -> str:
    try:
        return visible_text(text)
    except Exception:
        return text[:10_000]


def _safe_is_list(parsed: ParsedMessage) -> bool:
    try:
        return is_mailing_list(parsed)
    except Exception:
        return False


def _result(
    classification: str,
    parsed: ParsedMessage,
    digest: str,
    *,
    text: str = "",
    bounce: BounceInfo | None = None,
    auto: AutoReplyInfo | None = None,
    listed: bool = False,
) -> Understanding:
    return Understanding(
        classification=classification,
        intent=UNKNOWN,
        proposed_date=None,
        intent_signals=(),
        visible_text=text,
        attachments=parsed.attachments,
        bounce=bounce,
        autoreply=auto,
        return_date=auto.return_date if auto else None,
        is_mailing_list=listed,
        content_hash=digest,
        parsed=parsed,
    )

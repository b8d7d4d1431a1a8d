"""Reply tokens and subject reference tags: how a reply finds its way home.

A reminder's Reply-To is ``ts+<token>@domain``. The token carries the
notification id and an HMAC over it, so a reply to that address names the
notification it answers and nobody can forge one for another notification
without the secret. Tokens are lowercase base32 (``a-z2-7``): safe in an
address local part, and unharmed by mail systems that fold the local part to
lower case.

The subject tag (``[RCM-1234]``) is the fallback for replies that lose the
Reply-To (forwarded, typed by hand, sent from another account): it names the
assignment, is guessable, and so only ever proposes a match for review.
"""

from __future__ import annotations

import functools
import hmac
import re
from collections.abc import Iterable

#: Bytes of the notification id inside a token (ids up to 2**48 - 1).
_ID_BYTES = 6
#: Bytes of HMAC-SHA256 kept: 80 bits, far beyond guessing by sending mail.
_MAC_BYTES = 10
#: 16 raw bytes are 26 base32 characters without padding.
TOKEN_LENGTH = 26
_DOMAIN = b"followup/reply-token/v1:"
#: RFC 4648 base32 alphabet, lowercased. Encoding by hand is several times faster
#: than :func:`base64.b32encode` (pure Python) and gives the same characters.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_VALUES = {char: value for value, char in enumerate(_ALPHABET)}
_TOKEN_RE = re.compile(rf"\+([a-z2-7]{{{TOKEN_LENGTH}}})@", re.IGNORECASE)


def _mac(id_bytes: bytes, secret: bytes) -> bytes:
    return hmac.digest(secret, _DOMAIN + id_bytes, "sha256")[:_MAC_BYTES]


def make_token(notification_id: int, secret: bytes) -> str:
    """Sign ``notification_id`` into a 26-character lowercase base32 token."""
    if not secret:
        raise ValueError("the signing secret is empty")
    if not 0 <= notification_id < 2 ** (8 * _ID_BYTES):
        raise ValueError(f"notification id {notification_id} does not fit in a reply token")
    id_bytes = notification_id.to_bytes(_ID_BYTES, "big")
    # MAC first, so tokens do not all start alike. 128 bits shifted left by 2 are
    # exactly 26 five-bit groups (base32 pads with zero bits).
    number = int.from_bytes(_mac(id_bytes, secret) + id_bytes, "big") << 2
    return "".join([_ALPHABET[(number >> shift) & 31] for shift in range(125, -1, -5)])


def verify_token(token: str, secret: bytes) -> int | None:
    """The notification id a token was made for, or None if it is not ours."""
    if not secret or len(token) != TOKEN_LENGTH:
        return None
    number = 0
    for char in token.lower():
        value = _VALUES.get(char)
        if value is None:
            return None
        number = (number << 5) | value
    if number & 3:
        return None  # the two padding bits of a real token are zero
    raw = (number >> 2).to_bytes(_MAC_BYTES + _ID_BYTES, "big")
    mac, id_bytes = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(id_bytes, secret)):
        return None
    return int.from_bytes(id_bytes, "big")


def reply_address(token: str, local_part: str, domain: str) -> str:
    """``local_part+token@domain``: the Reply-To of one notification."""
    return f"{local_part}+{token}@{domain}"


def extract_tokens(addresses: Iterable[str]) -> list[str]:
    """Candidate tokens (lowercased, first occurrence order) found in addresses.

    Accepts bare addresses, ``Name <addr>`` forms and whole header values;
    callers still :func:`verify_token` each candidate.
    """
    found: list[str] = []
    for address in addresses:
        for match in _TOKEN_RE.finditer(address):
            token = match.group(1).lower()
            if token not in found:
                found.append(token)
    return found


def reference_tag(tag: str, assignment_id: int) -> str:
    """``[RCM-1234]``: the short reference shown in subjects and bodies."""
    return f"[{tag}-{assignment_id}]"


def parse_reference_tags(subject: str, tag: str) -> list[int]:
    """Assignment ids named by ``[TAG-n]`` tags in a subject, in order, without repeats.

    Tolerates what mail clients and people do to a tag: other case, a space or
    ``#`` instead of the hyphen, spaces inside the brackets.
    """
    ids: list[int] = []
    for match in _tag_pattern(tag).finditer(subject):
        value = int(match.group(1))
        if value not in ids:
            ids.append(value)
    return ids


@functools.lru_cache(maxsize=16)
def _tag_pattern(tag: str) -> re.Pattern[str]:
    return re.compile(r"\[\s*" + re.escape(tag) + r"\s*[-#\s]\s*(\d{1,12})\s*\]", re.IGNORECASE)

"""Per-item links: ``BASE/s/<token>``, one per item of every email to a focal point.

The token binds one assignment, one contact and the occurrence (the item's
original due date) and says until when it works, under an HMAC with the
signing key, so nobody can forge or alter one. It carries ids and dates
only: no name, no address. Tokens are URL-safe base64 (44 characters).

A link leads somewhere only when ``web.base_url`` is set; without it emails
carry no link at all.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from followup.outbound.signing import signing_key_from
from followup.settings import Settings

_VERSION = 1
_DOMAIN = b"followup/item-link/v1:"
_MAC_BYTES = 16
#: version (1) + assignment (6) + contact (4) + occurrence (3) + expiry (3) bytes.
_PAYLOAD_BYTES = 17
TOKEN_LENGTH = 44


@dataclass(frozen=True)
class LinkClaim:
    """What a valid token says: whose item, which occurrence, until when."""

    assignment_id: int
    contact_id: int
    occurrence_due: date
    expires_on: date

    def expired(self, today: date) -> bool:
        return today > self.expires_on


def _mac(payload: bytes, secret: bytes) -> bytes:
    return hmac.digest(secret, _DOMAIN + payload, "sha256")[:_MAC_BYTES]


def make_link_token(claim: LinkClaim, secret: bytes) -> str:
    if not secret:
        raise ValueError("the signing secret is empty")
    payload = (
        bytes([_VERSION])
        + claim.assignment_id.to_bytes(6, "big")
        + claim.contact_id.to_bytes(4, "big")
        + claim.occurrence_due.toordinal().to_bytes(3, "big")
        + claim.expires_on.toordinal().to_bytes(3, "big")
    )
    return base64.urlsafe_b64encode(payload + _mac(payload, secret)).decode("ascii")


def read_link_token(token: str, secret: bytes) -> LinkClaim | None:
    """The claim a token was made for, or None when it is malformed or not signed by us."""
    if not secret or len(token) != TOKEN_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    if len(raw) != _PAYLOAD_BYTES + _MAC_BYTES or base64.urlsafe_b64encode(raw).decode("ascii") != token:
        return None
    payload, mac = raw[:_PAYLOAD_BYTES], raw[_PAYLOAD_BYTES:]
    if not hmac.compare_digest(mac, _mac(payload, secret)) or payload[0] != _VERSION:
        return None
    try:
        return LinkClaim(
            assignment_id=int.from_bytes(payload[1:7], "big"),
            contact_id=int.from_bytes(payload[7:11], "big"),
            occurrence_due=date.fromordinal(int.from_bytes(payload[11:14], "big")),
            expires_on=date.fromordinal(int.from_bytes(payload[14:17], "big")),
        )
    except ValueError:
        return None


def claim_for(assignment_id: int, contact_id: int, original_due: date, due: date, link_days: int) -> LinkClaim:
    """The claim of a link issued today for an item due on ``due`` (expires ``link_days`` after it)."""
    return LinkClaim(assignment_id, contact_id, original_due, due + timedelta(days=link_days))


@functools.lru_cache(maxsize=4)
def _key(configured: str, path: Path) -> bytes:
    return signing_key_from(configured, path)


def item_link(settings: Settings, assignment_id: int, contact_id: int | None, original_due: date, due: date) -> str:
    """``BASE/s/<token>`` for one item as one contact sees it, or "" without ``web.base_url``."""
    base = settings.web.base_url.rstrip("/")
    if not base or contact_id is None:
        return ""
    secret = _key(settings.signing_secret.get_secret_value(), settings.signing_key_file())
    token = make_link_token(claim_for(assignment_id, contact_id, original_due, due, settings.web.link_days), secret)
    return f"{base}/s/{token}"

"""The secretariat's session cookie: ``<user id>.<issued>.<nonce>.<mac>``, signed with the signing key.

Nothing secret is in the cookie and nothing is stored server-side: a session
is valid while its MAC checks, it is younger than ``web.session_hours``, and
it was issued after the user's ``sessions_valid_after`` (a password change
or removal ends every session).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from followup.web.security import check, sign

COOKIE = "followup_session"
_PURPOSE = "session"


@dataclass(frozen=True)
class SessionInfo:
    user_id: int
    issued: datetime
    nonce: str


def make_session(secret: bytes, user_id: int, now: datetime) -> str:
    value = f"{user_id}.{int(now.timestamp())}.{secrets.token_urlsafe(12)}"
    return f"{value}.{sign(secret, _PURPOSE, value)}"


def read_session(secret: bytes, cookie: str, now: datetime, hours: int) -> SessionInfo | None:
    parts = cookie.split(".")
    if len(parts) != 4:
        return None
    value, mac = ".".join(parts[:3]), parts[3]
    if not check(secret, _PURPOSE, value, mac):
        return None
    try:
        user_id, issued = int(parts[0]), datetime.fromtimestamp(int(parts[1]), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    if issued > now + timedelta(minutes=5) or now - issued > timedelta(hours=hours):
        return None
    return SessionInfo(user_id, issued, parts[2])

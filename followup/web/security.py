"""Request hygiene for the web pages: client address, rate limits, CSRF tokens, signed values.

Pure helpers over the signing key and the clock, so tests drive them with a
fixed clock and no server.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta


def sign(secret: bytes, purpose: str, value: str) -> str:
    """A URL-safe HMAC of ``value`` for one ``purpose`` (keys never serve two purposes)."""
    mac = hmac.digest(secret, f"followup/web/{purpose}:".encode() + value.encode("utf-8"), "sha256")
    return base64.urlsafe_b64encode(mac[:24]).decode("ascii")


def check(secret: bytes, purpose: str, value: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, purpose, value).encode(), signature.encode("utf-8", "replace"))


def in_networks(address: str, networks: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for net in networks:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_address(peer: str, headers: Mapping[str, str], trusted_proxies: Sequence[str]) -> str:
    """The client's address: the peer, or (only behind a trusted proxy) the last untrusted X-Forwarded-For hop."""
    if not trusted_proxies or not in_networks(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not in_networks(hop, trusted_proxies):
            return hop
    return hops[0] if hops else peer


def is_https(scheme: str, peer: str, headers: Mapping[str, str], trusted_proxies: Sequence[str]) -> bool:
    if trusted_proxies and in_networks(peer, trusted_proxies):
        forwarded = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        if forwarded:
            return forwarded == "https"
    return scheme == "https"


class RateLimiter:
    """At most ``limit`` events per key in a sliding ``window`` (in memory, per process)."""

    def __init__(self, limit: int, window: timedelta, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, deque[datetime]] = {}

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= self.max_keys:
                self._events.clear()  # a flood of keys: forget rather than grow without bound
            events = self._events[key] = deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def blocked(self, key: str, now: datetime) -> bool:
        return len(self._recent(key, now)) >= self.limit

    def hit(self, key: str, now: datetime) -> bool:
        """Count one event; False when the key was already at its limit (the event is not counted)."""
        events = self._recent(key, now)
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def reset(self, key: str) -> None:
        self._events.pop(key, None)

"""Request hygiene for the web pages: client address, CSRF tokens, signed values.

Pure helpers over the signing key and the request's headers, so tests drive
them with no server. Rate limits live in :mod:`followup.web.rate_limits`.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
from collections.abc import Mapping, Sequence


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

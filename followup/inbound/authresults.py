"""What the receiving server said about a message's sender (``Authentication-Results``, RFC 8601).

The header is only as trustworthy as the server that wrote it: anybody can
put one in a message before sending it. Receiving servers add theirs on top,
so only the topmost header is read, or, when ``imap.authserv_id`` is set,
the first one carrying that server's authserv-id (a server that also strips
forged copies of its own id makes this exact). A DMARC failure, or an SPF
failure for the From domain, means the From address cannot be taken at its
word: such a message changes nothing and waits in triage.

Pure functions of header values; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Results that say the sender's domain did not send this message.
FAILING = frozenset({"fail"})


@dataclass(frozen=True)
class AuthResult:
    method: str
    result: str
    properties: tuple[tuple[str, str], ...] = ()

    def prop(self, name: str) -> str:
        for key, value in self.properties:
            if key == name:
                return value
        return ""


@dataclass(frozen=True)
class AuthHeader:
    authserv_id: str
    results: tuple[AuthResult, ...]


def failures(headers: Sequence[str], from_address: str, authserv_id: str = "") -> tuple[str, ...]:
    """The failed checks (``"dmarc=fail header.from=x.org"``) that make ``from_address`` untrustworthy."""
    trusted = trusted_header(headers, authserv_id)
    if trusted is None:
        return ()
    domain = from_address.rpartition("@")[2].lower().rstrip(".")
    out: list[str] = []
    for r in trusted.results:
        if r.result not in FAILING:
            continue
        if r.method == "dmarc":
            about = _domain(r.prop("header.from"))
        elif r.method == "spf":
            about = _domain(r.prop("smtp.mailfrom")) or _domain(r.prop("smtp.helo"))
        else:
            continue
        if not about or not domain or _aligned(about, domain):
            detail = f" {'header.from' if r.method == 'dmarc' else 'domain'}={about}" if about else ""
            out.append(f"{r.method}={r.result}{detail}")
    return tuple(out)


def trusted_header(headers: Sequence[str], authserv_id: str = "") -> AuthHeader | None:
    """The header written by our receiving server: the topmost, or the first with ``authserv_id``."""
    for value in headers:
        parsed = parse(value)
        if parsed is None:
            continue
        if not authserv_id or parsed.authserv_id == authserv_id.lower():
            return parsed
        # With a configured id, a header from elsewhere (or forged) is skipped.
    return None


def parse(value: str) -> AuthHeader | None:
    """Parse one header value; None when it has no authserv-id."""
    parts = _split(_strip_comments(value), ";")
    if not parts:
        return None
    head = parts[0].split()
    if not head:
        return None
    results: list[AuthResult] = []
    for part in parts[1:]:
        tokens = _split(part, None)
        if not tokens or "=" not in tokens[0]:
            continue  # "none" or garbage
        method, _, result = tokens[0].partition("=")
        props: list[tuple[str, str]] = []
        for token in tokens[1:]:
            key, eq, val = token.partition("=")
            if eq:
                props.append((key.strip().lower(), _unquote(val.strip())))
        results.append(AuthResult(method.split("/")[0].strip().lower(), result.strip().lower(), tuple(props)))
    return AuthHeader(head[0].lower(), tuple(results))


def _domain(value: str) -> str:
    return value.rpartition("@")[2].strip().lower().rstrip(".")


def _aligned(a: str, b: str) -> bool:
    """The same domain, or one a subdomain of the other (DMARC's relaxed alignment, roughly)."""
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _strip_comments(value: str) -> str:
    """Drop RFC 5322 comments (nested parentheses), keeping quoted strings intact."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            if depth == 0:
                out.append(ch)
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            out.append(ch)
            if ch == '"':
                quoted = False
            continue
        if ch == "(":
            depth += 1
            continue
        if ch == ")" and depth:
            depth -= 1
            continue
        if depth:
            continue
        if ch == '"':
            quoted = True
        out.append(ch)
    return " ".join("".join(out).split())


def _split(value: str, sep: str | None) -> list[str]:
    """Split on ``sep`` (whitespace when None) outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        is_sep = (ch.isspace() if sep is None else ch == sep) and not quoted
        if is_sep:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]

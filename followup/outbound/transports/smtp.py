"""Sending through an SMTP server: aiosmtplib connects, a lean session sends.

A small pool of open connections is reused across messages (a TLS handshake
and a login per message would cost more than the message), at most
``max_connections`` are busy at once, and each is replaced after a number of
messages or when the server drops it. A connection idle for a while, or one
whose last transaction failed, is checked with RSET before it carries a
message, so a connection the server timed out costs a reconnect rather than
a failed delivery.

aiosmtplib opens each connection (TCP, implicit TLS or STARTTLS with
certificate checks, EHLO, AUTH): the part where a mistake would be a
security hole. The mail transactions on it are then run by
:class:`_Session`, which takes over the connection's transport. It exists
because the transaction is the daemon's inner loop and aiosmtplib spends
more there than everything else a message costs put together: it waits for
each reply before the next command, re-parses addresses that
:mod:`followup.outbound.compose` has already checked, and runs two regular
expressions over every message. The session sends MAIL, RCPT and DATA in
one write when the server offers PIPELINING (RFC 2920), command by command
otherwise, and dot-stuffs the body with plain byte replacements (a regular
expression runs only for a bare CR or LF, which :mod:`followup.outbound.compose`
never writes).

Errors say whether retrying can help:

* 5xx replies to a recipient (RCPT) or to the message (DATA) are permanent:
  this message will not get through as it is. A message over the size limit
  (552 to MAIL) is permanent too. Only a refusal of the address itself
  (550, 551 or 553 to RCPT, with no enhanced code or a 5.1.x one) says the
  address is bad (``address_refused``); a refusal of the message (552, 554,
  a 5xx after DATA) is about this message only.
* 4xx replies, timeouts and network errors are transient.
* Failures while connecting (TLS, certificate, login, a server refusing
  service) and refusals of our sender address are transient whatever their
  code: they are about our configuration or the server, not the message,
  and once an operator fixes them every queued message should still go out.
* Replies that ask us to slow down (421, 451 with an enhanced 4.7.x code,
  454; :func:`is_throttling`), at any stage, are transient and marked
  ``throttled``: the dispatcher then pauses the whole relay for every
  daemon and puts the message back without counting an attempt.

A circuit breaker guards the relay: after ``breaker_failures`` consecutive
failures to connect, every send fails at once (a transient error, so the
outbox retries it later) for ``breaker_cooldown_seconds``, instead of each
email waiting out its own timeout against a relay that is down. The reply to
the final "." is awaited ``data_timeout_seconds`` (10 minutes by default, as
RFC 5321 4.5.3.2.6 suggests): a server may scan a message for that long, and
giving up earlier only sends it twice.

The password is read from its ``SecretStr`` only when logging in and is
never part of a message or log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiosmtplib

from followup.errors import ConfigError, DeliveryError, PermanentDeliveryError, TransientDeliveryError
from followup.outbound.transports.base import BaseTransport, Refusals
from followup.settings import SmtpSettings

log = logging.getLogger(__name__)

#: Servers often cap messages per connection; start a fresh one before that.
MAX_MESSAGES_PER_CONNECTION = 100
#: Probe a pooled connection with RSET when it has been idle longer than this.
IDLE_PROBE_SECONDS = 10.0
#: A reply line longer than this is not SMTP (RFC 5321 allows 512 octets).
MAX_REPLY_LINE = 8192
_BARE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")


@dataclass(frozen=True)
class Reply:
    code: int
    message: str

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300


class ReplyError(Exception):
    """The server answered a command with a refusal."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.message}")
        self.reply = reply


class SenderRefused(ReplyError):
    """MAIL FROM was refused."""


class RecipientsRefused(Exception):
    """Every RCPT TO was refused."""

    def __init__(self, refusals: dict[str, Reply]) -> None:
        super().__init__("; ".join(f"{address}: {r.code} {r.message}" for address, r in refusals.items()))
        self.refusals = refusals


class ProtocolError(ConnectionError):
    """The server said something that is not an SMTP reply; the connection cannot be trusted."""


def wire_data(data: bytes) -> bytes:
    """The DATA payload: CRLF line ends, dot-stuffed (RFC 5321 4.5.2), ending in ``CRLF.CRLF``."""
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        data = _BARE_LINE_END.sub(b"\r\n", data)
    if data.startswith(b"."):
        data = b"." + data
    if b"\n." in data:
        data = data.replace(b"\n.", b"\n..")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class _Session(asyncio.Protocol):
    """The mail transactions of one connection, after aiosmtplib has opened, secured and logged it in.

    One transaction at a time (the pool hands a connection to one sender at
    a time). Replies are parsed from the byte stream as they arrive and
    queued, so several pipelined replies in one read are all kept. Any
    timeout or garbled reply aborts the connection: after one, the replies
    could no longer be matched to their commands.
    """

    def __init__(
        self,
        transport: asyncio.Transport,
        *,
        pipelining: bool,
        size: bool,
        timeout: float,
        data_timeout: float | None = None,
    ) -> None:
        self._transport = transport
        self.pipelining = pipelining
        self._size = size
        self._timeout = timeout
        self._data_timeout = data_timeout if data_timeout is not None else timeout
        self._buffer = bytearray()
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost: str | None = None
        #: Set once the transport has really let go of its socket.
        self.closed = asyncio.Event()

    @classmethod
    def take_over(cls, client: aiosmtplib.SMTP, timeout: float, data_timeout: float | None = None) -> _Session:
        """Make ``client``'s connection ours; ``client`` must not be used afterwards."""
        transport = client.transport
        if not isinstance(transport, asyncio.Transport) or transport.is_closing():
            raise ConnectionResetError("the SMTP connection closed while it was being set up")
        session = cls(
            transport,
            pipelining=client.supports_extension("pipelining"),
            size=client.supports_extension("size"),
            timeout=timeout,
            data_timeout=data_timeout,
        )
        transport.set_protocol(session)
        return session

    @property
    def is_connected(self) -> bool:
        return self._lost is None and not self._transport.is_closing()

    @property
    def usable(self) -> bool:
        """Connected, with no reply waiting unread between transactions.

        A reply nobody asked for (a ``421`` before the server hangs up) would
        otherwise be taken for the answer to our next command.
        """
        return self.is_connected and not self._replies

    # ------------------------------------------------------------------ asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._parse()
        except ProtocolError as exc:
            self._lost = str(exc)
            self._transport.abort()
        self._wake()

    def eof_received(self) -> bool:
        self._lost = self._lost or "the server closed the connection"
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = self._lost or (f"connection lost: {exc}" if exc else "the server closed the connection")
        self.closed.set()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _parse(self) -> None:
        buffer = self._buffer
        while True:
            start, lines, code = 0, [], b""
            while True:
                end = buffer.find(b"\n", start)
                if end < 0:
                    if len(buffer) - start > MAX_REPLY_LINE:
                        raise ProtocolError("the server sent a reply line that is far too long")
                    return
                line = bytes(buffer[start : end + 1])
                start = end + 1
                code = line[:3]
                if not code.isdigit() or line[3:4] not in (b" ", b"-", b"\r", b"\n"):
                    raise ProtocolError(f"not an SMTP reply: {line[:80]!r}")
                lines.append(line[4:].strip(b" \t\r\n").decode("utf-8", "replace"))
                if line[3:4] != b"-":
                    break
            del buffer[:start]
            self._replies.append(Reply(int(code), "\n".join(lines)))

    # ------------------------------------------------------------------ commands

    def _write(self, data: bytes) -> None:
        if not self.is_connected:
            raise ConnectionResetError(self._lost or "the connection is closed")
        self._transport.write(data)

    async def _read(self, timeout: float | None = None) -> Reply:  # noqa: ASYNC109 - the reply timeout is the session's own
        while not self._replies:
            if self._lost is not None:
                raise ConnectionResetError(self._lost)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout if timeout is not None else self._timeout):
                    await self._waiter
            except TimeoutError:
                self.abort()
                raise TimeoutError("timed out waiting for the SMTP server's reply") from None
            finally:
                self._waiter = None
        return self._replies.popleft()

    async def command(self, line: bytes) -> Reply:
        self._write(line + b"\r\n")
        return await self._read()

    async def send(self, sender: str, recipients: Sequence[str], data: bytes) -> dict[str, Reply]:
        """One mail transaction; returns the refused recipients when some were accepted.

        Raises :class:`SenderRefused`, :class:`RecipientsRefused` or
        :class:`ReplyError` (DATA or the message refused); the server's
        transaction state is then left for an RSET.
        """
        try:
            mail = b"MAIL FROM:<" + sender.encode("ascii") + b">"
            rcpts = [b"RCPT TO:<" + address.encode("ascii") + b">" for address in recipients]
        except UnicodeEncodeError:
            raise ReplyError(Reply(553, "addresses must be ASCII (this server offers no SMTPUTF8)")) from None
        payload = wire_data(data)
        if self._size:
            mail += b" SIZE=%d" % len(payload)
        if self.pipelining:
            self._write(b"\r\n".join([mail, *rcpts, b"DATA"]) + b"\r\n")
            mail_reply = await self._read()
            rcpt_replies = [await self._read() for _ in rcpts]
            data_reply = await self._read()
        else:
            mail_reply = await self.command(mail)
            if not mail_reply.accepted:
                raise SenderRefused(mail_reply)
            rcpt_replies = [await self.command(rcpt) for rcpt in rcpts]
            if not any(r.accepted for r in rcpt_replies):
                raise RecipientsRefused(dict(zip(recipients, rcpt_replies, strict=True)))
            data_reply = await self.command(b"DATA")
        refused = {a: r for a, r in zip(recipients, rcpt_replies, strict=True) if not r.accepted}
        if not mail_reply.accepted or len(refused) == len(recipients):
            if data_reply.code == 354:
                # A server that took DATA regardless gets an empty message, which it then refuses.
                await self.command(b".")
            if not mail_reply.accepted:
                raise SenderRefused(mail_reply)
            raise RecipientsRefused(refused)
        if data_reply.code != 354:
            raise ReplyError(data_reply)
        self._write(payload)
        final = await self._read(self._data_timeout)
        if not final.accepted:
            raise ReplyError(final)
        return refused

    async def rset(self) -> None:
        reply = await self.command(b"RSET")
        if not reply.accepted:
            raise ReplyError(reply)

    async def quit(self) -> None:
        try:
            if self.is_connected:
                await self.command(b"QUIT")
        finally:
            self.close()

    def close(self) -> None:
        self._lost = self._lost or "closed"
        self._transport.close()

    def abort(self) -> None:
        self._lost = self._lost or "aborted"
        self._transport.abort()


@dataclass
class _Connection:
    session: _Session
    last_used: float
    sent: int = 0
    needs_reset: bool = False


def tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """Certificate verification on unless switched off; ``ca_file`` adds a trusted CA."""
    if not settings.verify_tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"smtp.ca_file = {settings.ca_file}: cannot load CA certificates ({exc})") from None


#: What a failed transaction or probe may raise besides the server's refusals.
_BROKEN = (aiosmtplib.SMTPException, OSError, TimeoutError)


class SmtpTransport(BaseTransport):
    def __init__(
        self,
        settings: SmtpSettings,
        *,
        local_hostname: str | None = None,
        max_messages_per_connection: int = MAX_MESSAGES_PER_CONNECTION,
        idle_probe_seconds: float = IDLE_PROBE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.host:
            raise ConfigError("smtp.host is empty; use the Maildir transport instead")
        self.settings = settings
        self._tls = tls_context(settings) if settings.security != "none" else None
        if settings.security != "none" and not settings.verify_tls:
            log.warning("TLS certificate verification is off for %s", settings.host, extra={"event": "smtp.insecure"})
        self._local_hostname = local_hostname
        self._max_messages = max_messages_per_connection
        self._idle_probe = idle_probe_seconds
        self._monotonic = monotonic
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._idle: list[_Connection] = []
        self._closed = False
        #: How many connections were opened so far (for logs and tests).
        self.connections_opened = 0
        #: Consecutive failures to connect, and until when (monotonic) the breaker stays open.
        self._connect_failures = 0
        self._open_until: float | None = None

    @property
    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    async def send(self, sender: str, recipients: list[str], data: bytes) -> Refusals:
        if self._closed:
            raise RuntimeError("send on a closed SMTP transport")
        if not recipients:
            raise PermanentDeliveryError("no recipients")
        async with self._slots:
            self._check_breaker()
            conn = await self._acquire()
            try:
                errors = await conn.session.send(sender, recipients, data)
            except RecipientsRefused as exc:
                conn.needs_reset = True
                raise _all_refused(exc) from exc
            except SenderRefused as exc:
                conn.needs_reset = True
                code, message = exc.reply.code, exc.reply.message
                if code == 552:  # the message is over the size limit: it never will fit
                    raise PermanentDeliveryError(f"message too large: {code} {message}", code=552) from exc
                raise TransientDeliveryError(
                    f"{self._where} refused the sender {sender}: {code} {message}",
                    code=code,
                    throttled=is_throttling(code, message),
                ) from exc
            except ReplyError as exc:
                conn.needs_reset = True
                raise _reply_error(exc.reply.code, exc.reply.message, "message") from exc
            except _BROKEN as exc:
                conn.needs_reset = True
                raise TransientDeliveryError(f"sending via {self._where} failed: {_describe(exc)}") from exc
            finally:
                conn.sent += 1
                await self._release(conn)
        refusals: Refusals = {}
        for address, response in errors.items():
            refusals[address] = _recipient_error(response, f"recipient {address}")
            log.warning(
                "recipient %s refused by %s: %s %s",
                address,
                self._where,
                response.code,
                response.message,
                extra={"event": "smtp.refused"},
            )
        return refusals

    async def _acquire(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.session.usable:
                conn.session.abort()
                continue
            if conn.needs_reset or self._monotonic() - conn.last_used > self._idle_probe:
                try:
                    await conn.session.rset()
                except (ReplyError, *_BROKEN):
                    conn.session.abort()
                    continue
                conn.needs_reset = False
            return conn
        return await self._connect()

    def _check_breaker(self) -> None:
        if self._open_until is None:
            return
        left = self._open_until - self._monotonic()
        if left > 0:
            raise TransientDeliveryError(
                f"{self._where} is not tried for another {left:.0f}s after "
                f"{self._connect_failures} failed connection attempts in a row"
            )
        self._open_until = None  # half open: the next connection decides

    def _connect_failed(self) -> None:
        self._connect_failures += 1
        s = self.settings
        if self._connect_failures >= s.breaker_failures and s.breaker_cooldown_seconds > 0:
            self._open_until = self._monotonic() + s.breaker_cooldown_seconds
            log.warning(
                "%d connection attempts to %s failed in a row; not trying it for %.0fs",
                self._connect_failures,
                self._where,
                s.breaker_cooldown_seconds,
                extra={"event": "smtp.breaker_open"},
            )

    async def _connect(self) -> _Connection:
        try:
            conn = await self._open()
        except TransientDeliveryError:
            self._connect_failed()
            raise
        self._connect_failures = 0
        self._open_until = None
        return conn

    async def _open(self) -> _Connection:
        s = self.settings
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            local_hostname=self._local_hostname,
            timeout=s.timeout_seconds,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            tls_context=self._tls,
        )
        try:
            await client.connect()
            if s.username:
                await client.login(s.username, s.password.get_secret_value())
            if client.is_ehlo_or_helo_needed:
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
            session = _Session.take_over(client, s.timeout_seconds, s.data_timeout_seconds)
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            raise TransientDeliveryError(
                f"{self._where} refused the login as {s.username!r}: {exc.code} {exc.message}", code=exc.code
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            raise TransientDeliveryError(
                f"{self._where} refused the connection: {exc.code} {exc.message}",
                code=exc.code,
                throttled=is_throttling(exc.code, exc.message),
            ) from exc
        except _BROKEN as exc:
            client.close()
            raise TransientDeliveryError(f"cannot connect to {self._where}: {_describe(exc)}") from exc
        self.connections_opened += 1
        log.debug(
            "connected to %s%s",
            self._where,
            " (pipelining)" if session.pipelining else "",
            extra={"event": "smtp.connect"},
        )
        return _Connection(session=session, last_used=self._monotonic())

    async def _release(self, conn: _Connection) -> None:
        conn.last_used = self._monotonic()
        if conn.session.usable and not self._closed and conn.sent < self._max_messages:
            self._idle.append(conn)
            return
        await self._quit(conn)

    async def _quit(self, conn: _Connection) -> None:
        with contextlib.suppress(ReplyError, *_BROKEN):
            async with asyncio.timeout(min(self.settings.timeout_seconds, 5.0)):
                await conn.session.quit()
        conn.session.close()
        # The socket is released when the loop runs the transport's close: wait for
        # it, so a loop that ends right after close() leaves no socket behind.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await conn.session.closed.wait()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(conn) for conn in idle))


def _reply_error(code: int, message: str, what: str) -> DeliveryError:
    text = f"{what}: {code} {message}".strip()
    if 500 <= code < 600:
        return PermanentDeliveryError(text, code=code)
    return TransientDeliveryError(text, code=code, throttled=is_throttling(code, message))


_ENHANCED_STATUS = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")
#: RCPT replies that refuse the mailbox itself (no such user, not local, bad syntax).
ADDRESS_CODES = frozenset({550, 551, 553})


def is_address_refusal(code: int, message: str) -> bool:
    """A permanent refusal of the address (550/551/553 with no enhanced code, or a 5.1.x one).

    A 550 with another enhanced code (5.7.1 "relaying denied", a spam
    verdict) refuses the message or us, not the mailbox.
    """
    if code not in ADDRESS_CODES:
        return False
    enhanced = _ENHANCED_STATUS.match(message.strip())
    return enhanced is None or enhanced.group(2) == "1"


#: Replies that always mean "slow down": service not available / closing (421), temporary
#: failure such as TLS or authentication being unavailable, used by relays for rate limits (454).
THROTTLING_CODES = frozenset({421, 454})


def is_throttling(code: int | None, message: str) -> bool:
    """A reply asking us to slow down: 421, 454, or 451 with an enhanced 4.7.x code.

    A plain 451 ("local error in processing", 4.3.0) is an ordinary
    temporary failure of this message, retried with the message's backoff;
    4.7.x is the policy class (RFC 3463) that Microsoft 365 and Google use
    for rate limits ("451 4.7.500 Server busy", "421 4.7.0 Try again later").
    """
    if code in THROTTLING_CODES:
        return True
    if code != 451:
        return False
    enhanced = _ENHANCED_STATUS.match(message.strip())
    return enhanced is not None and enhanced.group(1) == "4" and enhanced.group(2) == "7"


def _recipient_error(reply: Reply, what: str) -> DeliveryError:
    text = f"{what}: {reply.code} {reply.message}".strip()
    if 500 <= reply.code < 600:
        address = is_address_refusal(reply.code, reply.message)
        return PermanentDeliveryError(text, code=reply.code, address_refused=address)
    return TransientDeliveryError(text, code=reply.code, throttled=is_throttling(reply.code, reply.message))


def _all_refused(exc: RecipientsRefused) -> DeliveryError:
    """Every recipient refused: permanent only if every refusal was; the address is bad only if every one was."""
    refusals = exc.refusals
    detail = "; ".join(f"{address}: {r.code} {r.message}" for address, r in refusals.items())
    transient = [r for r in refusals.values() if not 500 <= r.code < 600]
    if transient:
        throttling = any(is_throttling(r.code, r.message) for r in transient)
        return TransientDeliveryError(f"all recipients refused: {detail}", code=transient[0].code, throttled=throttling)
    code = next(iter(refusals.values())).code if refusals else None
    address = bool(refusals) and all(is_address_refusal(r.code, r.message) for r in refusals.values())
    return PermanentDeliveryError(f"all recipients refused: {detail}", code=code, address_refused=address)


def _describe(exc: BaseException) -> str:
    """One line naming the real cause (a certificate problem hides under two wrappers)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed ({seen.verify_message})"
        seen = seen.__cause__ or seen.__context__
    return f"{type(exc).__name__}: {exc}"

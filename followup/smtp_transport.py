"""Sending through an SMTP server with aiosmtplib.

A small pool of open connections is reused across messages (a TLS handshake
and a login per message would cost more than the message), at most
``max_connections`` are busy at once, and each is replaced after a number of
messages or when the server drops it. A connection idle for a while, or one
whose last transaction failed, is checked with RSET before it carries a
message, so a connection the server timed out costs a reconnect rather than
a failed delivery.

Errors say whether retrying can help:

* 5xx replies to a recipient (RCPT) or to the message (DATA) are permanent:
  this message will not get through as it is. A message over the size limit
  (552 to MAIL) is permanent too.
* 4xx replies, timeouts and network errors are transient.
* Failures while connecting (TLS, certificate, login, a server refusing
  service) and refusals of our sender address are transient whatever their
  code: they are about our configuration or the server, not the message,
  and once an operator fixes them every queued message should still go out.

The password is read from its ``SecretStr`` only when logging in and is
never part of a message or log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiosmtplib

from followup.errors import ConfigError, DeliveryError, PermanentDeliveryError, TransientDeliveryError
from followup.settings import SmtpSettings
from followup.transport import BaseTransport, Refusals

log = logging.getLogger(__name__)

#: Servers often cap messages per connection; start a fresh one before that.
MAX_MESSAGES_PER_CONNECTION = 100
#: Probe a pooled connection with RSET when it has been idle longer than this.
IDLE_PROBE_SECONDS = 10.0


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
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

    @property
    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    async def send(self, sender: str, recipients: list[str], data: bytes) -> Refusals:
        if self._closed:
            raise RuntimeError("send on a closed SMTP transport")
        if not recipients:
            raise PermanentDeliveryError("no recipients")
        async with self._slots:
            conn = await self._acquire()
            try:
                errors, _ = await conn.client.sendmail(sender, recipients, data)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                conn.needs_reset = True
                raise _all_refused(exc) from exc
            except aiosmtplib.SMTPSenderRefused as exc:
                conn.needs_reset = True
                if exc.code == 552:  # the message is over the size limit: it never will fit
                    raise PermanentDeliveryError(f"message too large: {exc.code} {exc.message}", code=552) from exc
                raise TransientDeliveryError(
                    f"{self._where} refused the sender {sender}: {exc.code} {exc.message}", code=exc.code
                ) from exc
            except aiosmtplib.SMTPResponseException as exc:
                conn.needs_reset = True
                raise _reply_error(exc.code, exc.message, "message") from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                conn.needs_reset = True
                raise TransientDeliveryError(f"sending via {self._where} failed: {_describe(exc)}") from exc
            finally:
                conn.sent += 1
                await self._release(conn)
        refusals: Refusals = {}
        for address, response in errors.items():
            refusals[address] = _reply_error(response.code, response.message, f"recipient {address}")
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
            if not conn.client.is_connected:
                continue
            if conn.needs_reset or self._monotonic() - conn.last_used > self._idle_probe:
                try:
                    await conn.client.rset()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    conn.client.close()
                    continue
                conn.needs_reset = False
            return conn
        return await self._connect()

    async def _connect(self) -> _Connection:
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
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            raise TransientDeliveryError(
                f"{self._where} refused the login as {s.username!r}: {exc.code} {exc.message}", code=exc.code
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            raise TransientDeliveryError(
                f"{self._where} refused the connection: {exc.code} {exc.message}", code=exc.code
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            client.close()
            raise TransientDeliveryError(f"cannot connect to {self._where}: {_describe(exc)}") from exc
        self.connections_opened += 1
        log.debug("connected to %s", self._where, extra={"event": "smtp.connect"})
        return _Connection(client=client, last_used=self._monotonic())

    async def _release(self, conn: _Connection) -> None:
        conn.last_used = self._monotonic()
        if conn.client.is_connected and not self._closed and conn.sent < self._max_messages:
            self._idle.append(conn)
            return
        await self._quit(conn)

    async def _quit(self, conn: _Connection) -> None:
        if conn.client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await conn.client.quit(timeout=min(self.settings.timeout_seconds, 5.0))
        conn.client.close()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(conn) for conn in idle))


def _reply_error(code: int, message: str, what: str) -> DeliveryError:
    text = f"{what}: {code} {message}".strip()
    if 500 <= code < 600:
        return PermanentDeliveryError(text, code=code)
    return TransientDeliveryError(text, code=code)


def _all_refused(exc: aiosmtplib.SMTPRecipientsRefused) -> DeliveryError:
    """Every recipient refused: permanent only if every refusal was."""
    refusals = exc.recipients
    detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refusals)
    transient = [r for r in refusals if not 500 <= r.code < 600]
    if transient:
        return TransientDeliveryError(f"all recipients refused: {detail}", code=transient[0].code)
    code = refusals[0].code if refusals else None
    return PermanentDeliveryError(f"all recipients refused: {detail}", code=code)


def _describe(exc: BaseException) -> str:
    """One line naming the real cause (a certificate problem hides under two wrappers)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed ({seen.verify_message})"
        seen = seen.__cause__ or seen.__context__
    return f"{type(exc).__name__}: {exc}"

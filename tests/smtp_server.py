"""A real SMTP server for tests: aiosmtpd in the test's own event loop, on port 0.

Modelled on aiosmtplib's ``tests/smtpd.py``. The server runs in the same
loop as the test (no thread), so a handler can hold a transaction open on an
``asyncio.Event`` and tests can count concurrent transactions exactly.

The :class:`RecordingHandler` records every message that arrived and can be
scripted: replies to MAIL and DATA are consumed in order (``451`` then the
default ``250``), replies to RCPT are per address. :class:`SmtpServer` counts
connections, can require STARTTLS and AUTH, speak implicit TLS, and be
stopped and started again on the same port.

Use the fixtures from a test module with ``pytest_plugins = ["tests.smtp_server"]``
(or from ``tests/conftest.py``). Do not also import this module at the top of
a test module: pytest then cannot register it as a plugin (it warns, and
warnings are errors here); import names for type hints under
``TYPE_CHECKING`` and get everything else from the fixtures:

* ``tls_ca``: a trustme CA; ``ca_file``: its certificate as a PEM file.
* ``smtp_handler``: a fresh :class:`RecordingHandler`.
* ``smtp_server``: a plain server (no TLS, no AUTH) using ``smtp_handler``.
* ``smtp_tls_server``: STARTTLS required, AUTH required as
  ``SMTP_USER``/``SMTP_PASSWORD``, certificate for localhost/127.0.0.1 from ``tls_ca``.
* ``smtp_credentials``: ``(SMTP_USER, SMTP_PASSWORD)``.
* ``start_smtp_server``: ``await start_smtp_server(implicit_tls=True, ...)``
  starts a server with other options on ``smtp_handler``; stopped at teardown.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

SMTP_USER = "sender"
SMTP_PASSWORD = "correct horse battery staple"
HOST = "127.0.0.1"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    #: The login used, or None for an unauthenticated session.
    user: str | None
    tls: bool


@dataclass
class RecordingHandler:
    """aiosmtpd handler hooks that record and can be told what to answer."""

    messages: list[Received] = field(default_factory=list)
    #: Replies to MAIL FROM, used one per transaction until empty (then 250).
    mail_replies: deque[str] = field(default_factory=deque)
    #: Replies to RCPT TO for particular addresses (every time they appear).
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    #: Replies to DATA, used one per transaction until empty (then 250).
    data_replies: deque[str] = field(default_factory=deque)
    #: When set, DATA waits for this event before answering.
    gate: asyncio.Event | None = None
    #: Faults for the next transactions, one per transaction until empty: ``"drop"`` hangs up in
    #: the middle of DATA (nothing stored), ``"store-drop"`` stores the message and hangs up
    #: before answering, ``"slow:<seconds>"`` answers only after that long.
    data_faults: deque[str] = field(default_factory=deque)
    #: Seconds every DATA waits before it is answered (a slow server).
    delay: float = 0.0
    #: Called with each message as it is stored (from the server's loop).
    on_message: Callable[[Received], None] | None = None
    #: Called with each RCPT TO address before it is answered (from the server's loop).
    on_rcpt: Callable[[str], None] | None = None
    #: RSET commands received.
    resets: int = 0
    #: Transactions currently inside DATA, and the most seen at once.
    active: int = 0
    max_active: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _entered: asyncio.Event = field(default_factory=asyncio.Event)

    #: Advertise PIPELINING (aiosmtpd reads commands one line at a time, so it copes).
    pipelining: bool = False

    async def handle_EHLO(
        self, server: SMTPProtocol, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: SMTPProtocol, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.mail_replies:
            return self.mail_replies.popleft()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTPProtocol, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.on_rcpt is not None:
            self.on_rcpt(address)
        reply = self.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_RSET(self, server: SMTPProtocol, session: Session, envelope: Envelope) -> str:
        self.resets += 1
        return "250 OK"

    async def handle_DATA(self, server: SMTPProtocol, session: Session, envelope: Envelope) -> str:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self._entered.set()
        fault = self.data_faults.popleft() if self.data_faults else ""
        try:
            if self.gate is not None:
                await self.gate.wait()
            slow = float(fault.partition(":")[2]) if fault.startswith("slow:") else self.delay
            if slow:
                # A slow server is what this simulates, so here waiting is the point.
                await asyncio.sleep(slow)
            if fault == "drop":
                server.transport.abort()  # type: ignore[union-attr]
                return "421 dropped"
            if self.data_replies:
                reply = self.data_replies.popleft()
                if not reply.startswith("2"):
                    return reply
        finally:
            self.active -= 1
        content = envelope.original_content or b""
        user = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        received = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=content,
            user=user,
            tls=session.ssl is not None,
        )
        self.messages.append(received)
        if self.on_message is not None:
            self.on_message(received)
        self._arrived.set()
        if fault == "store-drop":
            server.transport.abort()  # type: ignore[union-attr]
        return "250 2.0.0 OK queued"

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until ``count`` messages have arrived (bounded by ``timeout``)."""
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.messages

    async def wait_active(self, count: int, timeout: float = 5.0) -> None:
        """Wait until ``count`` transactions are inside DATA at once."""
        async with asyncio.timeout(timeout):
            while self.active < count:
                self._entered.clear()
                await self._entered.wait()


class SmtpServer:
    """An aiosmtpd server in the running loop; restartable on the same port."""

    def __init__(
        self,
        handler: RecordingHandler,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        credentials: dict[str, str] | None = None,
        require_auth: bool = False,
    ) -> None:
        self.handler = handler
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.credentials = credentials or {}
        self.require_auth = require_auth
        self.port = 0
        #: Connections accepted so far (across restarts).
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._protocols: list[SMTPProtocol] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol,
            host=HOST,
            port=self.port,
            ssl=self.tls_context if self.implicit_tls else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _protocol(self) -> SMTPProtocol:
        self.connections += 1
        starttls = self.tls_context is not None and not self.implicit_tls
        protocol = SMTPProtocol(
            self.handler,
            hostname="localhost",
            tls_context=self.tls_context if starttls else None,
            require_starttls=starttls,
            auth_required=self.require_auth,
            # With implicit TLS aiosmtpd does not know the session is encrypted.
            auth_require_tls=not self.implicit_tls,
            authenticator=self._authenticate,
            loop=asyncio.get_running_loop(),
        )
        self._protocols.append(protocol)
        return protocol

    def _authenticate(
        self, server: SMTPProtocol, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = login in self.credentials and self.credentials[login] == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    async def stop(self) -> None:
        """Stop listening and drop every open connection (clients see the server go away)."""
        if self._server is None:
            return
        self._server.close()
        for protocol in self._protocols:
            if protocol.transport is not None:
                protocol.transport.close()
        self._protocols.clear()
        await self._server.wait_closed()
        self._server = None


class ThreadedSink:
    """A :class:`SmtpServer` in its own thread and loop, for tests that drive other processes.

    The test's thread waits for arrivals on a condition (``wait_for``), never by sleeping.
    """

    def __init__(self, handler: RecordingHandler | None = None) -> None:
        self.handler = handler or RecordingHandler()
        self.handler.on_message = self._arrived
        self._condition = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-sink", daemon=True)
        self._server = SmtpServer(self.handler)
        self.port = 0

    def __enter__(self) -> ThreadedSink:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._server.start(), self._loop).result(10)
        self.port = self._server.port
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _arrived(self, _message: Received) -> None:
        with self._condition:
            self._condition.notify_all()

    @property
    def count(self) -> int:
        return len(self.handler.messages)

    def wait_until(
        self, condition: Callable[[], bool], timeout: float, *, exited: subprocess.Popen[bytes] | None = None
    ) -> bool:
        """Wait until ``condition`` holds (checked at each arrival), or ``exited`` ends; False unless it holds."""
        if exited is not None:
            threading.Thread(target=self._notify_on_exit, args=(exited,), name="watch-exit", daemon=True).start()
        with self._condition:
            self._condition.wait_for(lambda: condition() or (exited is not None and exited.poll() is not None), timeout)
            return condition()

    def _notify_on_exit(self, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        with self._condition:
            self._condition.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` messages have arrived; False when ``timeout`` ran out first."""
        with self._condition:
            return self._condition.wait_for(lambda: len(self.handler.messages) >= count, timeout)


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(tls_ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path


def server_tls_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", HOST).configure_cert(context)
    return context


@pytest.fixture
def smtp_handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
async def smtp_server(smtp_handler: RecordingHandler) -> AsyncIterator[SmtpServer]:
    server = SmtpServer(smtp_handler)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def smtp_tls_server(smtp_handler: RecordingHandler, tls_ca: trustme.CA) -> AsyncIterator[SmtpServer]:
    server = SmtpServer(
        smtp_handler,
        tls_context=server_tls_context(tls_ca),
        credentials={SMTP_USER: SMTP_PASSWORD},
        require_auth=True,
    )
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def smtp_credentials() -> tuple[str, str]:
    return SMTP_USER, SMTP_PASSWORD


StartServer = Callable[..., Awaitable[SmtpServer]]


@pytest.fixture
async def start_smtp_server(smtp_handler: RecordingHandler, tls_ca: trustme.CA) -> AsyncIterator[StartServer]:
    """Start servers with other options; ``tls=True`` uses a certificate from ``tls_ca``."""
    started: list[SmtpServer] = []

    async def start(*, tls: bool = False, **options: Any) -> SmtpServer:
        context = server_tls_context(tls_ca) if tls else None
        server = SmtpServer(smtp_handler, tls_context=context, **options)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()

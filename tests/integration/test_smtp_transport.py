"""The SMTP transport against a real aiosmtpd server (in-process, port 0)."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from followup.errors import PermanentDeliveryError, TransientDeliveryError
from followup.outbound.compose import Composer, Mailbox
from followup.outbound.render import Rendered
from followup.outbound.transports import make_transport
from followup.outbound.transports.smtp import SmtpTransport
from followup.settings import MailSettings, Settings, SmtpSettings

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer, StartServer


HOST = "127.0.0.1"

NOW = datetime(2026, 8, 3, 14, 0, tzinfo=UTC)
SENDER = "ts@rcm.example.org"


def message(n: int = 1) -> bytes:
    rendered = Rendered(subject=f"Reminder {n}", text=f"Hola {n}, ¿qué tal?\n", html=f"<p>Hola {n}</p>", language="es")
    composer = Composer(MailSettings(), secret=b"s" * 32, tag="RCM")
    return composer.compose(
        rendered, kind="reminder", to=[Mailbox("ana@example.bz", "Ana")], now=NOW, notification_id=n
    ).data


def plain(port: int, **extra: object) -> SmtpSettings:
    return SmtpSettings.model_validate({"host": HOST, "port": port, "security": "none", "timeout_seconds": 5} | extra)


async def test_starttls_with_auth_and_verified_certificate(
    smtp_tls_server: SmtpServer, ca_file: Path, smtp_credentials: tuple[str, str]
) -> None:
    user, password = smtp_credentials
    settings = SmtpSettings(
        host="localhost",
        port=smtp_tls_server.port,
        security="starttls",
        username=user,
        password=password,  # type: ignore[arg-type]
        ca_file=ca_file,
        timeout_seconds=5,
    )
    async with SmtpTransport(settings, local_hostname="client.test") as transport:
        refused = await transport.send(SENDER, ["ana@example.bz", "luis@example.bz"], message())
    assert refused == {}
    [received] = smtp_tls_server.handler.messages
    assert received.tls is True
    assert received.user == user
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ["ana@example.bz", "luis@example.bz"]
    parsed = email.message_from_bytes(received.data, policy=email.policy.default)
    assert parsed["Subject"] == "Reminder 1"
    body = parsed.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == "Hola 1, ¿qué tal?\n"


async def test_untrusted_certificate_is_a_delivery_error(
    smtp_tls_server: SmtpServer, smtp_credentials: tuple[str, str]
) -> None:
    user, password = smtp_credentials
    # Verification on, but the server's CA is not trusted: no mail, a clear error.
    settings = SmtpSettings(
        host="localhost",
        port=smtp_tls_server.port,
        security="starttls",
        username=user,
        password=password,  # type: ignore[arg-type]
        timeout_seconds=5,
    )
    async with SmtpTransport(settings, local_hostname="client.test") as transport:
        with pytest.raises(TransientDeliveryError, match="certificate verification failed"):
            await transport.send(SENDER, ["ana@example.bz"], message())
    assert smtp_tls_server.handler.messages == []


async def test_wrong_password_is_reported_without_the_password(
    smtp_tls_server: SmtpServer, ca_file: Path, smtp_credentials: tuple[str, str]
) -> None:
    settings = SmtpSettings(
        host="localhost",
        port=smtp_tls_server.port,
        username=smtp_credentials[0],
        password="not the password",  # type: ignore[arg-type]
        ca_file=ca_file,
        timeout_seconds=5,
    )
    async with SmtpTransport(settings, local_hostname="client.test") as transport:
        with pytest.raises(TransientDeliveryError, match="refused the login") as caught:
            await transport.send(SENDER, ["ana@example.bz"], message())
    assert caught.value.code == 535
    assert "not the password" not in str(caught.value)
    assert smtp_tls_server.handler.messages == []


async def test_implicit_tls(start_smtp_server: StartServer, ca_file: Path) -> None:
    server = await start_smtp_server(tls=True, implicit_tls=True)
    settings = SmtpSettings(host="localhost", port=server.port, security="tls", ca_file=ca_file, timeout_seconds=5)
    async with SmtpTransport(settings, local_hostname="client.test") as transport:
        await transport.send(SENDER, ["ana@example.bz"], message())
    [received] = server.handler.messages
    assert received.rcpt_tos == ["ana@example.bz"]


async def test_451_is_transient_and_the_retry_succeeds(smtp_server: SmtpServer) -> None:
    smtp_server.handler.data_replies.append("451 4.3.0 Try again later")
    async with SmtpTransport(plain(smtp_server.port), local_hostname="client.test") as transport:
        with pytest.raises(TransientDeliveryError) as caught:
            await transport.send(SENDER, ["ana@example.bz"], message())
        assert caught.value.code == 451
        assert caught.value.permanent is False
        await transport.send(SENDER, ["ana@example.bz"], message())
        # The failed transaction did not cost the connection.
        assert transport.connections_opened == 1
    assert len(smtp_server.handler.messages) == 1


async def test_550_is_permanent(smtp_server: SmtpServer) -> None:
    smtp_server.handler.data_replies.append("550 5.7.1 Message rejected")
    async with SmtpTransport(plain(smtp_server.port), local_hostname="client.test") as transport:
        with pytest.raises(PermanentDeliveryError) as caught:
            await transport.send(SENDER, ["ana@example.bz"], message())
    assert caught.value.code == 550
    assert caught.value.permanent is True
    assert smtp_server.handler.messages == []


async def test_refused_sender_is_a_configuration_problem_not_the_message(smtp_server: SmtpServer) -> None:
    smtp_server.handler.mail_replies.extend(["553 5.7.1 Sender not allowed", "552 5.3.4 Message too big"])
    async with SmtpTransport(plain(smtp_server.port), local_hostname="client.test") as transport:
        with pytest.raises(TransientDeliveryError, match="refused the sender") as refused:
            await transport.send(SENDER, ["ana@example.bz"], message())
        with pytest.raises(PermanentDeliveryError, match="too large") as too_big:
            await transport.send(SENDER, ["ana@example.bz"], message())
        await transport.send(SENDER, ["ana@example.bz"], message())
    assert refused.value.code == 553
    assert too_big.value.code == 552
    assert len(smtp_server.handler.messages) == 1


async def test_one_recipient_refused_others_delivered(smtp_server: SmtpServer) -> None:
    smtp_server.handler.rcpt_replies["gone@example.bz"] = "550 5.1.1 No such user"
    async with SmtpTransport(plain(smtp_server.port), local_hostname="client.test") as transport:
        refused = await transport.send(SENDER, ["ana@example.bz", "gone@example.bz"], message())
    assert set(refused) == {"gone@example.bz"}
    assert isinstance(refused["gone@example.bz"], PermanentDeliveryError)
    assert refused["gone@example.bz"].code == 550
    [received] = smtp_server.handler.messages
    assert received.rcpt_tos == ["ana@example.bz"]


async def test_all_recipients_refused_is_an_error(smtp_server: SmtpServer) -> None:
    smtp_server.handler.rcpt_replies["gone@example.bz"] = "550 5.1.1 No such user"
    smtp_server.handler.rcpt_replies["full@example.bz"] = "452 4.2.2 Mailbox full"
    async with SmtpTransport(plain(smtp_server.port), local_hostname="client.test") as transport:
        with pytest.raises(PermanentDeliveryError) as permanent:
            await transport.send(SENDER, ["gone@example.bz"], message())
        # One of the refusals is temporary: worth retrying.
        with pytest.raises(TransientDeliveryError) as transient:
            await transport.send(SENDER, ["gone@example.bz", "full@example.bz"], message())
    assert permanent.value.code == 550
    assert transient.value.code == 452
    assert smtp_server.handler.messages == []


async def test_server_down_is_transient_and_the_same_transport_recovers(smtp_server: SmtpServer) -> None:
    async with SmtpTransport(plain(smtp_server.port), local_hostname="client.test") as transport:
        await transport.send(SENDER, ["ana@example.bz"], message(1))
        await smtp_server.stop()
        with pytest.raises(TransientDeliveryError) as caught:
            await transport.send(SENDER, ["ana@example.bz"], message(2))
        assert caught.value.code is None
        await smtp_server.start()
        await transport.send(SENDER, ["ana@example.bz"], message(3))
    subjects = [
        email.message_from_bytes(m.data, policy=email.policy.default)["Subject"] for m in smtp_server.handler.messages
    ]
    assert subjects == ["Reminder 1", "Reminder 3"]


async def test_connections_are_reused(smtp_server: SmtpServer) -> None:
    async with SmtpTransport(plain(smtp_server.port, max_connections=2), local_hostname="client.test") as transport:
        await asyncio.gather(*(transport.send(SENDER, ["ana@example.bz"], message(n)) for n in range(20)))
        for n in range(20, 25):
            await transport.send(SENDER, ["ana@example.bz"], message(n))
    assert len(smtp_server.handler.messages) == 25
    assert smtp_server.connections <= 2
    assert transport.connections_opened == smtp_server.connections


async def test_connection_replaced_after_its_message_quota(smtp_server: SmtpServer) -> None:
    settings = plain(smtp_server.port, max_connections=1)
    async with SmtpTransport(settings, local_hostname="client.test", max_messages_per_connection=3) as transport:
        for n in range(7):
            await transport.send(SENDER, ["ana@example.bz"], message(n))
    assert len(smtp_server.handler.messages) == 7
    assert smtp_server.connections == 3


async def test_idle_connection_is_checked_before_reuse(smtp_server: SmtpServer) -> None:
    # A clock we move, so a pooled connection can look idle without waiting.
    ticks = [0.0]
    settings = plain(smtp_server.port, max_connections=1)
    transport = SmtpTransport(settings, local_hostname="client.test", monotonic=lambda: ticks[0])
    async with transport:
        await transport.send(SENDER, ["ana@example.bz"], message(1))
        await transport.send(SENDER, ["ana@example.bz"], message(2))
        assert smtp_server.handler.resets == 0  # back to back: no probe
        ticks[0] += 60
        await transport.send(SENDER, ["ana@example.bz"], message(3))
        assert smtp_server.handler.resets == 1  # idle: probed with RSET, then reused
        assert transport.connections_opened == 1
        # The server restarts (as after its idle timeout): the pooled connection is dead.
        await smtp_server.stop()
        await smtp_server.start()
        ticks[0] += 60
        await transport.send(SENDER, ["ana@example.bz"], message(4))
    assert len(smtp_server.handler.messages) == 4
    assert transport.connections_opened == 2


async def test_concurrency_is_bounded(smtp_server: SmtpServer) -> None:
    gate = asyncio.Event()
    smtp_server.handler.gate = gate
    async with SmtpTransport(plain(smtp_server.port, max_connections=3), local_hostname="client.test") as transport:
        sends = [asyncio.create_task(transport.send(SENDER, ["ana@example.bz"], message(n))) for n in range(10)]
        await smtp_server.handler.wait_active(3)
        gate.set()
        await asyncio.wait_for(asyncio.gather(*sends), timeout=10)
    assert smtp_server.handler.max_active == 3
    assert len(smtp_server.handler.messages) == 10
    assert smtp_server.connections == 3


def test_make_transport_picks_smtp_when_a_host_is_set(tmp_path: Path) -> None:
    from followup.outbound.transports.maildir import MaildirTransport

    smtp = make_transport(Settings(smtp=SmtpSettings(host="mail.example.org")))
    maildir = make_transport(Settings(mail=MailSettings(maildir=tmp_path / "md")))
    assert isinstance(smtp, SmtpTransport)
    assert isinstance(maildir, MaildirTransport)

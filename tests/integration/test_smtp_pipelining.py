"""The transport's pipelined path (MAIL, RCPT and DATA in one write), against a server offering PIPELINING."""

from __future__ import annotations

import email
import email.policy
import logging
from typing import TYPE_CHECKING

import pytest

from followup.errors import PermanentDeliveryError, TransientDeliveryError
from followup.outbound.transports.smtp import SmtpTransport
from tests.integration.test_smtp_transport import SENDER, message, plain

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer


@pytest.fixture
def piped(smtp_server: SmtpServer) -> SmtpServer:
    smtp_server.handler.pipelining = True
    return smtp_server


async def test_pipelined_send_reuses_the_connection_and_keeps_dots(
    piped: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="followup.outbound.transports.smtp")
    body = message().replace(b"Hola 1", b".leading dot line\r\n..two dots\r\nHola 1")
    async with SmtpTransport(plain(piped.port), local_hostname="client.test") as transport:
        for _ in range(3):
            assert await transport.send(SENDER, ["ana@example.bz", "luis@example.bz"], body) == {}
    assert len(piped.handler.messages) == 3
    assert piped.connections == 1
    assert any("(pipelining)" in r.getMessage() for r in caplog.records)  # the pipelined path was taken
    received = piped.handler.messages[0]
    assert received.rcpt_tos == ["ana@example.bz", "luis@example.bz"]
    assert b"\r\n.leading dot line\r\n..two dots\r\n" in received.data
    assert email.message_from_bytes(received.data, policy=email.policy.default)["Subject"] == "Reminder 1"


async def test_pipelined_partial_and_total_refusals(piped: SmtpServer) -> None:
    piped.handler.rcpt_replies["luis@example.bz"] = "550 5.1.1 no such user"
    async with SmtpTransport(plain(piped.port), local_hostname="client.test") as transport:
        refused = await transport.send(SENDER, ["ana@example.bz", "luis@example.bz"], message())
        assert list(refused) == ["luis@example.bz"]
        assert refused["luis@example.bz"].permanent
        with pytest.raises(PermanentDeliveryError):
            await transport.send(SENDER, ["luis@example.bz"], message(2))
        # The connection survives a refused transaction and the next message goes through.
        assert await transport.send(SENDER, ["ana@example.bz"], message(3)) == {}
    assert [m.rcpt_tos for m in piped.handler.messages] == [["ana@example.bz"], ["ana@example.bz"]]


async def test_pipelined_data_4xx_is_transient_then_success(piped: SmtpServer) -> None:
    piped.handler.data_replies.append("451 4.3.0 try later")
    async with SmtpTransport(plain(piped.port), local_hostname="client.test") as transport:
        with pytest.raises(TransientDeliveryError):
            await transport.send(SENDER, ["ana@example.bz"], message())
        assert await transport.send(SENDER, ["ana@example.bz"], message(2)) == {}
    assert len(piped.handler.messages) == 1

"""Where composed messages go: an SMTP server, or a local Maildir.

A transport takes the envelope and the wire bytes (from
:mod:`followup.compose`) and either delivers them or raises a
:class:`~followup.errors.DeliveryError` that says whether retrying can help.
It returns the recipients the server refused while accepting the others, so
the caller can record a dead copy address without failing the whole message.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from followup.errors import DeliveryError

if TYPE_CHECKING:
    from followup.settings import Settings

#: Recipient address -> why it was refused (a transient or permanent error with its code).
Refusals = dict[str, DeliveryError]


class Transport(Protocol):
    async def send(self, sender: str, recipients: list[str], data: bytes) -> Refusals:
        """Deliver one message; raise a DeliveryError when no recipient got it."""
        ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class BaseTransport:
    """``async with`` support for transports: closing on the way out."""

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def make_transport(settings: Settings) -> Transport:
    """SMTP when a host is configured, else the local Maildir."""
    if settings.uses_smtp:
        from followup.smtp_transport import SmtpTransport

        return SmtpTransport(settings.smtp)
    from followup.maildir_transport import MaildirTransport

    return MaildirTransport(settings.mail.maildir)

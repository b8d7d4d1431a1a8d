"""What every transport is: deliver wire bytes, or say whether retrying can help.

A transport takes the envelope and the wire bytes (from
:mod:`followup.outbound.compose`) and either delivers them or raises a
:class:`~followup.errors.DeliveryError` that says whether retrying can help.
It returns the recipients the server refused while accepting the others, so
the caller can record a dead copy address without failing the whole message.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from followup.errors import DeliveryError

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

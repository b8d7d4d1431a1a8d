"""One typed error hierarchy for the whole package.

The CLI turns any :class:`FollowupError` into one line on stderr and the
error's ``exit_code``; anything else is a bug and is shown as one line too
(with the traceback only under ``--debug``). Delivery errors say whether they
are worth retrying, so the outbox never has to guess from a message string.
"""

from __future__ import annotations

from dataclasses import dataclass


class FollowupError(Exception):
    """Base class: a problem the user can understand and act on."""

    exit_code: int = 1


class ConfigError(FollowupError, ValueError):
    """A setting is missing or has a value that cannot be used."""

    exit_code = 2


class UsageError(FollowupError, ValueError):
    """A command-line argument is wrong (bad id, bad date, bad option mix)."""

    exit_code = 2


class NotFoundError(FollowupError, LookupError):
    """A referenced object (assignment, contact, message) does not exist."""


class StateError(FollowupError):
    """The requested change does not fit the object's current state."""


class DatabaseError(FollowupError):
    """The database cannot be reached or its schema is not what we expect."""


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file, located by file and line."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class DataFileError(FollowupError):
    """One or more problems in data files; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ImportPlanError(FollowupError):
    """A plan-of-action document could not be read as a plan table."""


class DeliveryError(FollowupError):
    """Sending a message failed. ``permanent`` decides retry versus give up.

    ``address_refused`` says the server refused the recipient's address
    itself (550/551/553, enhanced status 5.1.x, to RCPT): only then is the
    contact's address in doubt. A refusal of the message (552, 554, any 5xx
    after DATA) fails that one notification and says nothing about the
    address.

    ``throttled`` says the relay asked us to slow down (421, 451 with an
    enhanced 4.7.x code, 454): the message is fine and so is the address;
    it goes out later, without counting as a failed attempt.
    """

    permanent: bool = False

    def __init__(
        self, message: str, *, code: int | None = None, address_refused: bool = False, throttled: bool = False
    ) -> None:
        super().__init__(message)
        self.code = code
        self.address_refused = address_refused
        self.throttled = throttled


class TransientDeliveryError(DeliveryError, ConnectionError):
    """Network trouble or a 4xx reply: try again later."""

    permanent = False


class PermanentDeliveryError(DeliveryError):
    """A 5xx reply or an unusable address: retrying will not help."""

    permanent = True


class InboundError(FollowupError):
    """A mailbox or message source could not be read."""

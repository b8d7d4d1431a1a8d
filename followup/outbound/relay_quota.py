"""The relay's quota row, shared by every dispatcher on one database, updated by compare-and-set.

Each change reads the row, applies a pure rule from :mod:`.relay_limits`
and writes the result back with ``UPDATE ... WHERE relay = ? AND version =
?``. If another daemon changed the row in between, no row matches and the
change is made again on what that daemon wrote; so two daemons never both
spend the last token, on SQLite (writers serialised) as on PostgreSQL
(READ COMMITTED re-checks the ``version`` condition on the row it updates).
No lock is held while a message is sent.

The instants are the dispatcher's clock (its real time, not the instant a
tick plans for); nothing here reads the system clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from followup.clock import as_utc
from followup.outbound.outbox import MAX_ERROR_CHARS, backoff_seconds
from followup.outbound.relay_limits import Decision, Limits, RelayState, recovered, refill, room, take, throttled
from followup.settings import Settings

RELAY = SQLModel.metadata.tables["relay_quota"]
#: Compare-and-set rounds before giving up (each lost round means another daemon made progress).
MAX_ROUNDS = 100
T = TypeVar("T")


class QuotaContention(RuntimeError):
    """The row kept changing under us for :data:`MAX_ROUNDS` rounds (cannot happen with a few daemons)."""


def relay_key(settings: Settings) -> str:
    """Which quota a daemon spends: the account at the relay (quotas are per mailbox), or the Maildir."""
    smtp = settings.smtp
    if not settings.uses_smtp:
        return "maildir"
    user = f"{smtp.username}@" if smtp.username else ""
    return f"smtp://{user}{smtp.host.lower()}:{smtp.port}"[:255]


@dataclass(frozen=True)
class RelayQuota:
    engine: Engine
    relay: str
    limits: Limits
    pause_seconds: float = 60.0
    max_pause_seconds: float = 1800.0

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings) -> RelayQuota:
        smtp = settings.smtp
        return cls(
            engine,
            relay_key(settings),
            Limits(smtp.messages_per_minute, smtp.recipients_per_day),
            smtp.throttle_pause_seconds,
            smtp.throttle_max_pause_seconds,
        )

    def state(self, at: datetime) -> RelayState:
        """The relay as of ``at`` (read only)."""
        with self.engine.connect() as conn:
            found = _read(conn, self.relay)
        return refill(found[0] if found else RelayState(), self.limits, as_utc(at))

    def room(self, at: datetime) -> int:
        """How many messages could go now (:func:`~followup.outbound.relay_limits.room`)."""
        return room(self.state(at), self.limits, as_utc(at))

    def acquire(self, at: datetime, recipients: int) -> Decision:
        """Take one message to ``recipients`` addresses from the quota, or say when to try again."""
        at = as_utc(at)

        def change(state: RelayState) -> tuple[RelayState, Decision]:
            decision = take(state, self.limits, at, recipients)
            return decision.state, decision

        return self._update(change)

    def throttled(self, at: datetime, error: str) -> RelayState:
        """The relay answered with throttling: pause it, longer for each such answer in a row."""
        at = as_utc(at)

        def change(state: RelayState) -> tuple[RelayState, RelayState]:
            pause = backoff_seconds(state.strikes + 1, self.pause_seconds, self.max_pause_seconds)
            new = throttled(refill(state, self.limits, at), at, pause, error[:MAX_ERROR_CHARS])
            return new, new

        return self._update(change)

    def recovered(self, at: datetime) -> None:
        """A message went through after throttling: the next pause starts short again."""
        at = as_utc(at)
        self._update(lambda state: (recovered(state, at), None))

    def _update(self, change: Callable[[RelayState], tuple[RelayState, T]]) -> T:
        for _ in range(MAX_ROUNDS):
            with self.engine.begin() as conn:
                found = _read(conn, self.relay)
                if found is None:
                    if not _create(conn, self.relay):
                        continue  # another daemon created it first: read theirs
                    found = (RelayState(), 0)
                state, version = found
                new, answer = change(state)
                if new == state:
                    return answer
                values = _values(new)
                done = conn.execute(
                    sa.update(RELAY)
                    .where(RELAY.c.relay == self.relay, RELAY.c.version == version)
                    .values(**values, version=version + 1)
                )
                if done.rowcount == 1:
                    return answer
        raise QuotaContention(f"the quota row of {self.relay} kept changing; gave up after {MAX_ROUNDS} rounds")


def _read(conn: Connection, relay: str) -> tuple[RelayState, int] | None:
    row = conn.execute(sa.select(RELAY).where(RELAY.c.relay == relay)).first()
    if row is None:
        return None
    state = RelayState(
        tokens=float(row.tokens),
        refilled_at=_utc(row.refilled_at),
        hour=int(row.hour),
        hour_counts=tuple(int(n) for n in row.hour_counts or ()),
        paused_until=_utc(row.paused_until),
        strikes=int(row.strikes),
        last_error=row.last_error,
    )
    return state, int(row.version)


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _create(conn: Connection, relay: str) -> bool:
    """Insert the relay's row (empty state, version 0); False when it exists already."""
    insert: Any
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    done = conn.execute(insert(RELAY).values(relay=relay, **_values(RelayState()), version=0).on_conflict_do_nothing())
    return bool(done.rowcount == 1)


def _values(state: RelayState) -> dict[str, Any]:
    return {
        "tokens": state.tokens,
        "refilled_at": state.refilled_at,
        "hour": state.hour,
        "hour_counts": list(state.hour_counts),
        "paused_until": state.paused_until,
        "strikes": state.strikes,
        "last_error": state.last_error,
    }

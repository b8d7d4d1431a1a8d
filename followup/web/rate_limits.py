"""Rate limits shared by every web process: counted in the database, not in memory.

A limit kept in each process's memory multiplies with the processes behind a
proxy (three processes, three times the login attempts). Here an event adds
one to a row ``(key, slot)`` of ``rate_count``, and a key's count is the sum
of its slots still inside the window: a sliding window in steps of a slot
(a tenth of the window), so an event is forgotten between ``window`` and
``window + slot`` after it happened.

The increment and the check are one transaction: the row's update makes a
second process counting the same key wait for the first, so concurrent
requests cannot both slip under the limit (on PostgreSQL a slot boundary
between the two is the only gap, and it is one event wide). An event refused
for being over the limit is not counted. Rows past their window are purged
now and then by whichever process is counting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from followup.store.models import RateCount

RATE = SQLModel.metadata.tables[RateCount.__tablename__]
#: Slots per window: the window slides in steps of a tenth of its length.
SLOTS = 10
#: Counted events between purges of expired rows (per process and limit).
PURGE_EVERY = 500
#: Longest key kept (an address or an account, with the limit's name before it).
MAX_KEY = 200


def slot_of(epoch: int, slot_seconds: int) -> int:
    """Start of the slot an instant (Unix seconds) falls in."""
    return epoch - epoch % slot_seconds


@dataclass
class SharedRateLimit:
    """At most ``limit`` events per key in a sliding ``window``, across every process using ``engine``."""

    engine: Engine
    #: Prefix of every key, so two limits never count each other's events.
    name: str
    limit: int
    window: timedelta
    _hits: int = field(default=0, repr=False)

    @property
    def _window_seconds(self) -> int:
        return max(1, int(self.window.total_seconds()))

    @property
    def _slot_seconds(self) -> int:
        return max(1, self._window_seconds // SLOTS)

    def _key(self, key: str) -> str:
        return f"{self.name}:{key}"[:MAX_KEY]

    def _count(self, conn: Connection, key: str, epoch: int) -> int:
        total: int = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(RATE.c.count), 0)).where(
                RATE.c.key == key, RATE.c.slot > epoch - self._window_seconds
            )
        ).scalar_one()
        return total

    def blocked(self, key: str, now: datetime) -> bool:
        with self.engine.connect() as conn:
            return self._count(conn, self._key(key), int(now.timestamp())) >= self.limit

    def hit(self, key: str, now: datetime) -> bool:
        """Count one event; False when the key was already at its limit (the event is not counted)."""
        epoch = int(now.timestamp())
        slot = slot_of(epoch, self._slot_seconds)
        full_key = self._key(key)
        values: dict[str, Any] = {
            "key": full_key,
            "slot": slot,
            "count": 1,
            "expires": slot + self._window_seconds,
        }
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        upsert = dialect.insert(RATE).values(values)
        upsert = upsert.on_conflict_do_update(
            index_elements=[RATE.c.key, RATE.c.slot], set_={"count": RATE.c.count + 1}
        )
        with self.engine.connect() as conn:
            transaction = conn.begin()
            conn.execute(upsert)
            if self._count(conn, full_key, epoch) > self.limit:
                transaction.rollback()
                return False
            transaction.commit()
        self._hits += 1
        if self._hits % PURGE_EVERY == 0:
            self.purge(now)
        return True

    def reset(self, key: str) -> None:
        """Forget every event of ``key`` (a successful login clears its account's failures)."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(RATE).where(RATE.c.key == self._key(key)))

    def purge(self, now: datetime) -> int:
        """Delete the rows of every limit that no longer count; return how many."""
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(RATE).where(RATE.c.expires <= int(now.timestamp()))).rowcount

"""One dispatch tick against a large database: does its cost follow the work due, or the table?

``Dispatcher.tick(now)`` (plan, claim, build, send to the sink, record) on a
database of ``large`` assignments, and on one of ``small``, with the same
number due in both. A tick should cost in proportion to what is due, so the
two should take about as long: the target is tick(large) <= 1.5 x
tick(small).

Each size gets a warm-up tick (templates compiled, holiday calendars and the
SQLite page cache loaded, SMTP connections opened), then ``repeats``
measured ticks; before each, the outbox and event log are emptied so every
tick does the same work. The medians are compared. Every tick must plan and
send exactly ``due`` emails, and the sink must have received them.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Figure, Log, Outcome, bench_settings, median, spread
from bench.data import NOW, TICK_PARTIES, count_rows, reset_outbox, sqlite_url, tick_db
from bench.sink import SinkProcess, make_sink
from followup.daemon.services import Mailer
from followup.store.db import make_engine

#: tick(large) may take at most this many times tick(small).
TARGET_RATIO = 1.5


@dataclass(frozen=True)
class TickSizes:
    small: int
    large: int
    due: int
    parties: int = TICK_PARTIES


FULL = TickSizes(small=10_000, large=1_000_000, due=1_000)
QUICK = TickSizes(small=2_000, large=20_000, due=200, parties=200)


class TickMismatch(RuntimeError):
    """A tick did not plan or send what it should have."""


async def measure(db: Path, sink: SinkProcess, due: int, repeats: int, workdir: Path) -> list[float]:
    """Seconds per tick, ``repeats`` times after one warm-up."""
    settings = bench_settings(workdir, db, sink.port)
    engine = make_engine(sqlite_url(db))
    mailer = Mailer.create(engine, settings)
    seconds: list[float] = []
    try:
        for attempt in range(repeats + 1):
            reset_outbox(engine)
            before = sink.stats()
            started = time.perf_counter()
            result = await mailer.dispatcher.tick(NOW)
            elapsed = time.perf_counter() - started
            after = sink.stats()
            arrived = after.messages - before.messages if before and after else due
            if result.plan.planned != due or result.sent != due or arrived != due:
                raise TickMismatch(
                    f"{db.name}: planned {result.plan.planned}, sent {result.sent}, "
                    f"sink received {arrived}; expected {due} each"
                )
            if attempt:
                seconds.append(elapsed)
        if count_rows(engine, "notification", state="sent") != due:
            raise TickMismatch(f"{db.name}: the ledger does not record {due} sent emails")
    finally:
        await mailer.close()
        reset_outbox(engine)
        engine.dispose()
    return seconds


def run(sizes: TickSizes, repeats: int, log: Log, *, sink: str = "asyncio") -> Outcome:
    small_db = tick_db(sizes.small, sizes.due, parties=sizes.parties, log=log)
    large_db = tick_db(sizes.large, sizes.due, parties=sizes.parties, log=log)
    with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp, make_sink(sink) as server:
        workdir = Path(tmp)
        small = asyncio.run(measure(small_db, server, sizes.due, repeats, workdir))
        log(f"tick: {sizes.small:,} assignments: {', '.join(f'{s:.3f}' for s in small)} s")
        large = asyncio.run(measure(large_db, server, sizes.due, repeats, workdir))
        log(f"tick: {sizes.large:,} assignments: {', '.join(f'{s:.3f}' for s in large)} s")
    return outcome(sizes, small, large)


def outcome(sizes: TickSizes, small: list[float], large: list[float]) -> Outcome:
    ratio = median(large) / median(small)
    name = f"tick ({sizes.due:,} due)"
    return Outcome(
        name,
        [
            Figure(name, f"tick, {sizes.small:,} assignments", f"{median(small):.3f} s", note=spread(small)),
            Figure(name, f"tick, {sizes.large:,} assignments", f"{median(large):.3f} s", note=spread(large)),
            Figure(
                name,
                f"ratio {sizes.large:,}/{sizes.small:,} (target <= {TARGET_RATIO:g}x)",
                f"{ratio:.2f}x",
                ok=ratio <= TARGET_RATIO,
            ),
        ],
    )

"""One dispatch tick against a large database: does its cost follow the work due, or the table?

``Dispatcher.tick(now)`` (plan, claim, build, send to the sink, record) on a
database of ``large`` assignments, and on one of ``small``, with the same
number due in both. A tick should cost in proportion to what is due, so the
two should take about as long: the target is tick(large) <= 1.5 x
tick(small). The large database is measured as built and again with
years of mail history added (:mod:`bench.history`: ten million
notifications and as many events at full size), whose tick must cost the
same; and a database whose due dates fall on every day of ten years, whose
planner window holds more work (its ratio is printed, without a target).

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

import sqlalchemy as sa

from bench.common import Figure, Log, Outcome, bench_settings, median, spread
from bench.data import NOTIFICATION, NOW, TICK_PARTIES, last_ids, reset_outbox, sqlite_url, tick_contact, tick_db
from bench.history import with_history
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
    #: Notifications (and as many events) of history added to a copy of the large database.
    history: int = 10_000_000


FULL = TickSizes(small=10_000, large=1_000_000, due=1_000)
QUICK = TickSizes(small=2_000, large=20_000, due=200, parties=200, history=200_000)


class TickMismatch(RuntimeError):
    """A tick did not plan or send what it should have."""


@dataclass
class Measured:
    seconds: list[float]
    #: Emails each tick sent (the spread database's window holds more than the ``due`` ones).
    sent: int


async def measure(
    db: Path, sink: SinkProcess, due: int, repeats: int, workdir: Path, *, exact: bool = True
) -> Measured:
    """Seconds per tick, ``repeats`` times after one warm-up; ``exact``: exactly ``due`` emails each time."""
    settings = bench_settings(workdir, db, sink.port)
    engine = make_engine(sqlite_url(db))
    keep = last_ids(engine)
    mailer = Mailer.create(engine, settings)
    seconds: list[float] = []
    sent = 0
    try:
        for attempt in range(repeats + 1):
            reset_outbox(engine, keep)
            before = sink.stats()
            started = time.perf_counter()
            result = await mailer.dispatcher.tick(NOW)
            elapsed = time.perf_counter() - started
            after = sink.stats()
            arrived = after.messages - before.messages if before and after else result.sent
            wrong = (result.plan.planned, result.sent, arrived) != (due, due, due)
            if wrong if exact else result.sent < due or arrived != result.sent:
                raise TickMismatch(
                    f"{db.name}: planned {result.plan.planned}, sent {result.sent}, "
                    f"sink received {arrived}; expected {due} each"
                )
            sent = result.sent
            if attempt:
                seconds.append(elapsed)
        with engine.connect() as conn:
            recorded = conn.execute(
                sa.select(sa.func.count()).where(NOTIFICATION.c.id > keep[0], NOTIFICATION.c.state == "sent")
            ).scalar_one()
        # One email may carry several rows (a contact's items merged); with exactly one each, rows = emails.
        if recorded != sent if exact else recorded < sent:
            raise TickMismatch(f"{db.name}: the ledger records {recorded} sent rows for {sent} emails")
    finally:
        await mailer.close()
        reset_outbox(engine, keep)
        engine.dispose()
    return Measured(seconds, sent)


def run(sizes: TickSizes, repeats: int, log: Log, *, sink: str = "asyncio") -> Outcome:
    small_db = tick_db(sizes.small, sizes.due, parties=sizes.parties, log=log)
    large_db = tick_db(sizes.large, sizes.due, parties=sizes.parties, log=log)
    spread_db = tick_db(sizes.large, sizes.due, parties=sizes.parties, spread=True, log=log)
    parties, due = sizes.parties, sizes.due
    history_db = with_history(
        large_db,
        sizes.history,
        # Resolved assignments of the other commitments, each to its party's focal point.
        lambda i: parties + 1 + (i * 7919) % (sizes.large - parties),
        lambda aid: tick_contact(aid, parties),
        log=log,
    )
    runs: dict[str, Measured] = {}
    with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp, make_sink(sink) as server:
        workdir = Path(tmp)
        for label, db, exact in (
            ("small", small_db, True),
            ("large", large_db, True),
            ("history", history_db, True),
            ("spread", spread_db, False),
        ):
            runs[label] = asyncio.run(measure(db, server, due, repeats, workdir, exact=exact))
            log(f"tick: {label} ({db.name}): {', '.join(f'{s:.3f}' for s in runs[label].seconds)} s")
    return outcome(sizes, runs)


def outcome(sizes: TickSizes, runs: dict[str, Measured]) -> Outcome:
    small = median(runs["small"].seconds)
    name = f"tick ({sizes.due:,} due)"
    history = f"{sizes.large:,} assignments + {sizes.history:,} notifications and events of history"
    lines = [
        ("small", f"tick, {sizes.small:,} assignments, no history", True),
        ("large", f"tick, {sizes.large:,} assignments, no history", True),
        ("history", f"tick, {history}", True),
        ("spread", f"tick, {sizes.large:,} assignments due over ten years ({runs['spread'].sent:,} emails)", False),
    ]
    figures = []
    for label, measure_name, targeted in lines:
        seconds = runs[label].seconds
        figures.append(Figure(name, measure_name, f"{median(seconds):.3f} s", note=spread(seconds)))
        if label != "small":
            ratio = median(seconds) / small
            target = f" (target <= {TARGET_RATIO:g}x)" if targeted else " (more emails: indicative)"
            figures.append(
                Figure(
                    name,
                    f"ratio {label}/small{target}",
                    f"{ratio:.2f}x",
                    ok=ratio <= TARGET_RATIO if targeted else None,
                )
            )
    return Outcome(name, figures)

"""The benchmark's building blocks at tiny sizes: the sink, the data, both send loops, the tick, the table.

Behaviour only: these prove that ``make bench`` measures what it says (every
message reaches the sink, the ledger agrees, a tick sends exactly what is
due), never how fast anything is.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import send, tick
from bench.__main__ import BENCHMARKS, main, table
from bench.common import Figure, Outcome, bench_settings
from bench.data import (
    DUE,
    NOW,
    build_send_db,
    build_tick_db,
    count_rows,
    reset_outbox,
    sqlite_url,
    tick_contact,
    tick_db,
)
from bench.history import with_history
from bench.sink import SinkProcess, wire_commands
from followup.daemon import services
from followup.daemon.services import Mailer
from followup.schedule.planner import due_date_range
from followup.schedule.policy import load_policies
from followup.store.db import make_engine


@pytest.fixture
def sink() -> Iterator[SinkProcess]:
    with SinkProcess() as server:
        yield server


def test_the_sink_counts_messages_recipients_and_pipelined_commands(sink: SinkProcess) -> None:
    with smtplib.SMTP("127.0.0.1", sink.port, local_hostname="bench.test") as client:
        client.ehlo()
        assert client.has_extn("pipelining")
        client.sendmail("ts@rcm.example.org", ["a@x.example", "b@x.example"], b"Subject: one\r\n\r\n.dot line\r\n")
        client.sendmail("ts@rcm.example.org", ["c@x.example"], b"")
    # MAIL, RCPT and DATA in one write, the body split across writes, then RSET and NOOP.
    with wire_commands(sink.port) as (write, read):
        write(b"EHLO bench.test\r\nMAIL FROM:<ts@rcm.example.org>\r\nRCPT TO:<d@x.example>\r\nDATA\r\n")
        assert [read()[:3] for _ in range(4)] == [b"250", b"250", b"250", b"354"]
        write(b"Subject: two\r\n\r\nhello\r")
        write(b"\n.\r\nRSET\r\nNOOP\r\n")
        assert [read()[:3] for _ in range(3)] == [b"250", b"250", b"250"]
    stats = sink.stats()
    assert stats is not None
    assert (stats.messages, stats.recipients) == (3, 4)


def test_the_send_database_has_one_due_reminder_per_contact(tmp_path: Path) -> None:
    db = build_send_db(tmp_path / "send.db", 20)
    engine = make_engine(sqlite_url(db))
    try:
        assert count_rows(engine, "contact") == count_rows(engine, "party") == 20
        assert count_rows(engine, "assignment", state="pending", due_date=DUE) == 20
    finally:
        engine.dispose()


async def test_the_daemon_path_sends_every_reminder_once_and_records_it(tmp_path: Path, sink: SinkProcess) -> None:
    db = build_send_db(tmp_path / "send.db", 20)
    run = await send.daemon_send(db, sink, 20, tmp_path)
    assert run.messages == 20
    assert run.seconds > 0
    engine = make_engine(sqlite_url(db))
    assert count_rows(engine, "notification", state="sent") == 20
    with engine.connect() as conn:
        ids: list[str | None] = list(conn.exec_driver_sql("SELECT message_id FROM notification").scalars())
    assert len(set(ids)) == 20 and all(i and i.startswith("<") for i in ids)  # each email its own Message-ID
    # A second tick finds nothing due: nothing goes out twice.
    mailer = Mailer.create(engine, bench_settings(tmp_path, db, sink.port))
    try:
        again = await services.tick(mailer, NOW)
    finally:
        await mailer.close()
        engine.dispose()
    assert (again.plan.planned, again.sent) == (0, 0)


def test_the_sink_can_answer_each_message_late_without_losing_pipelined_commands() -> None:
    with SinkProcess(latency=0.2) as slow, wire_commands(slow.port) as (write, read):
        write(b"EHLO bench.test\r\nMAIL FROM:<ts@rcm.example.org>\r\nRCPT TO:<d@x.example>\r\nDATA\r\n")
        assert [read()[:3] for _ in range(4)] == [b"250", b"250", b"250", b"354"]
        started = time.perf_counter()
        write(b"Subject: late\r\n\r\nhello\r\n.\r\nNOOP\r\n")
        assert [read()[:3] for _ in range(2)] == [b"250", b"250"]
        assert time.perf_counter() - started >= 0.2  # behaviour: the answer waited for the latency
        stats = slow.stats()
        assert stats is not None and stats.messages == 1


async def test_the_paced_run_sends_everything_within_the_quota_on_a_simulated_clock(
    tmp_path: Path, sink: SinkProcess
) -> None:
    db = build_send_db(tmp_path / "paced.db", 25)
    run = await send.paced_send(db, sink, 25, tmp_path, per_minute=10)
    assert (run.messages, run.minutes, run.busiest_minute, run.refused) == (25, 3, 10, 0)


def test_the_naive_loop_sends_messages_of_the_same_size(sink: SinkProcess) -> None:
    run = send.naive_send(sink, 5)
    assert run.messages == 5
    assert 3000 < run.average_bytes < 12000


def test_a_count_mismatch_is_an_error_not_a_figure(sink: SinkProcess) -> None:
    before = sink.stats()
    with pytest.raises(send.CountMismatch, match="received 0 messages, expected 1"):
        send._check(sink, before, 1)


def test_the_tick_database_has_only_its_due_assignments_inside_the_planners_window(tmp_path: Path) -> None:
    db = build_tick_db(tmp_path / "tick.db", 200, 10, parties=20)
    engine = make_engine(sqlite_url(db))
    low, high = due_date_range(NOW, load_policies())
    try:
        assert count_rows(engine, "assignment") == 200
        assert count_rows(engine, "assignment", state="pending", due_date=DUE) == 10
        with engine.connect() as conn:
            inside: int = conn.exec_driver_sql(
                "SELECT count(*) FROM assignment WHERE state IN ('pending', 'extended') AND due_date BETWEEN ? AND ?",
                (low.isoformat(), high.isoformat()),
            ).scalar_one()
        assert inside == 10
    finally:
        engine.dispose()


def test_tick_databases_are_cached_by_size(tmp_path: Path) -> None:
    first = tick_db(200, 10, parties=20, cache_dir=tmp_path)
    stamp = first.stat().st_mtime_ns
    assert tick_db(200, 10, parties=20, cache_dir=tmp_path) == first
    assert first.stat().st_mtime_ns == stamp
    assert tick_db(400, 10, parties=20, cache_dir=tmp_path) != first
    assert [p.name for p in tmp_path.iterdir() if "building" in p.name] == []


async def test_a_measured_tick_sends_exactly_what_is_due_each_time(tmp_path: Path, sink: SinkProcess) -> None:
    db = build_tick_db(tmp_path / "tick.db", 200, 10, parties=20)
    measured = await tick.measure(db, sink, 10, 2, tmp_path)
    assert len(measured.seconds) == 2 and measured.sent == 10
    stats = sink.stats()
    assert stats is not None
    assert stats.messages == 30  # a warm-up and two measured ticks
    engine = make_engine(sqlite_url(db))
    try:
        assert count_rows(engine, "notification") == 0  # left as found, for the next run
        reset_outbox(engine)
    finally:
        engine.dispose()


async def test_history_keeps_the_tick_exact_and_survives_its_reset(tmp_path: Path, sink: SinkProcess) -> None:
    db = build_tick_db(tmp_path / "tick.db", 200, 10, parties=20)
    with_old = with_history(db, 500, lambda i: 21 + i % 180, lambda aid: tick_contact(aid, 20))
    engine = make_engine(sqlite_url(with_old))
    try:
        assert count_rows(engine, "notification") == 500 and count_rows(engine, "event") == 500
        assert count_rows(engine, "notification", recipient_lower="focal.point3@t00003.example.org") == 25
    finally:
        engine.dispose()
    measured = await tick.measure(with_old, sink, 10, 1, tmp_path)
    assert measured.sent == 10
    engine = make_engine(sqlite_url(with_old))
    try:
        assert count_rows(engine, "notification") == 500  # the history stays, the tick's rows go
    finally:
        engine.dispose()


def test_outcomes_compare_against_their_targets() -> None:
    fast = send.outcome(100, [send.SendRun(100, 0.1, 5000.0)], [send.SendRun(100, 1.0, 5000.0)])
    runs = {
        "small": tick.Measured([1.0], 200),
        "large": tick.Measured([1.2], 200),
        "history": tick.Measured([2.0], 200),
        "spread": tick.Measured([5.0], 900),
    }
    slow = tick.outcome(tick.QUICK, runs)
    assert fast.met and fast.figures[-1].value == "10.00x"
    ratios = {f.measure.split(" (")[0]: (f.value, f.ok) for f in slow.figures if f.measure.startswith("ratio")}
    assert ratios == {
        "ratio large/small": ("1.20x", True),
        "ratio history/small": ("2.00x", False),
        "ratio spread/small": ("5.00x", None),  # more work in its window: reported, no target
    }
    assert not slow.met
    text = table([fast, slow])
    assert "MISSED" in text and "met" in text
    assert text.splitlines()[0].split() == ["benchmark", "measure", "value", "target", "note"]


def test_the_registry_names_each_benchmark_and_the_command_line_uses_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert set(BENCHMARKS) >= {"send", "tick", "relay"}
    with pytest.raises(SystemExit):
        main(["--only", "nonesuch"])
    assert "invalid choice" in capsys.readouterr().err
    assert Outcome("x", [Figure("x", "y", "z", ok=None)]).met


def test_the_web_benchmark_requests_real_pages(tmp_path: Path) -> None:
    from bench import web

    outcome = web.run(2_000, 20, 20, 2, lambda _line: None, cache_dir=tmp_path)
    assert len(outcome.figures) == 5
    assert all(f.value.endswith(" ms") for f in outcome.figures[:3])  # one owner, unfiltered, one state
    assert outcome.figures[3].measure.startswith("CSV download") and outcome.figures[3].value.endswith(" s")


def test_startup_bench_reports_both_commands_and_the_ratio() -> None:
    from bench import startup

    outcome = startup.run(1, lambda line: None)
    measures = [f.measure for f in outcome.figures]
    assert measures == ["python -c pass", "followup --help", "ratio"]
    assert outcome.figures[2].value.endswith("x")

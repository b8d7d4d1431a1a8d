"""``make bench`` / ``python -m bench``: run the benchmarks and print their figures side by side.

Each benchmark is registered in :data:`BENCHMARKS` with what it measures;
``--only NAME`` runs one, ``--quick`` runs all at small sizes (a smoke run,
whose figures mean little). Progress goes to standard error, the summary
table to standard output. ``--check`` makes a missed target an exit status
of 1 (by default the run only reports it: a loaded machine misses targets).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench import ingest, report, send, startup, tick, web
from bench.common import Figure, Outcome
from bench.sink import PostfixSink


@dataclass(frozen=True)
class Options:
    quick: bool
    #: Measured runs per figure (the median is reported); None: the benchmark's default.
    repeats: int | None
    #: ``asyncio`` or ``postfix`` (see :func:`bench.sink.make_sink`).
    sink: str = "asyncio"
    #: Notifications of history for the tick and ingest databases; None: the benchmark's default.
    history: int | None = None


@dataclass(frozen=True)
class Benchmark:
    name: str
    #: One line for ``--help``.
    summary: str
    run: Callable[[Options, Callable[[str], None]], Outcome]


def _send(options: Options, log: Callable[[str], None]) -> Outcome:
    n = 300 if options.quick else 5_000
    return send.run(n, options.repeats or (1 if options.quick else 3), log, sink=options.sink)


def _relay(options: Options, log: Callable[[str], None]) -> Outcome:
    pooled, paced = (300, 300) if options.quick else (2_000, 5_000)
    return send.run_relay(pooled, paced, options.repeats or 1, log)


def _tick(options: Options, log: Callable[[str], None]) -> Outcome:
    sizes = tick.QUICK if options.quick else tick.FULL
    if options.history is not None:
        sizes = dataclasses.replace(sizes, history=options.history)
    return tick.run(sizes, options.repeats or (1 if options.quick else 3), log, sink=options.sink)


def _ingest(options: Options, log: Callable[[str], None]) -> Outcome:
    n = 500 if options.quick else 10_000
    history = options.history if options.history is not None else (200_000 if options.quick else 10_000_000)
    return ingest.run(n, options.repeats or (1 if options.quick else 3), log, history=history)


def _web(options: Options, log: Callable[[str], None]) -> Outcome:
    sizes = tick.QUICK if options.quick else tick.FULL
    return web.run(sizes.large, sizes.due, sizes.parties, options.repeats or (5 if options.quick else 40), log)


def _report(options: Options, log: Callable[[str], None]) -> Outcome:
    return report.run(10_000 if options.quick else 1_000_000, options.repeats or (1 if options.quick else 5), log)


def _startup(options: Options, log: Callable[[str], None]) -> Outcome:
    return startup.run(options.repeats or (5 if options.quick else 30), log)


# ----------------------------------------------------------------------------------------------------
# The registry. Add a benchmark by writing ``bench/<name>.py`` with a ``run(...) -> Outcome`` and one
# entry here; ``--only`` and the summary table pick it up.
#
# ----------------------------------------------------------------------------------------------------
BENCHMARKS: dict[str, Benchmark] = {
    "ingest": Benchmark(
        "ingest",
        f"msg/s: replies ingested from an mbox (with and without archiving), and in IMAP-sized batches on a"
        f" database with history, vs a bare message_from_bytes (target >= {ingest.TARGET_RATIO:.0%})",
        _ingest,
    ),
    "relay": Benchmark(
        "relay",
        f"msg/s to a relay answering in {send.RELAY_LATENCY * 1000:.0f} ms at pool sizes "
        f"{' and '.join(map(str, send.POOLS))}; 5,000 emails under a {send.QUOTA_PER_MINUTE}/min quota",
        _relay,
    ),
    "report": Benchmark(
        "report",
        f"followup status and digest on 1M assignments, 200 owners (targets: whole JSON <= "
        f"{report.STATUS_SECONDS:g} s and {report.STATUS_PEAK_MB} MB, one owner <= {report.OWNER_SECONDS:g} s, "
        f"digest <= {report.DIGEST_SECONDS:g} s and < {report.DIGEST_BYTES // 1000} KB)",
        _report,
    ),
    "send": Benchmark(
        "send",
        f"msg/s: services.tick -> SMTP sink vs a naive smtplib loop (target >= {send.TARGET_RATIO:g}x)",
        _send,
    ),
    "startup": Benchmark(
        "startup",
        f"followup --help vs python -c pass (target <= {startup.TARGET_SECONDS:g} s or {startup.TARGET_RATIO:g}x)",
        _startup,
    ),
    "tick": Benchmark(
        "tick",
        f"one dispatch tick, 1M assignments (bare, with 10M notifications of history, due over ten years) vs 10k,"
        f" 1k due (target <= {tick.TARGET_RATIO:g}x)",
        _tick,
    ),
    "web": Benchmark(
        "web",
        "the matrix page on 1M assignments: one owner, unfiltered, one state"
        f" (target p95 <= {web.TARGET_P95 * 1000:.0f} ms)",
        _web,
    ),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of followup (send path, ingest, start-up). "
        + "; ".join(f"{b.name}: {b.summary}" for b in BENCHMARKS.values()),
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each: a smoke run")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only this benchmark")
    parser.add_argument("--repeats", type=int, default=None, help="measured runs per figure (median reported)")
    parser.add_argument(
        "--sink",
        choices=["asyncio", "postfix"],
        default="asyncio",
        help="SMTP sink: our asyncio one (default) or Postfix's smtp-sink when installed",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=None,
        help="notifications (and events) of history in the tick and ingest databases (default 10M; quick 200k)",
    )
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    return parser.parse_args(argv)


def table(outcomes: list[Outcome]) -> str:
    """The summary: one line per figure, targets marked."""
    rows = [("benchmark", "measure", "value", "target", "note")]
    for figure in (f for o in outcomes for f in o.figures):
        rows.append((figure.benchmark, figure.measure, figure.value, _verdict(figure), figure.note))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _verdict(figure: Figure) -> str:
    if figure.ok is None:
        return ""
    return "met" if figure.ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.sink == "postfix" and not PostfixSink.available():
        print("bench: Postfix smtp-sink is not installed; use --sink asyncio", file=sys.stderr)
        return 2
    options = Options(quick=args.quick, repeats=args.repeats, sink=args.sink, history=args.history)
    chosen = [BENCHMARKS[name] for name in (args.only or BENCHMARKS)]
    started = time.perf_counter()

    def log(line: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {line}", file=sys.stderr, flush=True)

    outcomes = []
    for benchmark in chosen:
        log(f"{benchmark.name}: {benchmark.summary}")
        outcomes.append(benchmark.run(options, log))
    missed = [o.name for o in outcomes if not o.met]
    verdict = f"targets missed: {', '.join(missed)}" if missed else "all targets met"
    took = f"{time.perf_counter() - started:.0f} s"
    if args.quick:
        took += ", quick run: small sizes, figures indicative only"
    print(f"\n{table(outcomes)}\n\n{verdict} ({took})", flush=True)
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())

"""The status matrix page on the 1,000,000-assignment database: one owner, unfiltered, one state.

The page (and, once, the CSV download of the whole matrix) is requested
through the ASGI app (Starlette's TestClient: routing, session check, query,
template, response) by a signed-in viewer; the query picks and orders the
page's commitments in SQL and fetches only their assignments. Beside it, the
query behind ``followup status`` (the whole matrix, streamed and folded in
Python) on the same database, for comparison.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from bench.common import SIGNING_SECRET, Figure, Log, Outcome, bench_settings, median
from bench.data import CACHE_DIR, NOW, TODAY, copy_db, sqlite_url, tick_db
from followup.clock import FixedClock
from followup.store.db import make_engine
from followup.store.matrix import open_matrix
from followup.web.app import create_app
from followup.web.sessions import COOKIE, make_session
from followup.web.users import add_user

TARGET_P95 = 0.300
OWNER = "T00001"
#: A state filter over every owner: the slowest page before the matrix's per-commitment index.
STATE = "submitted"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _time(client: TestClient, url: str, requests: int) -> list[float]:
    seconds = []
    for attempt in range(requests + 1):
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or "Status on" not in response.text:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
        if attempt:  # the first request warms caches
            seconds.append(elapsed)
    return seconds


def run(size: int, due: int, parties: int, requests: int, log: Log, *, cache_dir: Path = CACHE_DIR) -> Outcome:
    source = tick_db(size, due, parties=parties, cache_dir=cache_dir, log=log)
    with tempfile.TemporaryDirectory(prefix="followup-bench-web-") as tmp:
        workdir = Path(tmp)
        db = copy_db(source, workdir / "web.db")
        settings = bench_settings(workdir, db, 2525)
        engine = make_engine(sqlite_url(db))
        try:
            user = add_user(engine, "bench@rcm.example.org", "viewer", "a bench password", now=NOW)
            assert user.id is not None
            app = create_app(settings, engine, FixedClock(NOW), SIGNING_SECRET.encode())
            with TestClient(app) as client:
                client.cookies.set(COOKIE, make_session(SIGNING_SECRET.encode(), user.id, NOW))
                owner = _time(client, f"/matrix?owner={OWNER}", requests)
                log(f"web: matrix, owner {OWNER}: p95 {p95(owner):.3f} s")
                everything = _time(client, "/matrix", requests)
                log(f"web: matrix, unfiltered (first page): p95 {p95(everything):.3f} s")
                by_state = _time(client, f"/matrix?state={STATE}", requests)
                log(f"web: matrix, state {STATE} (first page): p95 {p95(by_state):.3f} s")
                started = time.perf_counter()
                with client.stream("GET", "/matrix?format=csv") as response:
                    csv_bytes = sum(len(chunk) for chunk in response.iter_bytes())
                csv_seconds = time.perf_counter() - started
                log(f"web: matrix CSV, unfiltered: {csv_seconds:.1f} s, {csv_bytes / 1e6:.1f} MB")
            started = time.perf_counter()  # once: it takes a while
            with open_matrix(engine, TODAY) as stream:
                for _row in stream.rows:  # streamed as followup status reads it, nothing kept
                    pass
            status = [time.perf_counter() - started]
            log(f"web: followup status query (whole matrix): {median(status):.2f} s")
        finally:
            engine.dispose()
    name = f"web matrix ({size:,} assignments)"
    return Outcome(
        name,
        [
            Figure(name, f"page, one owner, p95 of {requests} (target <= 300 ms)", f"{p95(owner) * 1000:.0f} ms",
                   ok=p95(owner) <= TARGET_P95, note=f"median {median(owner) * 1000:.0f} ms"),
            Figure(name, f"page, unfiltered, p95 of {requests} (target <= 300 ms)", f"{p95(everything) * 1000:.0f} ms",
                   ok=p95(everything) <= TARGET_P95, note=f"median {median(everything) * 1000:.0f} ms"),
            Figure(name, f"page, state {STATE}, p95 of {requests} (target <= 300 ms)", f"{p95(by_state) * 1000:.0f} ms",
                   ok=p95(by_state) <= TARGET_P95, note=f"median {median(by_state) * 1000:.0f} ms"),
            Figure(name, "CSV download, whole matrix (streamed)", f"{csv_seconds:.1f} s",
                   note=f"{csv_bytes / 1e6:.1f} MB"),
            Figure(name, "followup status (whole matrix, for comparison)", f"{median(status):.2f} s"),
        ],
    )  # fmt: skip

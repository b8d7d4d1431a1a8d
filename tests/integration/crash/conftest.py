"""Crash harness: real ``followup`` processes against a SQLite file or PostgreSQL, an SMTP sink in a thread.

The figures of every crash run (kills, lost emails, extra copies, rows left
``sending``) are printed as a table at the end of the pytest run, so a
regression shows even when the assertions are loosened by somebody.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from followup.store.db import make_engine, migrate
from tests.conftest import POSTGRES_URL, require_server

if TYPE_CHECKING:
    from tests.smtp_server import ThreadedSink

#: One row per crash run, printed by :func:`pytest_terminal_summary`.
FIGURES: list[dict[str, Any]] = []


@dataclass
class CrashDb:
    name: str
    url: str
    engine: Engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crash_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CrashDb]:
    """A migrated database that other processes can open by URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'followup.db'}"
        engine = make_engine(url)
        migrate(engine)
        yield CrashDb("sqlite", url, engine)
        engine.dispose()
        return
    require_server(bool(POSTGRES_URL), "FOLLOWUP_TEST_POSTGRES_URL is not set")
    schema = f"c_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    migrate(engine)
    yield CrashDb("postgres", url, engine)
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sink() -> Iterator[ThreadedSink]:
    from tests.smtp_server import ThreadedSink

    with ThreadedSink() as server:
        yield server


@dataclass
class Started:
    """A ``followup`` process, its log file, and an event set once it logged ``daemon started``."""

    proc: subprocess.Popen[bytes]
    log: Path
    ready: threading.Event
    #: Set once the process's output is all in the log file.
    closed: threading.Event


@dataclass
class Followup:
    """Starts ``followup`` processes on one database and one SMTP sink, with a short lease."""

    cwd: Path
    env: dict[str, str]
    launched: list[Started] = field(default_factory=list)

    def stop_all(self) -> None:
        """Kill and reap what a failed test left running, so no process or pipe outlives the test."""
        for started in self.launched:
            if started.proc.poll() is None:
                started.proc.kill()
            started.proc.wait(30)
            started.closed.wait(30)

    def start(self, *args: str, log_name: str = "followup") -> subprocess.Popen[bytes]:
        return self.launch(*args, log_name=log_name).proc

    def launch(self, *args: str, log_name: str = "followup") -> Started:
        """Start a process; its output goes to a log file through a thread that watches for readiness."""
        path = self.cwd / f"{log_name}-{uuid.uuid4().hex[:6]}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "followup", *args],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        ready, closed = threading.Event(), threading.Event()

        def copy() -> None:
            assert proc.stdout is not None
            try:
                with path.open("wb") as log, proc.stdout:
                    for line in proc.stdout:
                        log.write(line)
                        log.flush()
                        if b"daemon started" in line:
                            ready.set()
            finally:
                closed.set()

        threading.Thread(target=copy, name=f"log-{log_name}", daemon=True).start()
        started = Started(proc, path, ready, closed)
        self.launched.append(started)
        return started


@pytest.fixture
def followup_cli(crash_db: CrashDb, sink: ThreadedSink, tmp_path: Path) -> Iterator[Followup]:
    config = tmp_path / "followup.toml"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env |= {
        "FOLLOWUP_CONFIG": str(config),
        "FOLLOWUP_DATABASE_URL": crash_db.url,
        "FOLLOWUP_SIGNING_SECRET": "a-test-secret-that-is-long-enough",
        "FOLLOWUP_SMTP__HOST": "127.0.0.1",
        "FOLLOWUP_SMTP__PORT": str(sink.port),
        "FOLLOWUP_SMTP__SECURITY": "none",
        "FOLLOWUP_SCHEDULE__LEASE_SECONDS": "2",
        "FOLLOWUP_SCHEDULE__TICK_SECONDS": "5",
        "FOLLOWUP_LOG__LEVEL": "INFO",
        # `run` plans and sends on the real clock: a window open all day, every day, so that these
        # tests of crashes and stops do not depend on the hour or weekday CI runs at.
        "FOLLOWUP_SCHEDULE__SEND_WINDOW_START": "00:00:00",
        "FOLLOWUP_SCHEDULE__SEND_WINDOW_END": "23:59:59",
        "FOLLOWUP_SCHEDULE__WORKING_DAYS": "mon,tue,wed,thu,fri,sat,sun",
    }
    cli = Followup(tmp_path, env)
    yield cli
    cli.stop_all()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("crash figures (issue 9)")
    columns = ["run", "database", "kills", "emails", "lost", "extra copies", "new Message-IDs", "stuck rows"]
    write(" | ".join(f"{c:>15}" for c in columns))
    for row in FIGURES:
        write(" | ".join(f"{row.get(c, ''):>15}" for c in columns))

"""No reply lost when ingest stops between storing and interpreting.

``followup ingest`` is killed with SIGKILL at random points of a large mbox
(a real process, a real SQLite file), then run again to the end: every
message must be stored exactly once and interpreted (matched, or waiting in
triage). The IMAP poll gets the same treatment with an injected failure
after the storing transaction, against a real Dovecot.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.clock import FixedClock
from followup.inbound import ingest as ingest_module
from followup.inbound.inbox import ingest_files, poll_imap
from followup.inbound.ingest import IngestResult, ingest_many, interpret_pending
from followup.outbound.signing import signing_key
from followup.schedule.loading import load_paths
from followup.store.db import make_engine, migrate
from followup.store.models import Assignment, Event, InboundMatch, InboundMessage
from tests.factories import settings_for

if TYPE_CHECKING:
    from tests.dovecot import DovecotServer

NOW = datetime(2026, 9, 4, 15, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MESSAGES = 3000
KILLS = 6
SECRET = "a-test-secret-that-is-long-enough"


def _message(n: int, assignment_ids: list[int]) -> bytes:
    if n % 3 == 0:  # a stranger: triage
        sender, subject, body = f"someone{n}@gmail.example", "A question", "Where do I send the report?"
    else:  # a focal point naming an item: matched
        aid = assignment_ids[n % len(assignment_ids)]
        sender, subject, body = "alopez@migracion.gob.hn.example", f"RE: [RCM-{aid}] matriz", "Adjunto la matriz."
    return (
        f"From: {sender}\nTo: ts@rcm.example\nSubject: {subject}\nMessage-ID: <crash-{n}@example.org>\n"
        f"Date: Fri, 04 Sep 2026 10:00:00 -0600\n\n{body} ({n})\n"
    ).encode()


def _write_mbox(path: Path, count: int, assignment_ids: list[int]) -> None:
    with path.open("wb") as fh:
        for n in range(count):
            fh.write(b"From sender@example.org Fri Sep  4 10:00:00 2026\n" + _message(n, assignment_ids) + b"\n")


def _count(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        return int(conn.execute("SELECT count(*) FROM inbound_message").fetchone()[0])


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    """Poll ``condition`` until true; False when the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError("ingest made no progress")


def _assert_every_reply_interpreted(engine_url: str, expected: int) -> None:
    engine = make_engine(engine_url)
    try:
        with Session(engine) as s:
            rows = s.exec(select(InboundMessage)).all()
            matched = set(s.exec(select(InboundMatch.inbound_id)).all())
        ids = [r.message_id for r in rows]
        assert len(ids) == expected and len(set(ids)) == expected  # stored exactly once
        lost = [r.id for r in rows if not r.sender or r.interpreted_at is None]
        assert lost == [], f"{len(lost)} stored but never interpreted"
        unaccounted = [r.id for r in rows if r.id not in matched and r.triage != "open"]
        assert unaccounted == [], f"{len(unaccounted)} neither matched nor in triage"
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_mid_mbox_loses_no_reply(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    engine = make_engine(settings.database_url)
    migrate(engine)
    load_paths(engine, [FIXTURES / "year.yaml"], now=NOW - timedelta(days=30))
    with Session(engine) as s:
        hn = [a for a in s.exec(select(Assignment.id).where(Assignment.party_code == "HN")).all() if a is not None]
    engine.dispose()
    mbox = tmp_path / "replies.mbox"
    _write_mbox(mbox, MESSAGES, hn[:5])
    db = tmp_path / "followup.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env |= {"FOLLOWUP_DATABASE_URL": settings.database_url, "FOLLOWUP_SIGNING_SECRET": SECRET}
    command = [sys.executable, "-m", "followup", "ingest", str(mbox), "--now", "2026-09-04T17:00:00+00:00"]
    rng = random.Random(9)
    kills = 0
    while kills < KILLS:
        before = _count(db)
        target = before + rng.randint(20, MESSAGES // (KILLS + 2))
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not _wait_for(lambda t=target: _count(db) >= t, proc):  # type: ignore[misc]
                break  # it finished before the kill point
            # Sometimes at once (between storing and interpreting), sometimes a little later.
            time.sleep(rng.choice([0.0, 0.0, 0.05, 0.15]))
            proc.send_signal(signal.SIGKILL)
            kills += 1
        finally:
            proc.wait(timeout=60)
    assert kills >= 5, f"only {kills} kills landed before the run finished"
    final = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert final.returncode == 0, final.stderr
    _assert_every_reply_interpreted(settings.database_url, MESSAGES)
    # Running it once more changes nothing: everything is already known.
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert f"0 stored, {MESSAGES} already known" in again.stdout
    print(f"\ningest kill -9: kills={kills} messages={MESSAGES} lost=0")


class _Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


def _crash_after_storing(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_args: object, **_kwargs: object) -> None:
        raise _Crash

    monkeypatch.setattr(ingest_module, "_interpret_all", crash)


def test_a_file_stored_but_not_interpreted_is_interpreted_on_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    engine = make_engine(settings.database_url)
    migrate(engine)
    load_paths(engine, [FIXTURES / "year.yaml"], now=NOW - timedelta(days=30))
    with Session(engine) as s:
        hn = [a for a in s.exec(select(Assignment.id).where(Assignment.party_code == "HN")).all() if a is not None]
    mbox = tmp_path / "replies.mbox"
    _write_mbox(mbox, 30, hn[:2])
    clock, secret = FixedClock(NOW), signing_key(settings)
    with monkeypatch.context() as patch:
        _crash_after_storing(patch)
        with pytest.raises(_Crash):
            ingest_files(engine, settings, [mbox], clock=clock, secret=secret)
    with Session(engine) as s:
        assert len(s.exec(select(InboundMessage).where(col(InboundMessage.interpreted_at).is_(None))).all()) == 30
    # The same file again: the stored messages are interpreted, not skipped as "already known".
    again = ingest_files(engine, settings, [mbox], clock=clock, secret=secret)
    assert again.stored == 30 and again.duplicates == 30
    assert all(r.resumed for _, r in again.results if not r.duplicate)
    _assert_every_reply_interpreted(settings.database_url, 30)
    with Session(engine) as s:
        assert {a.state for a in s.exec(select(Assignment).where(col(Assignment.id).in_(hn[:2]))).all()} == {
            "submitted"
        }


@pytest.mark.imap
async def test_imap_poll_interrupted_after_storing_is_interpreted_by_the_next_poll(
    tmp_path: Path, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(
        tmp_path,
        FOLLOWUP_IMAP__HOST=dovecot.host,
        FOLLOWUP_IMAP__PORT=str(dovecot.port),
        FOLLOWUP_IMAP__SECURITY="none",
        FOLLOWUP_IMAP__USERNAME=dovecot.user,
        FOLLOWUP_IMAP__PASSWORD=dovecot.password,
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    load_paths(engine, [FIXTURES / "year.yaml"], now=NOW - timedelta(days=30))
    with Session(engine) as s:
        hn = [a for a in s.exec(select(Assignment.id).where(Assignment.party_code == "HN")).all() if a is not None]
    for n in range(1, 4):
        dovecot.append(_message(n, hn[:2]).replace(b"\n", b"\r\n"))
    clock, secret = FixedClock(NOW), signing_key(settings)
    with monkeypatch.context() as patch:
        _crash_after_storing(patch)
        with pytest.raises(_Crash):
            await poll_imap(engine, settings, clock=clock, secret=secret)
    with Session(engine) as s:
        stored = s.exec(select(InboundMessage)).all()
        # One FETCH's batch, stored in one transaction, none of it interpreted.
        assert len(stored) == 3 and all(m.interpreted_at is None and m.sender == "" for m in stored)
    # The cursor moved past them: the next poll interprets them first, and finds nothing new.
    second = await poll_imap(engine, settings, clock=clock, secret=secret)
    assert [r.resumed for _, r in second.results] == [True, True, True]
    assert all(not r.duplicate for _, r in second.results)
    _assert_every_reply_interpreted(settings.database_url, 3)
    third = await poll_imap(engine, settings, clock=clock, secret=secret)
    assert third.results == []


def test_two_workers_resuming_at_once_interpret_each_message_once(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    load_paths(engine, [FIXTURES / "year.yaml"], now=NOW - timedelta(days=30))
    with Session(engine) as s:
        hn = [a for a in s.exec(select(Assignment.id).where(Assignment.party_code == "HN")).all() if a is not None]
    messages = [(f"m{n}", _message(n, hn[:3])) for n in range(60)]
    secret = signing_key(settings)
    with monkeypatch.context() as patch:
        _crash_after_storing(patch)
        with pytest.raises(_Crash):
            ingest_many(engine, settings, messages, now=NOW, secret=secret)
    results: list[list[IngestResult]] = []
    barrier = threading.Barrier(2)

    def resume() -> None:
        barrier.wait(timeout=30)
        results.append(interpret_pending(engine, settings, now=NOW, secret=secret))

    workers = [threading.Thread(target=resume) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert len(results) == 2
    interpreted = [r.inbound_id for one in results for r in one if not r.duplicate]
    assert sorted(interpreted) == sorted({r.inbound_id for one in results for r in one})  # each once
    assert len(interpreted) == 60
    with Session(engine) as s:
        rows = s.exec(select(InboundMessage)).all()
        assert all(r.interpreted_at is not None and r.sender for r in rows)
        triage_events = s.exec(select(Event).where(Event.action.in_(["submitted", "unverified-reply"]))).all()  # type: ignore[attr-defined]
        # Three items confirmed once each, never twice by the two workers.
        assert sorted(e.assignment_id for e in triage_events if e.action == "submitted") == sorted(hn[:3])

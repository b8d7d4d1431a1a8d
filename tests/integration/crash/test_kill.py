"""kill -9, SIGTERM and several daemons: real ``followup`` processes during a send storm (issue 9).

Each run plans a few hundred reminders, then kills ``followup tick`` or
``followup run`` with SIGKILL at random moments while it sends, then lets a
clean ``tick`` drain the outbox. What must hold: no email lost, no row left
``sending``, and every extra copy (sent, not yet recorded when the process
died) carries the first try's Message-ID.
"""

from __future__ import annotations

import email
import functools
import os
import random
import signal
import time
from collections import Counter
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from followup.clock import as_utc
from followup.schedule.planner import plan
from followup.schedule.policy import load_schedule_policies
from followup.settings import load_settings
from followup.store.models import Notification
from tests.factories import make_assignment, make_commitment, make_contact, make_party
from tests.integration.crash.conftest import FIGURES, CrashDb, Followup, Started

if TYPE_CHECKING:
    from tests.smtp_server import ThreadedSink

#: Each round starts a Python process (about a second on an idle machine, far more on a loaded
#: one): the per-test timeout is raised to match, the runs stay bounded.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

NOW = datetime(2026, 8, 3, 15, 0, tzinfo=UTC)  # Monday 09:00 in Tegucigalpa
DUE = date(2026, 8, 17)
EMAILS = 160
KILLS = 10
#: Bounds every wait on a process or on the sink.
WAIT = 120.0


def seed(db: CrashDb, count: int = EMAILS) -> list[int]:
    """``count`` focal points with one reminder each, planned (due at NOW); the planned row ids."""
    with Session(db.engine) as s:
        make_commitment(s, "matrix", due_date=DUE, owners_all_members=True)
        for i in range(count):
            code = f"P{i:03d}"
            # No holiday calendar: `run` sends on the real clock, any day (see followup_cli's window).
            make_party(s, code, timezone="America/Tegucigalpa", holiday_country="", language="es")
            make_contact(s, code, email=f"fp{i}@p{i}.example.org")
            make_assignment(s, "matrix", code, DUE, occurrence="once")
        s.commit()
    settings = load_settings(environ={"FOLLOWUP_DATABASE_URL": db.url}, config_file=None)
    plan(db.engine, NOW, settings, load_schedule_policies(settings.schedule))
    with Session(db.engine) as s:
        ids = [r.id for r in s.exec(select(Notification)).all() if r.id is not None]
    assert len(ids) == count
    return ids


def reached(sink: ThreadedSink, count: int) -> bool:
    return sink.count >= count


def states(db: CrashDb, ids: list[int]) -> Counter[str]:
    with db.engine.connect() as conn:
        n = Notification.__table__  # type: ignore[attr-defined]
        return Counter(conn.execute(sa.select(n.c.state).where(n.c.id.in_(ids))).scalars())


def wait_out_leases(db: CrashDb) -> None:
    """Let the leases a killed process left run out: they are measured on the real clock.

    This waits for an instant the database names, not for something to
    happen: a tick started before it would find the rows still leased and do
    nothing, and a test counting ticks would then depend on the machine's speed.
    """
    n = Notification.__table__  # type: ignore[attr-defined]
    with db.engine.connect() as conn:
        until = conn.execute(sa.select(sa.func.max(n.c.lease_until)).where(n.c.state == "sending")).scalar()
    if until is not None:
        left = (as_utc(until) - datetime.now(UTC)).total_seconds()
        if left > 0:
            time.sleep(left + 0.05)


def drain(db: CrashDb, cli: Followup, ids: list[int]) -> None:
    """Clean ticks until every row is sent (a killed process's leases lapse meanwhile).

    ``outbox retry`` first: a row that failed temporarily while the processes
    were killed (a connection cut) waits for its backoff otherwise.
    """
    requeue = cli.start("outbox", "retry", "--failed", "--now", NOW.isoformat(), log_name="retry")
    assert requeue.wait(WAIT) == 0
    for _ in range(20):
        if states(db, ids) == Counter({"sent": len(ids)}):
            return
        wait_out_leases(db)
        proc = cli.start("tick", "--now", NOW.isoformat(), log_name="drain")
        assert proc.wait(WAIT) in (0, 1)
    raise AssertionError(f"outbox not drained: {states(db, ids)}")


def verify(db: CrashDb, sink: ThreadedSink, ids: list[int], figures: dict[str, object]) -> None:
    received = [(m.rcpt_tos[0], email.message_from_bytes(m.data)["Message-ID"]) for m in sink.handler.messages]
    got_ids = {mid for _, mid in received}
    with Session(db.engine) as s:
        rows = [r for r in s.exec(select(Notification)).all() if r.id in ids]
    lost = [r.id for r in rows if r.state != "sent" or r.message_id not in got_ids]
    per_recipient: dict[str, set[str]] = {}
    for rcpt, mid in received:
        per_recipient.setdefault(rcpt, set()).add(mid)
    new_ids = sum(len(mids) - 1 for mids in per_recipient.values())
    figures |= {"emails": len(ids), "lost": len(lost), "extra copies": len(received) - len(got_ids)}
    figures["new Message-IDs"] = new_ids
    FIGURES.append(figures)
    assert lost == []
    assert len(per_recipient) == len(ids)
    assert new_ids == 0, "a resend carried a new Message-ID"


@pytest.mark.parametrize("command", ["tick", "run"])
def test_kill_9_during_a_send_storm_loses_nothing_and_resends_with_the_same_message_id(
    crash_db: CrashDb, sink: ThreadedSink, followup_cli: Followup, command: str
) -> None:
    ids = seed(crash_db)
    args = ["tick", "--now", NOW.isoformat()] if command == "tick" else ["run"]
    rng = random.Random(9)
    kills = 0
    for _ in range(KILLS):
        target = sink.count + rng.randint(2, 10)
        for _start in range(10):
            proc = followup_cli.start(*args, log_name=command)
            if sink.wait_until(functools.partial(reached, sink, target), WAIT, exited=proc):
                break
            # A tick that started before the last victim's leases ran out (2 s) finds every row
            # taken and exits having sent nothing: start another, as an operator's timer would.
            assert proc.wait(WAIT) in (0, 1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(WAIT)
        assert sink.count >= target, "the process sent nothing before the kill"
        kills += 1
    stuck = states(crash_db, ids).get("sending", 0)
    drain(crash_db, followup_cli, ids)
    verify(crash_db, sink, ids, {"run": f"kill -9 {command}", "database": crash_db.name, "kills": kills,
                                 "stuck rows": stuck})  # fmt: skip
    assert states(crash_db, ids) == Counter({"sent": len(ids)})


@pytest.mark.parametrize("command", ["tick", "run"])
def test_sigterm_during_a_send_finishes_or_releases_and_exits_0(
    crash_db: CrashDb, sink: ThreadedSink, followup_cli: Followup, command: str
) -> None:
    ids = seed(crash_db, 60)
    sink.handler.delay = 0.2  # slow enough that SIGTERM lands mid-storm
    args = ["tick", "--now", NOW.isoformat()] if command == "tick" else ["run"]
    started = followup_cli.launch(*args, log_name=command)
    assert sink.wait_for(5, WAIT)
    started.proc.send_signal(signal.SIGTERM)
    code = started.proc.wait(WAIT)
    assert started.closed.wait(WAIT)
    log = started.log.read_text()
    assert "cancelled at shutdown" not in log  # it stopped, it was not cut short
    assert code == 0, log
    assert "Traceback" not in log
    assert "CancelledError" not in log
    left = states(crash_db, ids)
    assert left.get("sending", 0) == 0
    assert left["sent"] < len(ids)  # it did stop early
    sink.handler.delay = 0
    drain(crash_db, followup_cli, ids)
    verify(crash_db, sink, ids, {"run": f"SIGTERM {command}", "database": crash_db.name, "kills": 0,
                                 "stuck rows": left.get("sending", 0)})  # fmt: skip
    assert len(sink.handler.messages) == len(ids)  # nothing sent twice


@pytest.mark.parametrize(("daemons", "stagger"), [(2, True), (3, False)])
def test_several_daemons_send_each_email_once(
    crash_db: CrashDb, sink: ThreadedSink, followup_cli: Followup, daemons: int, stagger: bool
) -> None:
    """A short lease (2 s) and a slow server: the leases must be renewed and checked, not assumed."""
    ids = seed(crash_db, 120)
    sink.handler.delay = 0.03
    started: list[Started] = []
    for n in range(daemons):
        if stagger and n:
            assert sink.wait_for(20 * n, WAIT)  # the next one starts while the first is mid-storm
        started.append(followup_cli.launch("run", log_name=f"daemon{n}"))
    assert sink.wait_for(len(ids), 2 * WAIT)
    for daemon in started:
        assert daemon.ready.wait(WAIT)  # its signal handlers are in place
        daemon.proc.send_signal(signal.SIGTERM)
    for daemon in started:
        assert daemon.proc.wait(WAIT) == 0, daemon.log.read_text()
        assert "Traceback" not in daemon.log.read_text()
    stuck = states(crash_db, ids).get("sending", 0)
    verify(crash_db, sink, ids, {"run": f"{daemons} daemons" + (" staggered" if stagger else ""),
                                 "database": crash_db.name, "kills": 0, "stuck rows": stuck})  # fmt: skip
    assert len(sink.handler.messages) == len(ids)  # zero duplicates
    assert stuck == 0


def test_an_email_that_kills_its_sender_every_time_is_given_up_and_the_rest_go_out(
    crash_db: CrashDb, sink: ThreadedSink, followup_cli: Followup
) -> None:
    """The sink kills the sending process whenever one address comes up: a crash that this email causes.

    Without a guard every restart would die on it again. Each death mid-send
    counts against the rows in flight; a row that was in flight is retried
    with no other transaction beside it, so only the email at fault reaches
    ``smtp.max_interrupted_sends`` (5) and is failed, and everything else goes out.
    """
    ids = seed(crash_db, count=12)
    poison = "fp3@p3.example.org"
    sender: dict[str, int] = {}

    def kill_the_sender(address: str) -> None:
        if address == poison and "pid" in sender:
            os.kill(sender.pop("pid"), signal.SIGKILL)

    sink.handler.on_rcpt = kill_the_sender
    deaths = 0
    for run in range(20):
        proc = followup_cli.start("tick", "--now", NOW.isoformat(), log_name=f"poison-{run}")
        sender["pid"] = proc.pid
        code = proc.wait(WAIT)
        sender.pop("pid", None)
        if code == -signal.SIGKILL:
            deaths += 1
            wait_out_leases(crash_db)
        elif states(crash_db, ids) == Counter({"sent": len(ids) - 1, "failed": 1}):
            break
    with Session(crash_db.engine) as s:
        rows = {r.recipient: r for r in s.exec(select(Notification)).all() if r.id in ids}
    assert deaths == 5
    assert (rows[poison].state, rows[poison].interrupted) == ("failed", 5)
    assert "interrupted 5 times" in rows[poison].last_error
    assert all(r.state == "sent" for address, r in rows.items() if address != poison)
    delivered = {rcpt for m in sink.handler.messages for rcpt in m.rcpt_tos}
    assert delivered == set(rows) - {poison}
    FIGURES.append({"run": "poison email", "database": crash_db.name, "kills": deaths, "emails": len(ids),
                    "lost": 0, "stuck rows": 0})  # fmt: skip

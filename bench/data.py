"""Benchmark databases: real SQLite files, migrated by Alembic, filled with SQLAlchemy Core.

Two shapes:

* :func:`build_send_db`: ``n`` open assignments, each owed by its own party
  with its own focal point, all due 14 days after :data:`NOW`, so the
  ``-14d`` reminder step of the default policy is due for every one of them
  and each makes one email. Parties are owners of their commitment
  (``commitment_owner``), so ``services.sync`` sees a consistent plan and
  creates or waives nothing.
* :func:`build_tick_db`: ``size`` assignments of :data:`TICK_PARTIES` parties,
  of which ``due`` are due like the above and every other one lies outside
  the planner's window (resolved long ago, long overdue beyond any policy's
  reach, or due months ahead), as in a database that has run for years.
  Large ones are cached under ``var/bench/`` keyed by size, due count, data
  version and schema revision, so a second ``make bench`` reuses them.

Rows go in through ``executemany`` in big transactions with the journal
off the critical path (``synchronous=OFF`` for the load only), and the file
is checkpointed and switched back to a rollback journal before it is
renamed into place, so a cached file is one self-contained file.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from bench.common import Log
from followup.store import models  # noqa: F401  (registers the tables used below)
from followup.store.db import head_revision, make_engine, migrate

#: The instant every benchmark acts at: a Tuesday with no holiday in any zone used below, and
#: 16:00 UTC is inside the 09:00-17:00 window of every one of those zones.
NOW = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
TODAY = NOW.date()
#: Due 14 days ahead: the default policy's "-14d" reminder is due at NOW.
DUE = TODAY + timedelta(days=14)
#: Bump when the shape of the generated data changes, so stale caches are not reused.
DATA_VERSION = 1
#: Parties (each with one focal point) in the tick databases.
TICK_PARTIES = 1000
#: Owners in the status and digest databases: 200 owners x 5,000 commitments make 1M assignments.
REPORT_PARTIES = 200
CACHE_DIR = Path(__file__).resolve().parent.parent / "var" / "bench"
ROWS_PER_STATEMENT = 50_000
ROWS_PER_TRANSACTION = 200_000

#: (zone, holiday calendar) pairs from the region; all in their send window at NOW.
ZONES = (
    ("America/Tegucigalpa", "HN"),
    ("America/Mexico_City", "MX"),
    ("America/Costa_Rica", "CR"),
    ("America/Guatemala", "GT"),
    ("America/El_Salvador", "SV"),
    ("America/Panama", "PA"),
    ("America/Santo_Domingo", "DO"),
    ("America/Toronto", "CA"),
)
_NAMES = ("María José Núñez", "Jean-Pierre Côté", "Ana López", "John Smith", "Luis Peña", "Chloé Bélanger")

PARTY = SQLModel.metadata.tables["party"]
CONTACT = SQLModel.metadata.tables["contact"]
COMMITMENT = SQLModel.metadata.tables["commitment"]
OWNER = SQLModel.metadata.tables["commitment_owner"]
ASSIGNMENT = SQLModel.metadata.tables["assignment"]
NOTIFICATION = SQLModel.metadata.tables["notification"]
EVENT = SQLModel.metadata.tables["event"]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def build_send_db(path: Path, n: int) -> Path:
    """``n`` due reminders, one per contact, in a fresh SQLite file at ``path``."""
    engine = _fresh(path)
    try:
        with engine.begin() as conn:
            _fast_load(conn)
            codes = [f"S{i:06d}" for i in range(n)]
            _insert(conn, PARTY, (_party(code, i, member=False) for i, code in enumerate(codes)))
            _insert(conn, CONTACT, (_contact(code, i) for i, code in enumerate(codes)))
            commitments = [f"send-{k}" for k in range(5)]
            _insert(
                conn, COMMITMENT, (_commitment(cid, k, DUE, all_members=False) for k, cid in enumerate(commitments))
            )
            _insert(conn, OWNER, ({"commitment_id": commitments[i % 5], "party_code": c} for i, c in enumerate(codes)))
            _insert(conn, ASSIGNMENT, (_assignment(commitments[i % 5], c, DUE, "pending") for i, c in enumerate(codes)))
        _seal(engine)
    finally:
        engine.dispose()
    return path


def tick_db(
    size: int,
    due: int,
    *,
    parties: int = TICK_PARTIES,
    spread: bool = False,
    cache_dir: Path = CACHE_DIR,
    log: Log | None = None,
) -> Path:
    """The cached tick database for ``size`` assignments with ``due`` due at NOW (built if missing)."""
    shape = "-spread" if spread else ""
    path = cache_dir / f"tick-{size}-due{due}-p{parties}{shape}-v{DATA_VERSION}-{head_revision()}.db"
    if path.is_file():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".building-{os.getpid()}")
    started = time.perf_counter()
    if log:
        log(f"building {path.name} ({size:,} assignments; cached for later runs)")
    try:
        build_tick_db(partial, size, due, parties, spread=spread)
        partial.rename(path)
    finally:
        for leftover in _sidecars(partial):
            leftover.unlink(missing_ok=True)
    if log:
        log(f"built {path.name} in {time.perf_counter() - started:.1f} s")
    return path


def report_db(size: int, *, cache_dir: Path = CACHE_DIR, log: Log | None = None) -> Path:
    """The status and digest database: ``size`` assignments over :data:`REPORT_PARTIES` owners.

    The tick database's shape (years of resolved, overdue and future items)
    with fewer, wider owners: 200 owners x 5,000 commitments at 1M, the
    shape that made the digest's single ``IN`` list overflow SQLite.
    """
    return tick_db(size, REPORT_PARTIES, parties=REPORT_PARTIES, cache_dir=cache_dir, log=log)


def build_tick_db(path: Path, size: int, due: int, parties: int = TICK_PARTIES, *, spread: bool = False) -> Path:
    """``size`` assignments over ``parties`` parties x ``size / parties`` commitments; ``due`` of them due.

    Commitment 0 is due 14 days after NOW: pending for the first ``due``
    parties (so ``due`` emails, one per contact), already confirmed for the
    others. Every other commitment is dated outside
    the planner's window: before it, resolved (mostly confirmed) or still open
    long past any policy's reach; after it, pending or extended. With
    ``spread``, the other commitments' dates fall on every day of the ten
    years around NOW instead, the planner's window included.
    """
    if size % parties or due > parties:
        raise ValueError(f"size {size} must be a multiple of {parties} parties, and due {due} at most that")
    per_party = size // parties
    engine = _fresh(path)
    try:
        with engine.begin() as conn:
            _fast_load(conn)
            codes = [f"T{i:05d}" for i in range(parties)]
            _insert(conn, PARTY, (_party(code, i, member=True) for i, code in enumerate(codes)))
            _insert(conn, CONTACT, (_contact(code, i) for i, code in enumerate(codes)))
            far = _spread_date if spread else _far_date
            dates = [DUE, *(far(k) for k in range(1, per_party))]
            _insert(conn, COMMITMENT, (_commitment(f"tick-{k}", k, d, all_members=True) for k, d in enumerate(dates)))
        rows = (
            _assignment(f"tick-{k}", code, when, _state(k, p, when, due) if k > 0 or p < due else "confirmed")
            for k, when in enumerate(dates)
            for p, code in enumerate(codes)
        )
        _insert_in_transactions(engine, ASSIGNMENT, rows)
        _seal(engine)
    finally:
        engine.dispose()
    return path


def reset_outbox(engine: Engine, keep: tuple[int, int] = (0, 0)) -> None:
    """Forget the notifications and events after ids ``keep``, so the same tick can be measured again."""
    with engine.begin() as conn:
        conn.execute(sa.delete(EVENT).where(EVENT.c.id > keep[1]))
        conn.execute(sa.delete(NOTIFICATION).where(NOTIFICATION.c.id > keep[0]))
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def last_ids(engine: Engine) -> tuple[int, int]:
    """The highest notification and event ids: the history a measured run keeps."""
    with engine.connect() as conn:
        notification = conn.execute(sa.select(sa.func.coalesce(sa.func.max(NOTIFICATION.c.id), 0))).scalar_one()
        event = conn.execute(sa.select(sa.func.coalesce(sa.func.max(EVENT.c.id), 0))).scalar_one()
    return int(notification), int(event)


def copy_db(source: Path, target: Path) -> Path:
    for leftover in _sidecars(target):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(source, target)
    return target


def count_rows(engine: Engine, table: str, **where: Any) -> int:
    t = SQLModel.metadata.tables[table]
    query = sa.select(sa.func.count()).select_from(t)
    for column, value in where.items():
        query = query.where(t.c[column] == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


# --------------------------------------------------------------------------- rows


def _party(code: str, i: int, *, member: bool) -> dict[str, Any]:
    zone, holidays = ZONES[i % len(ZONES)]
    spanish = holidays not in ("CA",) and i % 3 != 0
    return {
        "code": code,
        "kind": "country",
        "name_en": f"Country {code}",
        "name_es": f"País {code}",
        "timezone": zone,
        "language": "es" if spanish else "en",
        "member": member,
        "holiday_country": holidays,
        "active": True,
    }


def _contact(code: str, i: int) -> dict[str, Any]:
    return {
        "key": f"{code.lower()}-primary",
        "party_code": code,
        "name": f"{_NAMES[i % len(_NAMES)]} {i}",
        "email": f"focal.point{i}@{code.lower()}.example.org",
        "language": None,
        "timezone": None,
        "role": "primary",
        "active": True,
        "address_state": "ok",
        "address_note": "",
    }


def _commitment(cid: str, k: int, due: date, *, all_members: bool) -> dict[str, Any]:
    return {
        "id": cid,
        "title_en": f"Complete and submit the integration matrix ({k})",
        "title_es": f"Completar y enviar la matriz de integración ({k})",
        "description_en": "Complete the matrix on integration and send it to the Technical Secretariat.",
        "description_es": "Completar la matriz sobre integración y enviarla a la Secretaría Técnica.",
        "source_subject": "LINK BETWEEN DEVELOPMENT AND MIGRATION",
        "source_objective": "3",
        "source_text": "COUNTRIES WILL COMPLETE AND SUBMIT THE MATRIX TO THE TS",
        "source_document": "Plan of Action 2006-11",
        "owners_all_members": all_members,
        "due_kind": "date",
        "due_date": due,
        "due_precision": "day",
        "due_offset_days": 0,
        "status_hint": "",
        "active": True,
    }


def _assignment(cid: str, code: str, due: date, state: str) -> dict[str, Any]:
    extended = state == "extended"
    return {
        "commitment_id": cid,
        "party_code": code,
        "occurrence": "once",
        "meeting_id": None,
        "original_due_date": due - timedelta(days=30) if extended else due,
        "due_date": due,
        "state": state,
        "state_changed_at": None,
        "extension_requested_to": None,
        "note": "",
    }


def _far_date(k: int) -> date:
    """Commitment ``k``'s date: odd ones 60 days to ~15 years back, even ones 40 days to ~8 years ahead."""
    if k % 2:
        return TODAY - timedelta(days=60 + (k * 7919) % 5400)
    return TODAY + timedelta(days=40 + (k * 104729) % 2900)


def _spread_date(k: int) -> date:
    """Commitment ``k``'s date in a database whose dates cover every day from five years back to five ahead."""
    return TODAY + timedelta(days=(k * 104729) % 3652 - 1826)


def tick_contact(assignment_id: int, parties: int = TICK_PARTIES) -> tuple[int, str]:
    """The focal point (id, address) of a tick database's assignment: one contact per party, in party order."""
    p = (assignment_id - 1) % parties
    return p + 1, f"focal.point{p}@t{p:05d}.example.org"


def _state(k: int, p: int, when: date, due: int) -> str:
    if k == 0:
        return "pending"
    roll = (k * 31 + p * 17) % 100
    if when < TODAY:
        return "confirmed" if roll < 85 else "waived" if roll < 90 else "submitted" if roll < 95 else "pending"
    return "extended" if roll < 10 else "pending"


# --------------------------------------------------------------------------- loading


def _fresh(path: Path) -> Engine:
    for leftover in (path, *_sidecars(path)):
        leftover.unlink(missing_ok=True)
    engine = make_engine(sqlite_url(path))
    migrate(engine)
    return engine


def _fast_load(conn: Connection) -> None:
    """A bulk load that a crash may lose: this file is rebuilt from scratch if it is."""
    conn.exec_driver_sql("PRAGMA synchronous=OFF")


def _insert(conn: Connection, table: sa.Table, rows: Iterable[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= ROWS_PER_STATEMENT:
            conn.execute(table.insert(), batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)


def _insert_in_transactions(engine: Engine, table: sa.Table, rows: Iterable[dict[str, Any]]) -> None:
    """Commit every few statements: one huge transaction would copy the whole table into the WAL."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= ROWS_PER_TRANSACTION:
            with engine.begin() as conn:
                _fast_load(conn)
                _insert(conn, table, batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            _fast_load(conn)
            _insert(conn, table, batch)


def _seal(engine: Engine) -> None:
    """Fold the WAL into the file and leave it a single self-contained file."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("PRAGMA journal_mode=DELETE")


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]

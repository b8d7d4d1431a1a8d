"""A large load never holds SQLite's write lock long enough to make a concurrent confirm fail."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, func, select

from followup.daemon.actions import set_state
from followup.schedule import loading
from followup.schedule.loading import apply_dataset, load_paths
from followup.store import db
from followup.store.dataset import CommitmentRecord, ContactRecord, DataSet, DueRule, Origin, SourceRef, Text
from followup.store.db import make_engine, migrate
from followup.store.models import Assignment, Commitment, Contact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
ROWS = 30_000
#: Shorter than the real 10 s, so that the test is quick and a lock held for a whole load would show.
BUSY_TIMEOUT_MS = 1500


def _big_dataset() -> DataSet:
    origin = Origin("big.yaml", 1)
    contacts = [
        ContactRecord(
            f"c{n}", "HN" if n % 2 else "SV", f"Person {n}", f"p{n}@example.org", "cc", None, None, True, origin
        )
        for n in range(ROWS - 1000)
    ]
    commitments = [
        CommitmentRecord(
            f"big-{n}",
            Text(f"Item {n}"),
            Text(""),
            False,
            ("HN",),
            DueRule("date", on=date(2027, 3, 1)),
            None,
            "",
            SourceRef(),
            origin,
        )
        for n in range(1000)
    ]
    return DataSet(contacts=contacts, commitments=commitments)


@pytest.mark.slow
def test_confirm_during_a_30000_row_load_never_finds_the_database_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)
    url = f"sqlite:///{tmp_path / 'followup.db'}"
    loader = make_engine(url)
    migrate(loader)
    load_paths(loader, [FIXTURES / "small.yaml"], now=NOW)
    with Session(loader) as s:
        targets = [a for a in s.exec(select(Assignment.id)).all() if a is not None]
    data = _big_dataset()
    failures: list[BaseException] = []
    done = threading.Event()
    writing = threading.Event()
    upsert_contacts = loading._upsert_contacts

    def signalling_upsert(*args: Any, **kwargs: Any) -> None:
        writing.set()
        upsert_contacts(*args, **kwargs)

    monkeypatch.setattr(loading, "_upsert_contacts", signalling_upsert)

    def load() -> None:
        try:
            apply_dataset(loader, data, now=NOW)
        except BaseException as exc:
            failures.append(exc)
        finally:
            done.set()

    confirmer = make_engine(url)
    thread = threading.Thread(target=load)
    started = time.monotonic()
    thread.start()
    confirmed: list[float] = []
    try:
        # Once the load is writing contacts, change states while it goes on.
        assert writing.wait(timeout=300)
        for n, aid in enumerate(targets):
            t0 = time.monotonic()
            set_state(confirmer, aid, "confirmed" if n % 2 else "waived", now=NOW, actor="test")
            confirmed.append(time.monotonic() - t0)
        overlapped = not done.is_set()
    finally:
        thread.join(timeout=600)
    took = time.monotonic() - started
    assert failures == []
    assert overlapped, "the load ended before the confirms: make it bigger"
    assert len(confirmed) == len(targets)
    with Session(confirmer) as s:
        assert s.exec(select(func.count()).select_from(Contact)).one() == ROWS - 1000 + 1
        assert s.exec(select(func.count()).select_from(Commitment)).one() == 1000 + 3
        assert all(s.get(Assignment, aid).state in ("confirmed", "waived") for aid in targets)  # type: ignore[union-attr]
    print(f"\nload of {ROWS} rows: {took:.1f}s; slowest concurrent confirm {max(confirmed):.2f}s")
    loader.dispose()
    confirmer.dispose()

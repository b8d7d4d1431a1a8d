"""``followup ingest`` holds a bounded number of bytes per batch, whatever the messages weigh."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from followup.clock import FixedClock
from followup.inbound.inbox import ingest_files
from followup.outbound.signing import signing_key
from followup.store.db import make_engine, migrate
from tests.factories import settings_for

NOW = datetime(2026, 9, 4, 15, 0, tzinfo=UTC)


def _message(n: int, body: str) -> bytes:
    return (
        f"From: fp{n}@migracion.gob.hn.example\nTo: ts@rcm.example\nSubject: RE: matriz {n}\n"
        f"Message-ID: <batch-{n}@example.org>\nDate: Fri, 04 Sep 2026 10:00:00 -0600\n\n{body}\n"
    ).encode()


def test_files_are_stored_a_few_megabytes_at_a_time(tmp_path: Path) -> None:
    """A folder of large messages is batched by bytes as well as by count, so memory stays bounded."""
    settings = settings_for(tmp_path, FOLLOWUP_REPLIES__BATCH_BYTES=str(4 * 1024 * 1024))
    engine = make_engine(settings.database_url)
    migrate(engine)
    folder = tmp_path / "exported"
    folder.mkdir()
    padding = "x" * 1_500_000
    for n in range(5):  # about 1.5 MB each: two fit in 4 MiB, a third does not
        (folder / f"{n:02d}-large.eml").write_bytes(_message(n, padding))
    for n in range(5, 8):
        (folder / f"{n:02d}-small.eml").write_bytes(_message(n, "Adjunto la matriz."))
    (folder / "99-huge.eml").write_bytes(_message(99, "y" * 5_000_000))
    batches: list[int] = []
    result = ingest_files(
        engine, settings, [folder], clock=FixedClock(NOW), secret=signing_key(settings), on_progress=batches.append
    )
    # Greedy in file order; a message above the budget is stored alone rather than refused.
    assert batches == [2, 2, 4, 1]
    assert result.stored == 9 and not result.unreadable
    assert not any(r.quarantined for _, r in result.results)

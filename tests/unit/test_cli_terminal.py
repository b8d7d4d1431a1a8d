"""Pure pieces of the terminal CLI: the email sniffing, the log clock, the status layout, the progress switch."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from followup import logging_setup
from followup.cli import output
from followup.cli.context import AppContext
from followup.inbound.sources import looks_like_email
from followup.settings import load_settings
from followup.store.status import Cell, Matrix, Row


@pytest.mark.parametrize(
    ("data", "is_email"),
    [
        (b"From: a@b.example\r\nSubject: hi\r\n\r\nbody", True),
        (b"Message-ID: <x@y>\nSubject: broken =?utf-8?B?\n\n\xff", True),
        (b"From sender@example Mon Nov 30 10:00:00 2026\nFrom: a@b.example\n\nbody", True),
        (b"Received: from x\n\tby y\nX-Mailer: z\nFrom: a@b.example\n\nbody", True),
        (b"Subject: no sender, no id\n\nbody", False),
        (b"countries:\n  - code: HN\n    name: Honduras\n", False),
        (b"Call Ana about the matrix.\nFrom the meeting notes.\n", False),
        (b"\nFrom: a@b.example\n", False),
        (b"%PDF-1.7\n\xe2\xe3\xcf\xd3\n", False),
    ],
)
def test_looks_like_email(data: bytes, is_email: bool) -> None:
    assert looks_like_email(data) is is_email


def test_log_times_follow_the_injected_clock() -> None:
    record = logging.LogRecord("t", logging.INFO, "", 0, "hello", None, None)
    record.created = 1_000_000.0
    try:
        logging_setup.follow_clock(datetime(2026, 11, 30, 15, 0, tzinfo=UTC), real_now=1_000_000.0)
        line = logging_setup.JsonFormatter().format(record)
        assert '"ts": "2026-11-30T15:00:00.000+00:00"' in line
    finally:
        logging_setup.reset_clock()
    assert logging_setup.record_time(record) == 1_000_000.0


def _matrix(owners: int) -> Matrix:
    codes = [(f"C{i}", f"Country {i}") for i in range(owners)]
    cell = Cell("due_soon", "due in 3 days", 1, "pending", date(2026, 12, 3), 3)
    return Matrix(date(2026, 11, 30), codes, [Row("c", "Commitment", "by 2026-12-03", {c: cell for c, _ in codes})])


def test_status_layout_fits_the_width() -> None:
    assert output.choose_layout(_matrix(2), "auto", 80) == "commitment"
    assert output.choose_layout(_matrix(17), "auto", 200) == "summary"
    assert output.choose_layout(_matrix(17), "owner", 80) == "owner"


def test_progress_only_on_a_terminal_and_never_when_quiet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("", encoding="utf-8")
    settings = load_settings(config, environ={})
    seen: list[str] = []

    class FakeProgress:
        def __init__(self, *columns: object, **kwargs: object) -> None:
            seen.append("shown")

        def __enter__(self) -> FakeProgress:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def add_task(self, description: str, total: int | None) -> int:
            return 0

        def advance(self, task: int, n: int) -> None:
            seen.append(f"+{n}")

    import rich.progress

    monkeypatch.setattr(rich.progress, "Progress", FakeProgress)
    for quiet, terminal in ((False, False), (True, True), (False, True)):
        monkeypatch.setattr(output, "_stderr_is_terminal", lambda terminal=terminal: terminal)
        with output.progress(AppContext(settings=settings, quiet=quiet), "ingesting") as advance:
            advance(200)
    assert seen == ["shown", "+200"]

"""Give-ups are loud and recoverable: ``tick`` exits 1, ``check`` warns, ``outbox retry`` re-queues."""

from __future__ import annotations

import mailbox
import socket
from pathlib import Path

import pytest

from tests.e2e.test_cli import run

NOW = "2026-11-30T16:00:00Z"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_relay_that_is_down_fails_loudly_and_outbox_retry_recovers(tmp_path: Path) -> None:
    assert run(tmp_path, "demo", "--today", "2026-11-30", "--now", "2026-11-30").returncode == 0
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = str(probe.getsockname()[1])
    down = {
        "FOLLOWUP_SMTP__HOST": "127.0.0.1",
        "FOLLOWUP_SMTP__PORT": dead,
        "FOLLOWUP_SMTP__SECURITY": "none",
        "FOLLOWUP_SMTP__MAX_ATTEMPTS": "1",
    }
    tick = run(tmp_path, "tick", "--now", NOW, env=down)
    assert tick.returncode == 1, tick.stdout + tick.stderr
    assert tick.stderr.strip().splitlines()[-1].startswith("followup: error: nothing went out: ")
    assert "Traceback" not in tick.stderr

    check = run(tmp_path, "check")
    assert check.returncode == 0, check.stderr
    assert "warning: " in check.stderr
    assert "failed and will not be retried" in check.stderr

    retry = run(tmp_path, "outbox", "retry", "--failed", "--since", "2026-11-01", "--now", NOW)
    assert retry.returncode == 0, retry.stderr
    assert "re-queued" in retry.stdout
    assert " 0 failed" not in retry.stdout

    again = run(tmp_path, "tick", "--now", NOW)  # the Maildir this time: everything goes
    assert again.returncode == 0, again.stderr
    assert len(mailbox.Maildir(tmp_path / "var" / "maildir", create=False)) > 0
    assert "warning" not in run(tmp_path, "check").stderr

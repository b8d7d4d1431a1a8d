"""`followup run` starts, says so, and stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest


async def start_daemon(cwd: Path, *args: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "followup", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def wait_for_line(proc: asyncio.subprocess.Process, fragment: str, timeout: float = 30) -> list[str]:
    seen: list[str] = []
    assert proc.stderr is not None

    async def scan() -> None:
        while True:
            line = (await proc.stderr.readline()).decode()  # type: ignore[union-attr]
            if not line:
                raise AssertionError(f"daemon exited before {fragment!r}: {seen}")
            seen.append(line)
            if fragment in line:
                return

    await asyncio.wait_for(scan(), timeout)
    return seen


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_daemon_starts_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    init = await start_daemon(tmp_path, "demo", "--if-empty")
    assert await asyncio.wait_for(init.wait(), 60) == 0
    proc = await start_daemon(tmp_path, "run")
    lines = await wait_for_line(proc, "daemon started")
    assert any("job dispatch" in line for line in lines)
    proc.send_signal(sig)
    rest = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, rest[1].decode()
    assert "daemon stopped" in rest[1].decode()
    assert "Traceback" not in rest[1].decode()


async def test_daemon_refuses_an_uninitialised_database(tmp_path: Path) -> None:
    proc = await start_daemon(tmp_path, "run")
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert err.decode().strip() == (
        "followup: error: database schema is empty, expected " + _head() + ": run 'followup init'"
    )


def _head() -> str:
    from followup.store.db import head_revision

    return head_revision()

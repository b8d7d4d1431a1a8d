"""The web pages served by `followup run` (web.enabled) and by `followup web`; both stop cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_daemon import start_daemon, wait_for_line

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _config(tmp_path: Path, *, enabled: bool) -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "followup.toml").write_text(
        f'[web]\nenabled = {"true" if enabled else "false"}\nhost = "127.0.0.1"\nport = {port}\n'
        'base_url = "http://127.0.0.1"\n'
    )
    return port


async def _get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


async def test_run_serves_the_web_pages_beside_the_daemon(tmp_path: Path) -> None:
    port = _config(tmp_path, enabled=True)
    init = await start_daemon(tmp_path, "demo", "--if-empty")
    assert await asyncio.wait_for(init.wait(), 120) == 0
    proc = await start_daemon(tmp_path, "run")
    lines = await wait_for_line(proc, "Uvicorn running on", timeout=120)
    if not any("daemon started" in line for line in lines):
        await wait_for_line(proc, "daemon started", timeout=120)
    assert (await _get(port, "/healthz")).text == "ok\n"
    login = await _get(port, "/matrix")
    assert login.status_code == 303
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert f"web pages at http://127.0.0.1:{port}/" in out.decode()
    assert "daemon stopped" in err.decode()
    assert "Traceback" not in err.decode()


async def test_web_alone(tmp_path: Path) -> None:
    port = _config(tmp_path, enabled=False)
    init = await start_daemon(tmp_path, "init")
    assert await asyncio.wait_for(init.wait(), 120) == 0
    proc = await start_daemon(tmp_path, "web")
    await wait_for_line(proc, "Uvicorn running on", timeout=120)
    assert (await _get(port, "/static/style.css")).headers["content-type"].startswith("text/css")
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert f"serving http://127.0.0.1:{port}/" in out.decode()

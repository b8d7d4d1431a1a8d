"""The story in a real browser: a reminder sent over SMTP, its link opened in Chromium, a PDF uploaded,
the secretariat sees "submitted", confirms, and downloads the archive with the same PDF byte for byte.

Drives Debian's ``chromium`` through Playwright's async API (``executable_path``; Playwright's own
browser download is never used). ``make test`` installs Chromium when it can; without it this test
skips with the reason, and fails under CI. Screenshots of every page (English and Spanish) are kept
under the test's tmp folder, in ``screenshots/``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import os
import re
import shutil
import socket
import subprocess
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session

from followup.clock import FixedClock
from followup.daemon.services import Mailer, tick
from followup.outbound.signing import signing_key
from followup.store.db import make_engine, migrate
from followup.store.models import Assignment
from followup.web.server import make_server
from followup.web.users import add_user
from tests.conftest import require_server
from tests.factories import make_assignment, make_commitment, make_contact, make_party, settings_for

if TYPE_CHECKING:
    from tests.smtp_server import RecordingHandler, SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

# Monday 3 August 2026, 15:00 UTC: 09:00 in Tegucigalpa and Belize, inside the send window.
NOW = datetime(2026, 8, 3, 15, 0, tzinfo=UTC)
DUE = date(2026, 8, 17)  # the -14d reminder is due now
PASSWORD = "correct horse battery"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def chromium_binary() -> str:
    """Debian's Chromium; installed here when missing and we are root (as ``make test`` does)."""
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False, capture_output=True, timeout=900)
        found = shutil.which("chromium")
    require_server(found is not None, "chromium is not installed (apt-get install chromium; make test does it)")
    assert found is not None
    return found


def _links(handler: RecordingHandler) -> dict[str, str]:
    """The item link found in the text part of each message, by recipient."""
    out = {}
    for received in handler.messages:
        msg = email.message_from_bytes(received.data, policy=email.policy.default)
        body = msg.get_body(("plain",))
        assert body is not None
        found = re.search(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{44}", str(body.get_content()))
        assert found, "the reminder carries no item link"
        out[received.rcpt_tos[0]] = found.group(0)
    return out


async def test_reminder_link_upload_confirm_and_download(
    tmp_path: Path, smtp_server: SmtpServer, smtp_handler: RecordingHandler
) -> None:
    chromium = chromium_binary()
    from playwright.async_api import async_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = settings_for(
        tmp_path,
        smtp_port=smtp_server.port,
        FOLLOWUP_WEB__BASE_URL=base,
        FOLLOWUP_WEB__ARCHIVE_DIR=str(tmp_path / "archive"),
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    with Session(engine) as s:
        make_party(s, "HN", name_en="Honduras", name_es="Honduras")
        make_party(s, "BZ", name_en="Belize", name_es="Belice")
        make_contact(s, "HN", name="Ana López", email="ana@migracion.hn.example")
        make_contact(s, "BZ", name="John Smith", email="john@immigration.bz.example")
        make_commitment(s, "matrix", title_en="Integration matrix", title_es="Matriz de integración", due_date=DUE,
                        description_en="Complete the matrix on integration.",
                        description_es="Completar la matriz sobre integración.")  # fmt: skip
        hn = make_assignment(s, "matrix", "HN", DUE, occurrence="once")
        make_assignment(s, "matrix", "BZ", DUE, occurrence="once")
        s.commit()
        hn_id = hn.id
    add_user(engine, "officer@rcm.example.org", "secretariat", PASSWORD, now=NOW)

    mailer = Mailer.create(engine, settings)
    try:
        assert (await tick(mailer, NOW)).sent == 2
    finally:
        await mailer.close()
    await smtp_handler.wait_for(2)
    links = _links(smtp_handler)
    assert all(link.startswith(base) for link in links.values())

    server = make_server(settings, engine, FixedClock(NOW), signing_key(settings), embedded=True)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page = await context.new_page()

            await page.goto(links["john@immigration.bz.example"])
            assert await page.locator("h1").inner_text() == "Integration matrix"
            await page.screenshot(path=str(shots / "item-en.png"), full_page=True)

            await page.goto(links["ana@migracion.hn.example"])
            assert await page.locator("html").get_attribute("lang") == "es"
            await page.screenshot(path=str(shots / "item-es.png"), full_page=True)
            pdf = tmp_path / "informe.pdf"
            pdf.write_bytes(PDF)
            await page.set_input_files("#files", str(pdf))
            await page.fill("#note", "Adjunto la matriz.")
            await page.get_by_role("button", name="Ya lo envié").click()
            await page.wait_for_url("**done=sent")
            assert "hemos registrado su entrega" in await page.locator("main").inner_text()
            await page.screenshot(path=str(shots / "item-es-sent.png"), full_page=True)

            phone = await browser.new_page(viewport={"width": 390, "height": 844})
            await phone.goto(links["ana@migracion.hn.example"])
            await phone.screenshot(path=str(shots / "item-es-phone.png"), full_page=True)
            await phone.goto(base + "/s/" + "A" * 44)
            await phone.screenshot(path=str(shots / "bad-link.png"), full_page=True)
            await phone.close()

            await page.goto(base + "/matrix")
            await page.fill("#email", "officer@rcm.example.org")
            await page.fill("#password", PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url("**/matrix")
            cell = page.locator(f'a[href="/assignments/{hn_id}"]')
            assert await cell.inner_text() == "submitted"
            await page.screenshot(path=str(shots / "matrix.png"), full_page=True)

            await cell.click()
            await page.wait_for_url(f"**/assignments/{hn_id}")
            await page.fill("#act-note", "Received, thank you.")
            await page.get_by_role("button", name="Confirm").click()
            await page.wait_for_url("**done=confirm")
            await page.screenshot(path=str(shots / "assignment.png"), full_page=True)
            async with page.expect_download() as waiting:
                await page.get_by_role("link", name="Download all (ZIP)").click()
            download = await waiting.value
            saved = tmp_path / "export.zip"
            await download.save_as(str(saved))

            for name in ("triage", "outbox", "archive"):
                await page.goto(f"{base}/{name}")
                await page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            await browser.close()
    finally:
        server.should_exit = True
        await serving
        engine.dispose()

    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as zf:
        pdfs = [n for n in zf.namelist() if n.endswith("informe.pdf")]
        assert len(pdfs) == 1
        assert zf.read(pdfs[0]) == PDF
    with Session(make_engine(settings.database_url)) as s:
        row = s.get(Assignment, hn_id)
        assert row is not None
        assert row.state == "confirmed"
    assert {p.name for p in shots.iterdir()} >= {"item-en.png", "item-es.png", "matrix.png", "assignment.png"}

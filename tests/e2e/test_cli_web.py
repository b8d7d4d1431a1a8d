"""The web's command-line side as a user runs it: accounts, the archive of reply attachments, links in emails."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import mailbox
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.e2e.test_cli import assert_one_line_error, run
from tests.e2e.test_cli_replies import NOW, reply, sent_messages

PDF = b"%PDF-1.4\nreply attachment\n%%EOF\n"
#: Each command is a new process; on a loaded machine a handful of them outlast the default timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def run_with_input(cwd: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    return subprocess.run([sys.executable, "-m", "followup", *args], cwd=cwd, env=env, input=text,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def test_user_add_passwd_remove(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    added = run_with_input(tmp_path, "a long enough password\n", "user", "add", "Officer@RCM.example.org",
                           "--role", "secretariat", "--password-stdin")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "user officer@rcm.example.org added (secretariat)" in added.stdout
    again = run_with_input(tmp_path, "a long enough password\n", "user", "add", "officer@rcm.example.org",
                           "--password-stdin")  # fmt: skip
    assert_one_line_error(again, "already exists")
    short = run_with_input(tmp_path, "short\n", "user", "passwd", "officer@rcm.example.org", "--password-stdin")
    assert_one_line_error(short, "too short", code=2)
    changed = run_with_input(tmp_path, "another long password\n", "user", "passwd", "officer@rcm.example.org",
                             "--password-stdin")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert run(tmp_path, "user", "remove", "officer@rcm.example.org").returncode == 0
    assert_one_line_error(run(tmp_path, "user", "remove", "officer@rcm.example.org"), "no user")


def test_reply_attachments_are_archived_listed_and_exported(tmp_path: Path) -> None:
    sent = sent_messages(tmp_path)
    hn = next(m for m in sent if str(m["Content-Language"]) == "es")
    tag = str(hn["Subject"]).split("]")[0] + "]"
    answer = reply(hn, f"Buenos días, adjunto la documentación solicitada para {tag}. Saludos")
    answer.add_attachment(PDF, maintype="application", subtype="octet-stream", filename="../matriz\u202efdp.pdf")
    (tmp_path / "answer.eml").write_bytes(answer.as_bytes())
    assert run(tmp_path, "ingest", str(tmp_path / "answer.eml"), "--now", NOW).returncode == 0

    listed = run(tmp_path, "archive", "list", "--format", "csv")
    assert listed.returncode == 0, listed.stderr
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert len(rows) == 1
    assert (rows[0]["channel"], rows[0]["name"], rows[0]["type"]) == ("email", "matrizfdp.pdf", "application/pdf")
    party = rows[0]["party"]
    assert run(tmp_path, "archive", "list", "--party", "ZZ", "--format", "csv").stdout.count("\n") == 1
    assert "0 file(s) archived" in run(tmp_path, "archive", "backfill").stdout  # already there: idempotent

    out = tmp_path / "export.zip"
    exported = run(tmp_path, "archive", "export", "--party", party, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    with zipfile.ZipFile(out) as zf:
        pdfs = [n for n in zf.namelist() if n.endswith(".pdf")]
        assert len(pdfs) == 1
        assert zf.read(pdfs[0]) == PDF
        assert pdfs[0] in zf.read("manifest.csv").decode()
    assert_one_line_error(run(tmp_path, "archive", "export", "--out", str(tmp_path / "x.tar")), "expected a .zip", 2)


def test_emails_carry_item_links_only_with_a_base_url(tmp_path: Path) -> None:
    without = sent_messages(tmp_path)
    assert all("/s/" not in str(m.get_body(("plain",)).get_content()) for m in without)  # type: ignore[union-attr]
    other = tmp_path / "with-links"
    other.mkdir()
    env = {"FOLLOWUP_WEB__BASE_URL": "https://followup.example.org"}
    assert run(other, "demo", "--today", "2026-11-30", "--now", "2026-11-30", env=env).returncode == 0
    assert run(other, "tick", "--now", NOW, env=env).returncode == 0
    box = mailbox.Maildir(other / "var" / "maildir", create=False)
    bodies = []
    for key in box.iterkeys():
        msg = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        body = msg.get_body(("plain",))  # type: ignore[attr-defined]
        bodies.append(str(body.get_content()) if body is not None else "")
    with_links = [b for b in bodies if "https://followup.example.org/s/" in b]
    assert with_links
    assert all(re.search(r"https://followup\.example\.org/s/[A-Za-z0-9_-]{44}\n", b) for b in with_links)

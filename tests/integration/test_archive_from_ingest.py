"""Archiving a reply's attachments reuses the MIME tree ingest parsed: no second parse of the message."""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

import pytest
from sqlmodel import Session, select

from followup.inbound import archive
from followup.inbound.archive import Archive
from followup.inbound.classify import understand
from followup.inbound.ingest import ingest
from followup.store.models import ArchiveFile
from tests.web_app import SECRET, WebEnv

PDF = b"%PDF-1.4\nla matriz completada\n%%EOF\n"


def _reply(*, with_pdf: bool = True) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ana López <ana@hn.example.org>"
    msg["To"] = "ts@rcm.example.org"
    msg["Subject"] = "Matriz de integración"
    msg["Message-ID"] = "<ana.1@hn.example.org>"
    msg.set_content("Buenos días, adjunto la matriz completada. Saludos.")
    if with_pdf:
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="matriz.pdf")
    return msg.as_bytes()


def test_the_tree_is_kept_only_for_a_reply_with_real_attachments_read_in_full() -> None:
    assert understand(_reply(), date(2026, 8, 3)).tree is not None
    assert understand(_reply(with_pdf=False), date(2026, 8, 3)).tree is None
    big = _reply() + b"\n" * 70_000
    assert understand(big, date(2026, 8, 3), max_parse_bytes=65_536).tree is None  # partial: the backfill's job


def test_ingest_archives_from_the_tree_it_parsed(web_env: WebEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_second_parse(raw: bytes) -> None:
        raise AssertionError("the message was parsed a second time")

    monkeypatch.setattr(archive, "attachment_parts", no_second_parse)
    result = ingest(web_env.engine, web_env.settings, _reply(), source="test", now=web_env.clock.now(), secret=SECRET)
    assert result.verified and result.assignment_ids == (web_env.assignment_id,)
    with Session(web_env.engine) as session:
        [row] = session.exec(select(ArchiveFile)).all()
    assert (row.assignment_id, row.original_name, row.channel) == (web_env.assignment_id, "matriz.pdf", "email")
    stored = Archive(web_env.settings.web.archive_dir).path_of(row.sha256)
    assert stored.read_bytes() == PDF
    assert stored.stat().st_mode & 0o777 == 0o640
    assert list((web_env.settings.web.archive_dir / "incoming").iterdir()) == []  # nothing left half-written

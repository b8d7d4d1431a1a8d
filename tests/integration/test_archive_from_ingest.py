"""Archiving a reply's attachments reuses the MIME tree ingest parsed: no second parse of the message."""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from followup.inbound import archive
from followup.inbound import ingest as ingest_module
from followup.inbound.archive import ARCHIVE_FILE, Archive, ParsedReply, backfill
from followup.inbound.classify import understand
from followup.inbound.ingest import ingest
from followup.store.models import ArchiveFile, InboundMessage
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


def test_a_failing_archive_is_rolled_back_alone(web_env: WebEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """Archiving runs in the interpreting transaction, in a savepoint: a full disk costs the files, nothing else."""

    def disk_full(self: Archive, data: bytes, original_name: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Archive, "put_bytes", disk_full)
    result = ingest(web_env.engine, web_env.settings, _reply(), source="test", now=web_env.clock.now(), secret=SECRET)
    assert result.verified and result.changed == [web_env.assignment_id] and result.acknowledged
    with Session(web_env.engine) as session:
        assert session.exec(select(ArchiveFile)).all() == []
        [stored] = session.exec(select(InboundMessage)).all()
        assert stored.interpreted_at is not None and stored.match_method and not stored.quarantined
    # The files come later, from the stored message, with the backfill.
    monkeypatch.undo()
    assert backfill(web_env.engine, web_env.settings, web_env.clock.now()) == 1


def test_what_archiving_wrote_before_failing_is_undone(web_env: WebEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_then_fail(conn: sa.Connection, settings: object, replies: list[ParsedReply]) -> int:
        reply = replies[0]
        assignment_id, commitment_id, party_code = reply.assignments[0]
        conn.execute(
            sa.insert(ARCHIVE_FILE).values(
                sha256="0" * 64, assignment_id=assignment_id, commitment_id=commitment_id, party_code=party_code,
                inbound_id=reply.inbound_id, received_at=reply.received_at, channel="email", original_name="x",
                media_type="application/pdf", size=1,
            )
        )  # fmt: skip
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(ingest_module, "archive_parsed", half_then_fail)
    result = ingest(web_env.engine, web_env.settings, _reply(), source="test", now=web_env.clock.now(), secret=SECRET)
    assert result.verified and result.changed == [web_env.assignment_id] and result.acknowledged
    with Session(web_env.engine) as session:
        assert session.exec(select(ArchiveFile)).all() == []
        assert session.exec(select(InboundMessage)).one().interpreted_at is not None

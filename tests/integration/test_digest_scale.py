"""The digest of a big database: a summary under 200 KB with the items attached, never one SQL variable per item.

200 owners x 200 commitments (40,000 assignments, 30,000 of them overdue),
long titles and names, hundreds of failed emails, replies waiting for triage
and submissions: the shape that made the old digest list every item and put
every id in one ``IN`` list. What is checked is behaviour (size, counts,
attachment), not time.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from followup.cli.output import write_matrix_csv
from followup.outbound.compose import Composer, Mailbox
from followup.outbound.emails import build_email, meeting_round
from followup.outbound.emails.base import BuildContext
from followup.outbound.emails.digest import MAX_EMAIL_BYTES, item_lines
from followup.outbound.emails.lookup import RowCache
from followup.outbound.render import Renderer
from followup.schedule.reminder_rules import DeliveryGroup
from followup.settings import Settings
from followup.store.db import make_engine, migrate
from followup.store.matrix import open_matrix, status_matrix
from followup.store.models import Notification

NOW = datetime(2026, 8, 24, 14, 0, tzinfo=UTC)
TODAY = NOW.date()
SETTINGS = Settings()
OWNERS = 200
COMMITMENTS = 200
LONG = "with the contact details of each ministry, the legal framework and the statistics of the last five years"


def _tables() -> dict[str, sa.Table]:
    return SQLModel.metadata.tables  # type: ignore[return-value]


def _fill(engine: Engine) -> None:
    t = _tables()
    parties = [f"P{i:03d}" for i in range(OWNERS)]
    with engine.begin() as conn:
        conn.execute(t["party"].insert(), [
            {"code": code, "kind": "country", "name_en": f"Republic of Somewhere Far Away Number {i}",
             "name_es": f"República de Algún Lugar Lejano Número {i}", "timezone": "America/Costa_Rica",
             "language": "es", "member": True, "holiday_country": "", "active": True}
            for i, code in enumerate(parties)
        ])  # fmt: skip
        conn.execute(t["contact"].insert(), [
            {"key": f"{code}-primary", "party_code": code, "name": f"Focal Point {i}",
             "email": f"fp{i}@p{i}.example.org", "role": "primary", "active": True, "address_state": "ok",
             "address_note": ""}
            for i, code in enumerate(parties)
        ])  # fmt: skip
        conn.execute(t["commitment"].insert(), [
            {"id": f"commitment-{k}", "title_en": f"Complete and submit the national matrix number {k} {LONG}",
             "title_es": f"Completar y enviar la matriz nacional número {k}", "due_kind": "date",
             "due_precision": "day", "due_offset_days": 0, "owners_all_members": True, "status_hint": "",
             "active": True, "description_en": "", "description_es": "", "source_subject": "",
             "source_objective": "", "source_text": "", "source_document": ""}
            for k in range(COMMITMENTS)
        ])  # fmt: skip
        rows: list[dict[str, Any]] = []
        for k in range(COMMITMENTS):
            for p, code in enumerate(parties):
                due = TODAY - timedelta(days=1 + (k * 7 + p) % 400) if k % 4 else TODAY + timedelta(days=k % 30)
                state = "submitted" if (k + p) % 50 == 0 else "pending"
                rows.append({"commitment_id": f"commitment-{k}", "party_code": code, "occurrence": "once",
                             "original_due_date": due, "due_date": due, "state": state, "note": ""})  # fmt: skip
        conn.execute(t["assignment"].insert(), rows)
        contact_ids = [cid for (cid,) in conn.execute(sa.select(t["contact"].c.id))]
        conn.execute(t["notification"].insert(), [
            {"dedupe_key": f"failed-{n}", "kind": "overdue", "assignment_id": 1 + n * 37,
             "contact_id": contact_ids[n % 150], "recipient": f"fp{n % 150}@p{n % 150}.example.org", "step": "+8d",
             "scheduled_at": NOW - timedelta(hours=n), "state": "bounced", "attempts": 1,
             "last_error": f"550 5.1.1 mailbox {n % 90} unknown", "lease_owner": "", "created_at": NOW, "payload": {}}
            for n in range(120)
        ])  # fmt: skip
        conn.execute(t["inbound_message"].insert(), [
            {"content_hash": f"h{n}", "source": "", "sender": f"someone{n}@elsewhere.example.org",
             "sender_name": "", "subject": f"Question {n} about the matrix {LONG}", "classification": "human",
             "intent": "question", "new_text": "", "attachments": [], "bounced_recipient": "", "match_method": "",
             "verified": False, "quarantined": False, "error": "", "triage": "open", "auth_failure": "",
             "received_at": NOW - timedelta(hours=n)}
            for n in range(300)
        ])  # fmt: skip


def _engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'big.db'}")
    migrate(engine)
    _fill(engine)
    return engine


def test_big_digest_stays_under_200_kb_and_attaches_the_oldest_items(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    composer = Composer(SETTINGS.mail, secret=b"s" * 32, tag=SETTINGS.secretariat.tag)
    for language in ("en", "es"):
        row = Notification(id=1, dedupe_key="digest", kind="digest", recipient=SETTINGS.secretariat.email,
                           scheduled_at=NOW, payload={"language": language})  # fmt: skip
        group = DeliveryGroup(None, SETTINGS.secretariat.email, TODAY, (row,), (row,))
        with Session(engine) as session:
            context = BuildContext(engine, SETTINGS, Renderer(), RowCache(session), language_override=language)
            draft = build_email(context, group, NOW)
        assert draft is not None
        message = composer.compose(
            draft.rendered, kind="digest", to=[Mailbox(SETTINGS.secretariat.email, "TS")], now=NOW,
            attachments=draft.attachments,
        )  # fmt: skip
        assert len(message.data) < MAX_EMAIL_BYTES, (language, len(message.data))
        [attachment] = draft.attachments
        assert attachment.filename.endswith(".zip")
        with zipfile.ZipFile(io.BytesIO(attachment.data)) as archive:
            [member] = archive.namelist()
            listed = list(csv.reader(io.StringIO(archive.read(member).decode("utf-8-sig"))))
        text = draft.rendered.text
        overdue = sum(1 for k in range(COMMITMENTS) if k % 4 for p in range(OWNERS) if (k + p) % 50)
        if language == "en":
            assert f"OVERDUE ({overdue})" in text
            assert f"lists the oldest {len(listed) - 1} of the " in text
        else:
            assert f"VENCIDOS ({overdue})" in text
            assert f"enumera los {len(listed) - 1} más antiguos de los " in text
        assert 1000 < len(listed) - 1 < overdue
        owners = {r[1] for r in listed[1:]}
        first_owner = [r for r in listed[1:] if r[1] == "P000"]
        assert first_owner == sorted(first_owner, key=lambda r: r[5])  # oldest first, per owner
        assert owners and max(len(line) for line in text.splitlines()) < 400
    engine.dispose()


def test_full_item_list_is_every_open_item(tmp_path: Path) -> None:
    """``followup digest --csv``'s rows: every open item due by the horizon, whatever the number."""
    engine = _engine(tmp_path)
    lines = list(item_lines(engine, SETTINGS, NOW, "en"))
    horizon = TODAY + timedelta(days=SETTINGS.digest.upcoming_days)
    expected = sum(
        1
        for k in range(COMMITMENTS)
        for p in range(OWNERS)
        if (k + p) % 50 and (TODAY - timedelta(days=1 + (k * 7 + p) % 400) if k % 4 else
                             TODAY + timedelta(days=k % 30)) <= horizon
    )  # fmt: skip
    assert len(lines) - 1 == expected
    [first] = csv.reader([lines[1].decode()])
    assert date.fromisoformat(first[5]) < TODAY
    engine.dispose()


def test_secretariat_round_on_the_big_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts from the streamed matrix, a few missing items per owner, the whole matrix attached (zipped)."""
    engine = _engine(tmp_path)
    with engine.begin() as conn:
        conn.execute(_tables()["meeting"].insert(), [{
            "id": "rcgm-next", "kind": "rcgm", "title_en": "RCGM", "title_es": "GRCM",
            "start_date": TODAY + timedelta(days=7), "end_date": TODAY + timedelta(days=8), "place": "San Salvador"}
        ])  # fmt: skip
    monkeypatch.setattr(meeting_round, "ZIP_ABOVE_BYTES", 100_000)
    row = Notification(id=1, dedupe_key="round", kind="meeting_round", recipient=SETTINGS.secretariat.email,
                       scheduled_at=NOW, payload={"meeting_id": "rcgm-next", "days": 7, "party_code": ""})  # fmt: skip
    with Session(engine) as session:
        context = BuildContext(engine, SETTINGS, Renderer(), RowCache(session))
        draft = build_email(context, DeliveryGroup(None, SETTINGS.secretariat.email, TODAY, (row,), (row,)), NOW)
    assert draft is not None
    [attachment] = draft.attachments
    assert attachment.filename == "status-rcgm-next.zip"
    with zipfile.ZipFile(io.BytesIO(attachment.data)) as archive:
        attached = list(csv.reader(io.StringIO(archive.read("status-rcgm-next.csv").decode("utf-8-sig"))))
    matrix = status_matrix(engine, TODAY)
    out = io.StringIO()
    with open_matrix(engine, TODAY) as stream:
        write_matrix_csv(stream, out)
    assert attached == list(csv.reader(io.StringIO(out.getvalue())))
    counts = matrix.counts()
    text = draft.rendered.text
    assert f"Parties:      {OWNERS}" in text and f"Commitments:  {COMMITMENTS}" in text
    assert f"(of which {counts['overdue']} overdue)" in text
    assert f"... and {OWNERS - meeting_round.ROUND_OWNERS} more parties with items missing" in text
    assert text.count("(the oldest 5 are listed)") == meeting_round.ROUND_OWNERS
    assert "attached as a CSV file (zipped)" in text
    engine.dispose()

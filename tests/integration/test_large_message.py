"""A 28 MB reply with a 20 MB attachment: stored whole, understood, in bounded memory."""

from __future__ import annotations

import os
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlmodel import Session, select

from followup.inbound.ingest import ingest
from followup.outbound.signing import signing_key
from followup.schedule.loading import load_paths
from followup.store.db import make_engine, migrate
from followup.store.models import Assignment, InboundMessage, InboundRaw
from tests.factories import settings_for

NOW = datetime(2026, 9, 4, 15, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _large_reply(matrix_id: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ana María López <alopez@migracion.gob.hn.example>"
    msg["To"] = "ts@rcm.example.org"
    msg["Subject"] = f"RE: [RCM-{matrix_id}] matriz"
    msg["Message-ID"] = "<large-1@migracion.gob.hn.example>"
    msg.set_content("Buenos días,\n\nAdjunto la matriz completada.\n\nSaludos,\nAna María")
    msg.add_attachment(os.urandom(20_000_000), maintype="application", subtype="vnd.ms-excel", filename="matriz.xlsx")
    msg.add_attachment(os.urandom(800_000), maintype="application", subtype="pdf", filename="anexo.pdf")
    return msg.as_bytes()


def test_a_28_mb_reply_is_stored_whole_and_read_in_bounded_memory(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    engine = make_engine(settings.database_url)
    migrate(engine)
    load_paths(engine, [FIXTURES / "year.yaml"], now=NOW - timedelta(days=30))
    with Session(engine) as s:
        matrix = s.exec(select(Assignment).where(Assignment.commitment_id == "matrix-a")).one()
    raw = _large_reply(matrix.id or 0)
    assert len(raw) > 27_000_000
    secret = signing_key(settings)
    tracemalloc.start()
    try:
        result = ingest(engine, settings, raw, source="big.eml", now=NOW, secret=secret)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\n{len(raw) / 1e6:.1f} MB message: peak {peak / 1e6:.1f} MB traced during ingest")
    assert peak < 4 * len(raw)
    assert result.intent == "confirmation" and result.changed == [matrix.id]
    with Session(engine) as s:
        stored = s.get(InboundMessage, result.inbound_id)
        kept = s.get(InboundRaw, result.inbound_id)
        assert stored is not None and kept is not None
        assert kept.raw == raw  # kept whole for audit
        assert stored.attachments[0]["filename"] == "matriz.xlsx"

"""The digest and the secretariat's round read what is open, never the whole history: checked with EXPLAIN.

Every SELECT they run on SQLite is planned with ``EXPLAIN QUERY PLAN``; a
full scan (``SCAN``, with or without an index) of ``assignment``,
``notification``, ``event`` or ``inbound_message`` fails the test. The
tables grow with history; the queries must reach their rows through an
index that bounds the cost by what is open or recent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from followup.outbound.emails import build_email
from followup.outbound.emails.base import BuildContext
from followup.outbound.emails.digest import digest_email
from followup.outbound.emails.lookup import RowCache
from followup.outbound.render import Renderer
from followup.schedule.reminder_rules import DeliveryGroup
from followup.settings import Settings
from followup.store.db import session_scope
from followup.store.models import Event, InboundMessage, Meeting, Notification
from tests.factories import make_assignment, make_commitment, make_contact, make_party

NOW = datetime(2026, 8, 24, 14, 0, tzinfo=UTC)
TODAY = NOW.date()
SETTINGS = Settings()
HISTORY_TABLES = ("assignment", "notification", "event", "inbound_message")


def _fill(engine: Engine) -> None:
    with session_scope(engine) as s:
        make_party(s, "HN", name_en="Honduras")
        make_party(s, "SV", name_en="El Salvador")
        ana = make_contact(s, "HN", name="Ana", email="ana@hn.example.org")
        make_contact(s, "SV", name="Luis", email="luis@sv.example.org")
        s.add(Meeting(id="rcgm", kind="rcgm", title_en="RCGM", start_date=TODAY + timedelta(days=7),
                      end_date=TODAY + timedelta(days=8)))  # fmt: skip
        for k in range(6):
            make_commitment(s, f"c{k}", due_date=TODAY + timedelta(days=k * 9 - 30))
            for code in ("HN", "SV"):
                a = make_assignment(s, f"c{k}", code, TODAY + timedelta(days=k * 9 - 30),
                                    state="submitted" if k == 5 else "pending")  # fmt: skip
                s.add(Notification(dedupe_key=f"n{k}{code}", kind="overdue", assignment_id=a.id, contact_id=ana.id,
                                   recipient="ana@hn.example.org", scheduled_at=NOW - timedelta(days=k),
                                   state="bounced" if k % 2 else "sent", last_error="550"))  # fmt: skip
                s.add(Event(at=NOW - timedelta(days=k), actor="cli", action="submitted", assignment_id=a.id))
        s.add(InboundMessage(content_hash="x", sender="ana@hn.example.org", triage="open",
                             received_at=NOW))  # fmt: skip


def _full_scans(engine: Engine, statements: list[tuple[str, Any]]) -> list[str]:
    found = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            for row in cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall():
                detail = str(row[3])
                if any(detail.startswith(f"SCAN {table}") for table in HISTORY_TABLES):
                    found.append(f"{detail}\n    in: {' '.join(statement.split())[:300]}")
    finally:
        raw.close()
    return found


def test_digest_and_round_never_scan_history(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    _fill(engine)
    statements: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", grab)
    try:
        found = digest_email(engine, SETTINGS, Renderer(), NOW, "en")
        assert found is not None and found[1] is not None
        row = Notification(id=1, dedupe_key="round", kind="meeting_round", recipient=SETTINGS.secretariat.email,
                           scheduled_at=NOW, payload={"meeting_id": "rcgm", "days": 7, "party_code": ""})  # fmt: skip
        with Session(engine) as session:
            context = BuildContext(engine, SETTINGS, Renderer(), RowCache(session))
            group = DeliveryGroup(None, SETTINGS.secretariat.email, date(2026, 8, 24), (row,), (row,))
            assert build_email(context, group, NOW) is not None
    finally:
        sa.event.remove(engine, "before_cursor_execute", grab)
    # The round attaches the whole matrix, which reads every assignment and every reply by design.
    whole_matrix = ("ORDER BY assignment.commitment_id, assignment.party_code", "GROUP BY inbound_match.assignment_id")
    statements = [(s, p) for s, p in statements if not any(marker in s for marker in whole_matrix)]
    assert len(statements) > 10
    assert _full_scans(engine, statements) == []

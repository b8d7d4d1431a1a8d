"""Every statement of one tick and of one ingest reads through an index, never the whole history.

A deployment keeps years of notifications, events and inbound messages; a
tick or an ingest that scans any of those tables costs more every day. The
test records each statement a real tick (occurrences, meeting rounds, plan,
claim, build, send, record) and a real ingest (store, match, bounce, rate
limit, acknowledge) send to the database, with SQLAlchemy's
``before_cursor_execute`` event, and asks the database how it would run
each read, update and delete: SQLite's ``EXPLAIN QUERY PLAN`` must show no
``SCAN`` of the history tables (a ``SCAN ... USING INDEX`` reads the whole
index, which is no better), and PostgreSQL's ``EXPLAIN`` (with sequential
scans priced out, so a sequential scan means that no index fits) no ``Seq
Scan`` of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from followup.daemon.services import Mailer, tick
from followup.inbound.ingest import ingest_many, interpret_pending
from followup.inbound.mailbox_state import save_cursor
from followup.outbound.signing import signing_key
from followup.outbound.tokens import make_token, reply_address
from followup.schedule.rounds import plan_meeting_rounds
from followup.store.db import session_scope
from tests.factories import make_assignment, make_commitment, make_contact, make_party, settings_for

#: The tables that grow with history: no statement of a tick or an ingest may read one whole.
HISTORY = ("notification", "assignment", "event", "inbound_message")
#: States that rows keep for ever: an index range on one of these alone is the whole history too.
SETTLED_STATES = {"sent", "failed", "bounced", "cancelled", "submitted", "confirmed", "waived"}
NOW = datetime(2026, 8, 3, 15, 0, tzinfo=UTC)  # a Monday, 09:00 in Honduras
DUE = date(2026, 8, 17)  # the default policy's -14d reminder is due at NOW
NOTIFICATION = SQLModel.metadata.tables["notification"]
EVENT = SQLModel.metadata.tables["event"]
INBOUND = SQLModel.metadata.tables["inbound_message"]


@dataclass
class Recorded:
    statements: list[tuple[str, Any]] = field(default_factory=list)


@contextmanager
def recording(engine: Engine) -> Iterator[Recorded]:
    """Every statement ``engine`` sends while the block runs, with its first set of parameters."""
    recorded = Recorded()

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
        many = (
            executemany and isinstance(parameters, list | tuple) and parameters and not isinstance(parameters[0], str)
        )
        recorded.statements.append((statement, parameters[0] if many else parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield recorded
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def full_scans(engine: Engine, statements: list[tuple[str, Any]]) -> list[str]:
    """The statements whose plan reads a history table whole, each with the offending plan line."""
    problems: list[str] = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            cursor.execute("SET enable_seqscan = off")
        for statement, parameters in statements:
            verb = statement.lstrip().split(None, 1)[0].upper()
            if verb not in ("SELECT", "UPDATE", "DELETE", "WITH") and not (
                verb == "INSERT" and re.search(r"\bSELECT\b", statement, re.IGNORECASE)
            ):
                continue
            settled = _settled_states(engine.dialect.name, statement, parameters)
            plan = _plan(cursor, engine.dialect.name, statement, parameters)
            for line in plan:
                if _scans_history(engine.dialect.name, line) or (
                    settled and _by_state_alone(engine.dialect.name, line)
                ):
                    problems.append(f"{line.strip()}\n    in: {' '.join(statement.split())[:400]}")
    finally:
        raw.rollback()
        raw.close()
    return problems


def _plan(cursor: Any, dialect: str, statement: str, parameters: Any) -> list[str]:
    if dialect == "postgresql":
        cursor.execute("EXPLAIN " + statement, parameters or None)
        return [str(row[0]) for row in cursor.fetchall()]
    cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters or ())
    return [str(row[-1]) for row in cursor.fetchall()]


def _scans_history(dialect: str, line: str) -> bool:
    names = "|".join(HISTORY)
    if dialect == "postgresql":
        return re.search(rf"Seq Scan on ({names})\b", line) is not None
    # "SCAN notification", "SCAN notification USING INDEX ..." (the whole index), "SCAN n" for an alias.
    return re.match(rf"\s*SCAN ({names})(_\d+)?\b", line) is not None


def _settled_states(dialect: str, statement: str, parameters: Any) -> bool:
    """Whether the statement asks a history table for rows in a settled state (``state = 'sent'``...)."""
    names = "|".join(HISTORY)
    found: list[Any] = []
    if dialect == "postgresql":
        for m in re.finditer(rf"\b(?:{names})\.state (?:= %\((\w+)\)s|IN \(__\[POSTCOMPILE_(\w+)\]\))", statement):
            value = (parameters or {}).get(m.group(1) or m.group(2))
            found.extend(value if isinstance(value, list | tuple) else [value])
        for m in re.finditer(rf"\b(?:{names})\.state IN \(([^)]*)\)", statement):
            keys = re.findall(r"%\((\w+)\)s", m.group(1))
            found.extend((parameters or {}).get(k) for k in keys)
    else:
        for m in re.finditer(rf"\b(?:{names})\.state (?:= \?|IN \(([?, ]+)\))", statement):
            first = statement[: m.start()].count("?")
            count = m.group(1).count("?") if m.group(1) else 1
            found.extend(list(parameters or ())[first : first + count])
    return any(value in SETTLED_STATES for value in found)


def _by_state_alone(dialect: str, line: str) -> bool:
    """A plan line reading a history table's index on ``state`` and nothing narrower."""
    names = "|".join(HISTORY)
    if dialect == "postgresql":
        return re.search(r"Index Cond: \(\(state\)::text = ", line) is not None or (
            re.search(r"Index Cond: \(\(state\)::text = ANY", line) is not None
        )
    return re.match(rf"\s*SEARCH ({names})(_\d+)? USING (COVERING )?INDEX \w+ \(state=\?\)", line) is not None


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    hn_primary: int
    mx_primary: int
    due: int
    sent_message_id: str
    sent_notification: int


def build_world(engine: Engine, *, meeting: bool = False, crowd: int = 0) -> World:
    """Two countries, a reminder due now, some history of every kind, and (``meeting``) a round due.

    ``crowd`` more owners with an item due now make a tick's statements as big as a real tick's
    (``IN`` lists of dozens of ids): without statistics SQLite weighs a long ``IN`` list against
    the other indexes, and may then prefer one on ``state`` that reads the whole history.
    """
    with session_scope(engine) as s:
        for n in range(crowd):
            make_party(s, f"Q{n:02d}")
            make_contact(s, f"Q{n:02d}", email=f"fp@q{n:02d}.example")
        if crowd:
            make_commitment(s, "crowd", title_en="Submit the form", title_es="Enviar el formulario")
            for n in range(crowd):
                make_assignment(s, "crowd", f"Q{n:02d}", DUE)
        make_party(s, "HN")
        make_party(s, "MX")
        hn = make_contact(s, "HN", email="Ana.Lopez@Migracion.HN.example")
        make_contact(s, "HN", role="alternate", email="alt@hn.example")
        mx = make_contact(s, "MX", email="fp@mx.example")
        make_contact(s, "MX", role="alternate", email="alt@mx.example")
        make_commitment(s, "matrix", title_en="Submit the matrix", title_es="Enviar la matriz")
        make_commitment(s, "report", title_en="Send the report", title_es="Enviar el informe")
        due = make_assignment(s, "matrix", "HN", DUE)
        make_assignment(s, "matrix", "MX", DUE)
        # Resolved items of past years: the history is spread over them, as it is in a real database.
        past = [
            make_assignment(s, "report", "HN", DUE - timedelta(days=400 + 30 * n), state="confirmed").id
            for n in range(20)
        ]
        old = make_assignment(s, "report", "MX", DUE - timedelta(days=400), state="confirmed")
        resolved = make_assignment(s, "report", "MX", DUE + timedelta(days=3), state="confirmed")
        if meeting:
            s.execute(
                sa.text(
                    "INSERT INTO meeting (id, kind, title_en, title_es, start_date, end_date, place) "
                    "VALUES ('rcgm-2026', 'rcgm', 'RCGM', 'RCGM', :start, :start, 'Tegucigalpa')"
                ),
                {"start": (NOW + timedelta(days=20)).date()},
            )
        assert hn.id and mx.id and due.id and old.id and resolved.id
        ids = (hn.id, mx.id, due.id, old.id, resolved.id)
    hn_id, mx_id, due_id, old_id, resolved_id = ids
    spread = [a for a in past if a is not None]
    history: list[dict[str, Any]] = []
    for n in range(60):
        at = NOW - timedelta(days=3 + 7 * n)
        history.append(
            _notification(
                f"hist:{n}",
                "reminder" if n % 3 else "acknowledgement",
                spread[n % len(spread)],
                hn_id if n % 2 else mx_id,
                "Ana.Lopez@Migracion.HN.example" if n % 2 else "fp@mx.example",
                at,
                "sent",
                f"<hist.{n}@rcm.example.org>",
            )
        )
    # The -30d reminder about the item due, which the first reply answers.
    history.append(
        _notification(
            "sent-due",
            "reminder",
            due_id,
            hn_id,
            "Ana.Lopez@Migracion.HN.example",
            NOW - timedelta(days=16),
            "sent",
            "<due.1@rcm.example.org>",
        )
    )
    # A step planned for an item resolved since (cancel_stale withdraws it), and a lapsed lease.
    history.append(_notification("stale", "reminder", resolved_id, mx_id, "fp@mx.example", NOW, "planned", None))
    history.append(_notification("lapsed", "reminder", old_id, mx_id, "fp@mx.example", NOW, "sending", None))
    with engine.begin() as conn:
        conn.execute(sa.insert(NOTIFICATION), history)
        conn.execute(
            sa.update(NOTIFICATION)
            .where(NOTIFICATION.c.dedupe_key == "lapsed")
            .values(lease_owner="gone", lease_until=NOW - timedelta(hours=1))
        )
        sent = conn.execute(
            sa.select(NOTIFICATION.c.id, NOTIFICATION.c.message_id).where(NOTIFICATION.c.dedupe_key == "sent-due")
        ).one()
        conn.execute(
            sa.insert(EVENT),
            [
                {
                    "at": NOW - timedelta(days=n),
                    "actor": "test",
                    "action": "extended" if n % 5 else "confirmed",
                    "assignment_id": due_id if n % 2 else spread[n % len(spread)],
                    "entity": "",
                    "entity_id": "",
                    "details": {},
                }
                for n in range(40)
            ],
        )
        conn.execute(
            sa.insert(INBOUND),
            [
                {
                    "message_id": f"<old.{n}@example.org>",
                    "content_hash": f"{n:064x}",
                    "source": "t",
                    "received_at": NOW - timedelta(days=n),
                    "sender": "fp@mx.example",
                    "sender_name": "",
                    "subject": "",
                    "classification": "autoreply",
                    "intent": "unknown",
                    "new_text": "",
                    "attachments": [],
                    "return_date": (NOW + timedelta(days=9 - n)).date(),
                    "bounced_recipient": "",
                    "match_method": "",
                    "verified": False,
                    "quarantined": False,
                    "error": "",
                    "triage": "none",
                    "interpreted_at": NOW - timedelta(days=n),
                    "auth_failure": "",
                }
                for n in range(20)
            ],
        )
    if engine.dialect.name == "postgresql":
        # Statistics, as autovacuum keeps them: PostgreSQL then knows that most rows are "sent".
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return World(hn_id, mx_id, due_id, sent.message_id, sent.id)


def _notification(
    key: str, kind: str, assignment: int, contact: int, recipient: str, at: datetime, state: str, mid: str | None
) -> dict[str, Any]:
    return {
        "dedupe_key": key,
        "kind": kind,
        "assignment_id": assignment,
        "contact_id": contact,
        "recipient": recipient,
        "step": "-14d",
        "due_date": DUE,
        "scheduled_at": at,
        "state": state,
        "message_id": mid,
        "attempts": 1 if state == "sent" else 0,
        "last_error": "",
        "lease_owner": "",
        "sent_at": at if state == "sent" else None,
        "created_at": at,
        "payload": {},
    }


def replies(world: World, secret: bytes) -> list[tuple[str, bytes]]:
    """A confirmation (by headers and by token), an unreferenced reply, an auto-reply, a bare bounce, a stranger."""
    token = reply_address(make_token(world.sent_notification, secret), "ts", "rcm.example.org")

    def mail(n: int, sender: str, subject: str, body: str, headers: str = "") -> tuple[str, bytes]:
        raw = (
            f"From: {sender}\r\nTo: ts@rcm.example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <in.{n}@example.org>\r\nDate: Mon, 03 Aug 2026 08:00:00 -0600\r\n{headers}\r\n{body}\r\n"
        )
        return f"imap;uid={n}", raw.encode()

    bounce = (
        b"From: MAILER-DAEMON@mx.example.org\r\nTo: ts@rcm.example.org\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce.1@mx.example.org>\r\n"
        b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        b"Final-Recipient: rfc822; FP@mx.example\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n"
    )
    return [
        mail(
            1,
            "Ana López <ana.lopez@migracion.hn.example>",
            "RE: Recordatorio",
            "Adjunto la matriz.",
            f"In-Reply-To: {world.sent_message_id}\r\nReferences: {world.sent_message_id}\r\n",
        ),
        mail(
            2,
            "ana.lopez@migracion.hn.example",
            "Pregunta",
            "¿Dónde envío el informe?",
            f"Reply-To: x@y.example\r\nCc: {token}\r\n",
        ),
        mail(3, "ana.lopez@migracion.hn.example", "Hola", "Una pregunta sobre la matriz: ¿cuál es el formato?"),
        mail(
            4,
            "fp@mx.example",
            "Respuesta automática",
            "Estaré fuera de la oficina hasta el 20 de agosto.",
            "Auto-Submitted: auto-replied\r\n",
        ),
        mail(5, "someone@gmail.example", "Question", "Where do I send the report?"),
        ("imap;uid=6", bounce),
    ]


# --------------------------------------------------------------------------- the tests


async def test_one_tick_reads_no_history_table_whole(engine: Engine, tmp_path: Path) -> None:
    build_world(engine, crowd=60)
    settings = settings_for(tmp_path)
    mailer = Mailer.create(engine, settings)
    try:
        with recording(engine) as recorded:
            result = await tick(mailer, NOW)
    finally:
        await mailer.close()
    assert result.sent >= 60 and result.plan.planned >= 60 and result.plan.cancelled >= 1  # the tick did real work
    problems = full_scans(engine, recorded.statements)
    assert problems == [], "full scans in one tick:\n" + "\n".join(problems)


def test_planning_meeting_rounds_reads_no_history_table_whole(engine: Engine, tmp_path: Path) -> None:
    """Who got mail lately and who is away, for a round's recipients: the tick's questions again.

    (Building the secretariat's own round, the status of every owner, is the
    status table's business and is not checked here.)
    """
    build_world(engine, meeting=True)
    with recording(engine) as recorded:
        planned = plan_meeting_rounds(engine, settings_for(tmp_path), NOW)
    assert planned >= 2  # a focal point and the secretariat
    problems = full_scans(engine, recorded.statements)
    assert problems == [], "full scans planning meeting rounds:\n" + "\n".join(problems)


def test_one_ingest_reads_no_history_table_whole(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    settings = settings_for(tmp_path)
    secret = signing_key(settings)
    messages = replies(world, secret)

    def cursor(session: Any, _sources: Any) -> None:
        save_cursor(session, "imap://test", 7, len(messages))

    with recording(engine) as recorded:
        interpret_pending(engine, settings, now=NOW, secret=secret)
        results = ingest_many(engine, settings, messages, now=NOW, secret=secret, on_stored=cursor)
    assert results[0].changed == [world.due] and results[0].acknowledged  # the ingest did real work
    with engine.connect() as conn:
        bounced = conn.execute(sa.select(NOTIFICATION.c.state).where(NOTIFICATION.c.recipient == "fp@mx.example"))
        assert "bounced" in set(bounced.scalars())
    problems = full_scans(engine, recorded.statements)
    assert problems == [], "full scans in one ingest:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("line", "scans"),
    [
        ("SCAN notification", True),
        ("SCAN notification USING INDEX ix_notification_due", True),
        ("SEARCH notification USING INDEX ix_notification_contact_sent (contact_id=? AND sent_at>?)", False),
        ("SCAN contact", False),
        ("SCAN event_1", True),
    ],
)
def test_what_counts_as_a_full_scan_on_sqlite(line: str, scans: bool) -> None:
    assert _scans_history("sqlite", line) is scans

"""Escalations say how many reminders were really sent, and copy people only about escalated items.

The emails are built from the database exactly as the dispatcher builds them:
earlier reminders are outbox rows marked sent, the escalation is a claimed row.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from followup.outbound.emails import build_email
from followup.outbound.emails.base import BuildContext, Draft
from followup.outbound.emails.lookup import RowCache
from followup.outbound.render import Renderer
from followup.schedule.reminder_rules import DeliveryGroup
from followup.settings import Settings
from followup.store.db import session_scope
from followup.store.models import Notification
from tests.factories import make_assignment, make_commitment, make_contact, make_party

NOW = datetime(2026, 9, 8, 15, 0, tzinfo=UTC)
SETTINGS = Settings()


def _sent(session: Session, assignment_id: int, contact_id: int, n: int, message_id: str) -> None:
    session.add(
        Notification(
            dedupe_key=f"a{assignment_id}:{n}", kind="overdue", assignment_id=assignment_id, contact_id=contact_id,
            recipient="ana@hn.example.org", step=f"+{n}d", scheduled_at=NOW, state="sent", message_id=message_id,
        )
    )  # fmt: skip


def _world(engine: Engine, *, earlier: int, merged: bool) -> DeliveryGroup:
    with session_scope(engine) as s:
        make_party(s, "HN", name_en="Honduras", name_es="Honduras")
        ana = make_contact(s, "HN", name="Ana López", email="ana@hn.example.org", language="es")
        make_contact(s, "HN", name="Luis Pérez", email="luis@hn.example.org", role="alternate")
        make_commitment(s, "matrix", title_en="Integration matrix", title_es="Matriz sobre integración")
        make_commitment(s, "format", title_en="Common format", title_es="Formato común")
        matrix = make_assignment(s, "matrix", "HN", date(2026, 8, 17))
        other = make_assignment(s, "format", "HN", date(2026, 9, 1))
        assert ana.id is not None and matrix.id is not None and other.id is not None
        for n in range(earlier):
            _sent(s, matrix.id, ana.id, n, f"<m{n}@x>")
        _sent(s, other.id, ana.id, 99, "<m0@x>")  # rode along in the first email
        cc = {"cc": ["luis@hn.example.org", SETTINGS.secretariat.email], "cc_alternate": True, "cc_secretariat": True}
        rows = [
            Notification(id=100, dedupe_key="esc", kind="escalation", assignment_id=matrix.id, contact_id=ana.id,
                         recipient="ana@hn.example.org", step="+22d", scheduled_at=NOW, payload={"ordinal": 1, **cc})
        ]  # fmt: skip
        if merged:
            rows.append(
                Notification(id=101, dedupe_key="ovd", kind="overdue", assignment_id=other.id, contact_id=ana.id,
                             recipient="ana@hn.example.org", step="+8d", scheduled_at=NOW, payload={"ordinal": 2})
            )  # fmt: skip
        return DeliveryGroup(ana.id, "ana@hn.example.org", NOW.date(), tuple(rows), tuple(rows))


def _build(engine: Engine, group: DeliveryGroup) -> Draft:
    with Session(engine) as session:
        draft = build_email(BuildContext(engine, SETTINGS, Renderer(), RowCache(session)), group, NOW)
    assert draft is not None
    return draft


def test_single_escalation_counts_the_reminders_really_sent(engine: Engine) -> None:
    draft = _build(engine, _world(engine, earlier=6, merged=False))
    assert draft.rendered.subject.startswith("Séptimo recordatorio: Matriz sobre integración")
    assert "nuestro séptimo recordatorio" in draft.rendered.text
    # The copy line names people, not bare addresses.
    assert "Enviamos copia a Luis Pérez (punto focal alterno) y a la Secretaría Técnica" in draft.rendered.text
    assert "luis@hn.example.org" not in draft.rendered.text


def test_merged_escalation_copies_only_about_the_escalated_item(engine: Engine) -> None:
    draft = _build(engine, _world(engine, earlier=10, merged=True))
    text = draft.rendered.text
    assert "segundo recordatorio" not in text.lower()
    assert draft.rendered.subject == "Plazos vencidos: 2 compromisos"
    copy_line = text.index("Enviamos copia a")
    matrix, fmt = text.index("Matriz sobre integración"), text.index("Formato común")
    assert matrix < copy_line < fmt  # the other item is listed after the copy wording, not under it
    assert "10 enviados hasta ahora" in text
    assert "También está pendiente el siguiente compromiso:" in text


def test_overdue_emails_attach_no_past_events(engine: Engine) -> None:
    draft = _build(engine, _world(engine, earlier=2, merged=True))
    assert draft.attachments == []
    assert "calendario" not in draft.rendered.text


def test_an_extended_deadline_moves_the_calendar_event(engine: Engine) -> None:
    from followup.daemon.actions import extend

    group = _world(engine, earlier=0, merged=False)
    [row] = group.rows
    assert row.assignment_id is not None
    extend(engine, row.assignment_id, date(2026, 9, 30), now=NOW, actor="secretariat", note="")
    reminder = Notification(
        id=102, dedupe_key="r", kind="reminder", assignment_id=row.assignment_id, contact_id=row.contact_id,
        recipient=row.recipient, step="-14d", scheduled_at=NOW,
    )  # fmt: skip
    draft = _build(engine, DeliveryGroup(row.contact_id, row.recipient, NOW.date(), (reminder,), (reminder,)))
    [ics] = draft.attachments
    text = ics.data.decode()
    assert (
        f"UID:deadline-{row.assignment_id}@" in text and "SEQUENCE:1" in text and "DTSTART;VALUE=DATE:20260930" in text
    )

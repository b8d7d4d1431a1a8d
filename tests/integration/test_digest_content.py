"""What the secretariat reads on Monday: owners first, people by name, one line per repeated failure."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine

from followup.outbound.emails.digest import collect_digest
from followup.outbound.render import render
from followup.settings import Settings
from followup.store.db import session_scope
from followup.store.models import InboundMessage, Notification
from tests.factories import make_assignment, make_commitment, make_contact, make_party

NOW = datetime(2026, 8, 24, 14, 0, tzinfo=UTC)
SETTINGS = Settings()


def test_digest_names_who_is_away_collapses_failures_and_opens_with_owners(engine: Engine) -> None:
    with session_scope(engine) as s:
        make_party(s, "HN", name_en="Honduras", name_es="Honduras")
        make_party(s, "NI", name_en="Nicaragua", name_es="Nicaragua")
        ana = make_contact(s, "HN", name="Ana López", email="ana@hn.example.org")
        make_contact(s, "HN", name="Luis Pérez", email="luis@hn.example.org", role="alternate")
        make_contact(s, "NI", name="Gone", email="gone@ni.example.org", address_state="failing")
        make_commitment(s, "matrix", title_en="Integration matrix", title_es="Matriz sobre integración")
        late = make_assignment(s, "matrix", "HN", date(2026, 8, 10))
        make_assignment(s, "matrix", "NI", date(2026, 8, 30))
        s.add(InboundMessage(content_hash="ooo", sender="ana@hn.example.org", received_at=NOW,
                             classification="autoreply", return_date=date(2026, 9, 7)))  # fmt: skip
        s.add(InboundMessage(content_hash="ext", sender="ana@hn.example.org", sender_name="",
                             received_at=NOW, subject="prórroga", intent="extension",
                             proposed_date=date(2026, 9, 30), triage="open"))  # fmt: skip
        for n in range(7):
            s.add(
                Notification(dedupe_key=f"f{n}", kind="overdue", assignment_id=late.id, contact_id=ana.id,
                             recipient="ana@hn.example.org", scheduled_at=NOW, state="bounced",
                             last_error="bounced: 550 5.2.2 mailbox full")
            )  # fmt: skip
    context = collect_digest(engine, SETTINGS, NOW)
    [hn, ni] = context.owners
    assert (hn.owner_name, hn.overdue, hn.due_soon, ni.owner_name, ni.due_soon) == ("Honduras", 1, 0, "Nicaragua", 1)
    text = render("digest", "en", context).text
    assert text.index("BY OWNER") < text.index("OVERDUE (")
    assert "Ana López (Honduras) until 7 September 2026: reminders go to Luis Pérez meanwhile" in text
    assert "No working contact for: Nicaragua." in text
    assert "7 emails (#" in text and text.count("mailbox full") == 1
    assert 'from Ana López: "prórroga" (asks for more time, until 30 September 2026)' in text
    es = render("digest", "es", collect_digest(engine, SETTINGS, NOW, "es")).text
    assert "Matriz sobre integración" in es and "Integration matrix" not in es  # preview digest --language es
    assert (
        "Ana López (Honduras) hasta el 7 de septiembre de 2026: mientras tanto, los recordatorios van a Luis Pérez"
        in es
    )


def test_counts_only_digest_says_how_many_owners_are_late(engine: Engine) -> None:
    """``digest.items_per_owner = 0``: no item listed, the counts and the attachment say it all."""
    with session_scope(engine) as s:
        make_party(s, "HN", name_en="Honduras", name_es="Honduras")
        make_contact(s, "HN", name="Ana López", email="ana@hn.example.org")
        make_commitment(s, "matrix", title_en="Integration matrix", title_es="Matriz sobre integración")
        make_assignment(s, "matrix", "HN", date(2026, 8, 10))
    settings = Settings(digest={"items_per_owner": 0})  # type: ignore[arg-type]
    text = render("digest", "en", collect_digest(engine, settings, NOW)).text
    overdue = text[text.index("OVERDUE (1)") : text.index("DUE IN THE NEXT")]
    assert "None." not in overdue and "... and 1 more owner with overdue items." in overdue
    assert "[RCM-" not in overdue

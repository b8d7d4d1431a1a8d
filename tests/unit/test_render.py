"""Email templates: every kind, both languages, strict, escaped, overridable."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import jinja2
import pytest

from followup.outbound.render import (
    BUNDLED_TEMPLATES,
    KINDS,
    AckContext,
    Context,
    DigestContext,
    FailureView,
    ItemView,
    MeetingRoundContext,
    MeetingView,
    PartyItems,
    ReminderContext,
    Renderer,
    RoundSummary,
    SecretariatView,
    SubmissionView,
    UnmatchedView,
    pick,
    render,
)

SEC = SecretariatView("Secretaría Técnica de la CRM", "ts@rcm.example.org")
MATRIX = ItemView(
    assignment_id=12,
    reference="[RCM-12]",
    title="Matriz de integración",
    due_date=date(2026, 8, 15),
    days_left=12,
    owner_name="Costa Rica",
    description="La matriz completa, con los datos de contacto de cada ministerio.",
    source_ref="Plan de Acción 2006-11, Objetivo 2.1",
)
REPORT = ItemView(
    assignment_id=13,
    reference="[RCM-13]",
    title="Informe nacional",
    due_date=date(2026, 7, 31),
    days_left=-3,
    owner_name="Costa Rica",
    original_due_date=date(2026, 7, 15),
    reminders_sent=2,
    last_reply_on=date(2026, 7, 20),
)
MEETING = MeetingView("Reunión del GRCM", date(2026, 9, 10), date(2026, 9, 11), "San José")


def contexts(kind: str) -> list[Context]:
    """A full context and a sparse one for each kind."""
    if kind in ("reminder", "due_today", "overdue", "escalation"):
        return [
            ReminderContext(
                "Ana Pérez", [MATRIX, REPORT], SEC, reminder_number=2, copied_to=["Luis", "TS"], has_calendar=True
            ),
            ReminderContext("", [MATRIX], SEC),
            ReminderContext("Ana", [REPORT], SEC),
        ]
    if kind == "meeting_round":
        summary = RoundSummary(parties=11, commitments=4, open=20, overdue=5, submitted=12, confirmed=10, waived=2)
        return [
            MeetingRoundContext("Ana", "Costa Rica", MEETING, 21, [MATRIX, REPORT], SEC),
            MeetingRoundContext("Ana", "Costa Rica", MEETING, 1, [], SEC),
            MeetingRoundContext(
                "TS",
                "",
                MEETING,
                7,
                [],
                SEC,
                summary=summary,
                open_by_party=[PartyItems("Belice", [MATRIX])],
                has_attachment=True,
            ),
        ]
    if kind == "digest":
        return [
            DigestContext(
                SEC,
                date(2026, 8, 3),
                date(2026, 8, 9),
                overdue_by_party=[PartyItems("Costa Rica", [REPORT])],
                upcoming=[MATRIX],
                submissions=[SubmissionView(MATRIX, "confirmed", date(2026, 8, 4), "ana@example.cr")],
                failures=[
                    FailureView("x@example.org", "[RCM-9]", "overdue", "550 5.1.1 no such user", date(2026, 8, 5))
                ],
                unmatched=[UnmatchedView(45, "who@example.org", "Consulta", date(2026, 8, 6), "question")],
            ),
            DigestContext(SEC, date(2026, 8, 3), date(2026, 8, 9)),
        ]
    assert kind == "acknowledgement"
    return [
        AckContext(
            "Ana", intent, [MATRIX], SEC, "Re: [RCM-12] Recordatorio", date(2026, 8, 4), date(2026, 9, 30), ["m.xlsx"]
        )
        for intent in ("confirmation", "extension", "question", "unknown")
    ] + [AckContext("Ana", "confirmation", [], SEC, "hola", date(2026, 8, 4))]


def test_both_languages_have_the_same_templates() -> None:
    english = {p.name for p in (BUNDLED_TEMPLATES / "en").iterdir()}
    spanish = {p.name for p in (BUNDLED_TEMPLATES / "es").iterdir()}
    assert english == spanish
    expected = {f"{kind}.{part}" for kind in KINDS for part in ("subject.txt", "txt", "html")}
    partials = {"base.txt", "base.html", "_macros.txt", "_macros.html", "_relay_wait.txt", "_relay_wait.html"}
    assert expected | partials == english


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_both_languages(kind: str, language: str) -> None:
    for context in contexts(kind):
        result = render(kind, language, context)
        assert result.language == language
        assert result.subject
        assert "\n" not in result.subject
        assert result.subject == result.subject.strip()
        assert result.text.strip()
        assert result.html.startswith("<!DOCTYPE html>")
        assert f'<html lang="{language}">' in result.html
        assert "None" not in result.text
        assert SEC.email in result.text or kind == "digest"


def test_spanish_reads_as_spanish() -> None:
    result = render("reminder", "es", ReminderContext("Ana Pérez", [MATRIX], SEC))
    assert result.subject == "Recordatorio: Matriz de integración, plazo 15 de agosto de 2026"
    assert result.text.startswith("Estimada/o Ana Pérez:\n")
    assert "Le recordamos que el plazo" in result.text
    assert "el sábado 15 de agosto de 2026" in result.text
    assert "dentro de 12 días" in result.text
    assert "Atentamente," in result.text
    assert "Atentamente," in result.html
    assert "15 de agosto de 2026" in result.html


def test_english_dates() -> None:
    result = render("reminder", "en", ReminderContext("Ana", [MATRIX], SEC))
    assert result.subject == "Reminder: Matriz de integración due 15 August 2026"
    assert "Saturday, 15 August 2026" in result.text
    assert "in 12 days" in result.text
    assert "Kind regards," in result.text


def test_escalation_counts_and_names_the_copies() -> None:
    context = ReminderContext("Ana", [REPORT], SEC, reminder_number=2, copied_to=["Luis Gómez", "TS"])
    en = render("escalation", "en", context)
    es = render("escalation", "es", context)
    assert en.subject.startswith("Second reminder: Informe nacional")
    assert es.subject.startswith("Segundo recordatorio: Informe nacional")
    assert "our second reminder" in en.text
    assert "nuestro segundo recordatorio" in es.text
    assert "We are copying this message to Luis Gómez and TS, in case you are away." in en.text
    assert "Enviamos copia a Luis Gómez y a TS, por si usted se encontrara ausente." in es.text
    third = render("escalation", "es", ReminderContext("Ana", [REPORT], SEC, reminder_number=3))
    assert third.subject.startswith("Tercer recordatorio")


def test_merged_items_each_keep_their_reference() -> None:
    result = render("reminder", "en", ReminderContext("Ana", [MATRIX, REPORT], SEC))
    # one item is overdue: neither the subject nor the intro may call both "due soon"
    assert result.subject == "Reminder: 2 items, 1 overdue"
    assert "each with its own deadline" in result.text
    assert "due soon" not in result.text
    for rendered in (result.text, result.html):
        assert "[RCM-12]" in rendered
        assert "[RCM-13]" in rendered
    assert "3 days overdue" in result.text
    assert "first due 15 July 2026" in result.text


def test_meeting_round_dates_and_secretariat_copy() -> None:
    owner = render("meeting_round", "es", contexts("meeting_round")[0])
    assert "que se celebrará en San José del 10 al 11 de septiembre de 2026" in owner.text
    assert owner.subject == "Reunión del GRCM: 2 compromisos pendientes de Costa Rica"
    secretariat = render("meeting_round", "en", contexts("meeting_round")[2])
    assert secretariat.subject == "Reunión del GRCM: status of commitments (20 open, 5 overdue)"
    assert "attached as a CSV file" in secretariat.text
    assert "Belice" in secretariat.text


def test_digest_sections_and_empty_one_liner() -> None:
    full, empty = contexts("digest")
    result = render("digest", "en", full)
    assert result.subject == "Weekly digest, 9 August 2026: 1 overdue, 1 due in the next 14 days"
    for heading in ("OVERDUE (1)", "DUE IN THE NEXT 14 DAYS (1)", "SUBMITTED OR CONFIRMED", "DELIVERY FAILURES (1)"):
        assert heading in result.text
    assert "3 days overdue; 2 reminders sent; last reply 20 July 2026" in result.text
    assert "#45" in result.text and "asks a question" in result.text
    es = render("digest", "es", full)
    assert "3 días de retraso; 2 recordatorios enviados; última respuesta el 20 de julio de 2026" in es.text
    assert "aviso de plazo vencido [RCM-9]" in es.text
    nothing = render("digest", "en", empty)
    assert nothing.subject == "Weekly digest, 9 August 2026: nothing overdue, nothing due soon"
    body = nothing.text.split("\n--\n")[0].strip()
    assert body.count("\n") == 0
    assert "3–9 August 2026" in body


def test_acknowledgement_says_what_was_recorded() -> None:
    confirmation, extension, question, unknown, _ = contexts("acknowledgement")
    assert "recorded the submission of" in render("acknowledgement", "en", confirmation).text
    assert "Attachments received: m.xlsx." in render("acknowledgement", "en", confirmation).text
    assert "solicitud de prórroga hasta el 30 de septiembre de 2026" in render("acknowledgement", "es", extension).text
    assert "consulta" in render("acknowledgement", "es", question).text
    assert "passed your message" in render("acknowledgement", "en", unknown).text
    assert render("acknowledgement", "es", confirmation).subject == "Recibido: Matriz de integración"


def test_html_escapes_data_and_text_does_not() -> None:
    evil = ItemView(1, "[RCM-1]", "<script>alert('x')</script> & co", date(2026, 8, 15), 3, "<b>Owner</b>")
    result = render("reminder", "en", ReminderContext('Ana "<img src=x>"', [evil], SEC))
    assert "<script>" not in result.html
    assert "&lt;script&gt;" in result.html
    assert "&amp; co" in result.html
    assert "<b>Owner</b>" not in result.html
    assert "<img" not in result.html
    assert "<script>alert('x')</script> & co" in result.text
    assert result.subject == "Reminder: <script>alert('x')</script> & co due 15 August 2026"


def test_subject_is_one_line_whatever_the_title() -> None:
    item = ItemView(1, "[RCM-1]", "Matriz\r\nBcc: x@example.org\n  de\tintegración", date(2026, 8, 15), 3, "CR")
    result = render("reminder", "es", ReminderContext("Ana", [item], SEC))
    assert result.subject == "Recordatorio: Matriz Bcc: x@example.org de integración, plazo 15 de agosto de 2026"


def test_override_directory_replaces_one_template(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "reminder.subject.txt").write_text("Heads up: {{ items[0].title }} ({{ items|length }})\n")
    renderer = Renderer(tmp_path)
    result = renderer.render("reminder", "en", ReminderContext("Ana", [MATRIX], SEC))
    assert result.subject == "Heads up: Matriz de integración (1)"
    assert "This is a reminder" in result.text  # bundled body still used
    assert renderer.render("reminder", "es", ReminderContext("Ana", [MATRIX], SEC)).subject.startswith("Recordatorio")


def test_override_uses_strict_undefined(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "overdue.txt").write_text("{{ no_such_value }}\n")
    with pytest.raises(jinja2.UndefinedError):
        Renderer(tmp_path).render("overdue", "en", ReminderContext("Ana", [REPORT], SEC))


def test_missing_language_falls_back_to_english(tmp_path: Path) -> None:
    context = ReminderContext("Ana", [MATRIX], SEC)
    result = render("reminder", "fr", context)
    assert result.language == "en"
    assert result.subject == "Reminder: Matriz de integración due 15 August 2026"
    # A language with only part of a kind falls back as a whole, never mixing languages.
    (tmp_path / "fr").mkdir()
    (tmp_path / "fr" / "reminder.subject.txt").write_text("Rappel : {{ items[0].title }}\n")
    partial = Renderer(tmp_path).render("reminder", "fr", context)
    assert partial.language == "en"
    assert partial.subject.startswith("Reminder:")
    for part, body in (
        ("txt", "Bonjour {{ recipient_name }}, échéance {{ items[0].due_date|date }}\n"),
        ("html", "<p>{{ recipient_name }}</p>"),
    ):
        (tmp_path / "fr" / f"reminder.{part}").write_text(body)
    complete = Renderer(tmp_path).render("reminder", "fr", context)
    assert complete.language == "fr"
    assert complete.subject == "Rappel : Matriz de integración"
    assert complete.text == "Bonjour Ana, échéance 15 août 2026\n"


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown email kind"):
        render("newsletter", "en", ReminderContext("Ana", [MATRIX], SEC))


def test_reminder_needs_items() -> None:
    with pytest.raises(ValueError, match="at least one item"):
        ReminderContext("Ana", [], SEC)


def test_pick_prefers_spanish_only_when_there_is_some() -> None:
    assert pick("es", "Matrix", "Matriz") == "Matriz"
    assert pick("es", "Matrix", "  ") == "Matrix"
    assert pick("en", "Matrix", "Matriz") == "Matrix"

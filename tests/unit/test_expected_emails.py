"""Every email, both languages, one item and several: compared with checked-in texts.

The Spanish (and English) wording is reviewed by reading
``tests/fixtures/expected_emails/``; a template change shows there as a
diff. After an intended change, regenerate the files and review the diff::

    FOLLOWUP_UPDATE_EXPECTED=1 .venv/bin/pytest tests/unit/test_expected_emails.py
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from followup.outbound.render import (
    KINDS,
    AckContext,
    AwayView,
    CommitmentRow,
    Context,
    DigestContext,
    FailureView,
    ItemView,
    MeetingRoundContext,
    MeetingView,
    OwnerRow,
    PartyItems,
    ReminderContext,
    RoundSummary,
    SecretariatView,
    SubmissionView,
    UnmatchedView,
    render,
)

EXPECTED = Path(__file__).resolve().parents[1] / "fixtures" / "expected_emails"
UPDATE = os.environ.get("FOLLOWUP_UPDATE_EXPECTED") == "1"

SEC = {
    "en": SecretariatView("Technical Secretariat of the RCM", "ts@rcm.example.org"),
    "es": SecretariatView("Secretaría Técnica de la CRM", "ts@rcm.example.org"),
}
TITLES = {
    "matrix": {"en": "Integration matrix", "es": "Matriz sobre integración"},
    "format": {"en": "Common format on smuggling and trafficking cases", "es": "Formato común sobre casos de tráfico"},
    "report": {"en": "Written report on consular protection", "es": "Informe escrito sobre protección consular"},
}
WHAT = {
    "en": "The completed matrix, with the contact details of each ministry.",
    "es": "La matriz completa, con los datos de contacto de cada ministerio.",
}


#: An organisation owner, named with its article in running text, and its officer's own greeting.
IOM = {
    "en": {"owner_name": "International Organization for Migration",
           "owner_in_text": "the International Organization for Migration"},
    "es": {"owner_name": "Organización Internacional para las Migraciones",
           "owner_in_text": "la Organización Internacional para las Migraciones"},
}  # fmt: skip
UNICEF = {
    "en": {"owner_name": "United Nations Children's Fund", "owner_in_text": "the United Nations Children's Fund"},
    "es": {"owner_name": "Fondo de las Naciones Unidas para la Infancia",
           "owner_in_text": "el Fondo de las Naciones Unidas para la Infancia"},
}  # fmt: skip
GREETING = {"en": "Dear Ms Montoya,", "es": "Estimada licenciada Montoya:"}


def _item(key: str, n: int, language: str, days_left: int, **extra: object) -> ItemView:
    due = date.fromordinal(date(2026, 8, 17).toordinal() + days_left)
    values: dict[str, object] = {
        "assignment_id": n,
        "reference": f"[RCM-{n}]",
        "title": TITLES[key][language],
        "due_date": due,
        "days_left": days_left,
        "owner_name": "Honduras",
        "description": WHAT[language] if key == "matrix" else "",
        "source_ref": "rcm_plan_of_action_2006-11.txt, Migration policies and management",
    }
    values.update(extra)
    return ItemView(**values)  # type: ignore[arg-type]


def cases(kind: str, language: str) -> dict[str, Context]:
    """Named contexts for one kind: a single item and several, plus the kind's special cases."""
    sec = SEC[language]
    soon = _item("matrix", 12, language, 14)
    today = _item("format", 13, language, 0)
    late = _item("report", 14, language, -7, reminders_sent=3)
    rcgm = {
        "en": "Regional Consultation Group on Migration (RCGM)",
        "es": "Grupo Regional de Consulta sobre Migración (GRCM)",
    }
    meeting = MeetingView(rcgm[language], date(2026, 8, 31), date(2026, 9, 2), "San Salvador")
    if kind == "reminder":
        return {
            "single": ReminderContext("Ana María López", [soon], sec, has_calendar=True),
            "plural": ReminderContext("Ana María López", [late, today, soon], sec, has_calendar=True),
            "organisation": ReminderContext("Elena Montoya", [replace(soon, **IOM[language])], sec,
                                            salutation=GREETING[language], has_calendar=True),
        }  # fmt: skip
    if kind == "due_today":
        return {
            "single": ReminderContext("Ana María López", [today], sec, has_calendar=True),
            "plural": ReminderContext("Ana María López", [today, replace(today, assignment_id=15, reference="[RCM-15]",
                                                                         title=TITLES["matrix"][language])], sec),
        }  # fmt: skip
    if kind == "overdue":
        return {
            "single": ReminderContext("Ana María López", [late], sec, reminder_number=4),
            "plural": ReminderContext("Ana María López", [late, replace(late, assignment_id=16, reference="[RCM-16]",
                                                                       title=TITLES["format"][language])], sec),
            "organisation": ReminderContext("Tomás Herrera", [replace(late, **UNICEF[language]),
                                                              replace(late, assignment_id=16, reference="[RCM-16]",
                                                                      title=TITLES["format"][language],
                                                                      **UNICEF[language])], sec),
        }  # fmt: skip
    if kind == "escalation":
        alternate = "Luis Pérez (alternate focal point)" if language == "en" else "Luis Pérez (punto focal alterno)"
        secretariat = "the Technical Secretariat" if language == "en" else "la Secretaría Técnica"
        escalated = replace(late, escalated=True, reminders_sent=6)
        other_late = replace(late, assignment_id=16, reference="[RCM-16]", title=TITLES["format"][language])
        return {
            "single": ReminderContext("Ana María López", [escalated], sec, reminder_number=7,
                                      copied_to=[alternate, secretariat]),
            "plural": ReminderContext("Ana María López", [escalated, other_late], sec, reminder_number=7,
                                      copied_to=[alternate, secretariat]),
        }  # fmt: skip
    if kind == "meeting_round":
        summary = RoundSummary(parties=11, commitments=4, open=20, overdue=5, submitted=12, confirmed=10, waived=2)
        return {
            "single": MeetingRoundContext("Ana María López", "Honduras", meeting, 21, [soon], sec, has_calendar=True),
            "plural": MeetingRoundContext("Ana María López", "Honduras", meeting, 7, [late, soon], sec),
            "nothing": MeetingRoundContext("Ana María López", "Honduras", meeting, 7, [], sec),
            "organisation": MeetingRoundContext("Elena Montoya", IOM[language]["owner_name"], meeting, 21,
                                                [replace(soon, **IOM[language])], sec, salutation=GREETING[language],
                                                owner_in_text=IOM[language]["owner_in_text"]),
            "secretariat": MeetingRoundContext("", "", meeting, 7, [], sec, summary=summary,
                                               open_by_party=[PartyItems("Honduras", [late, soon])],
                                               has_attachment=True),
            "summarised": MeetingRoundContext("", "", meeting, 7, [], sec, summary=summary,
                                              open_by_party=[PartyItems("Honduras", [late, soon], total=9)],
                                              has_attachment=True, open_owners_total=12, attachment_zipped=True),
        }  # fmt: skip
    if kind == "digest":
        start, end = date(2026, 7, 27), date(2026, 8, 3)
        return {
            "single": DigestContext(
                sec, start, end,
                overdue_by_party=[PartyItems("Honduras", [late])],
                upcoming=[soon],
                submissions=[SubmissionView(today, "submitted", date(2026, 7, 30), "Ana María López")],
                failures=[FailureView("Ana María López <alopez@hn.example>", "#14", "overdue", "550 5.1.1 no such user",
                                      date(2026, 7, 29))],
                unmatched=[UnmatchedView(45, "alopez@hn.example", "Prórroga", date(2026, 7, 31), "extension",
                                         "Ana María López", date(2026, 8, 31))],
                owners=[OwnerRow("Honduras", 1, 1, 1)],
                away=[AwayView("Ana María López", "Honduras", date(2026, 8, 10), "Luis Pérez")],
            ),
            "plural": DigestContext(
                sec, start, end,
                overdue_by_party=[PartyItems("Honduras", [late, replace(late, assignment_id=16)])],
                upcoming=[soon, today],
                failures=[FailureView("Ana María López <alopez@hn.example>", "#14, #16", "overdue",
                                      "bounced: 550 5.2.2 mailbox full", date(2026, 7, 29), count=7)],
                owners=[OwnerRow("Honduras", 2, 2, 0), OwnerRow("Nicaragua", 0, 1, 0)],
                away=[AwayView("Peter Lindqvist", "Belize", date(2026, 8, 10))],
                unreachable=["Panama" if language == "en" else "Panamá"],
            ),
            "empty": DigestContext(sec, start, end),
            "attached": DigestContext(
                sec, start, end,
                overdue_by_party=[PartyItems("Honduras", [late], total=1)],
                upcoming=[soon],
                owners=[OwnerRow("Honduras", 1, 1, 0)],
                commitments=[CommitmentRow(TITLES["report"][language], 1, 0, 1),
                             CommitmentRow(TITLES["matrix"][language], 0, 1, 1)],
                overdue_total=1, upcoming_total=1, owners_total=1, commitments_total=2, overdue_owners_total=1,
                items_per_owner=5, attachment="digest-2026-08-03.csv", attachment_items=2, items_total=2,
            ),
            "summarised": DigestContext(
                sec, start, end,
                overdue_by_party=[PartyItems("Honduras", [late, replace(late, assignment_id=16, reference="[RCM-16]")],
                                             total=12)],
                upcoming=[soon],
                submissions=[SubmissionView(today, "submitted", date(2026, 7, 30), "Ana María López")],
                owners=[OwnerRow("Honduras", 12, 3, 1)],
                commitments=[CommitmentRow(TITLES["report"][language], 9, 1, 5)],
                overdue_total=40, upcoming_total=9, owners_total=7, commitments_total=3, overdue_owners_total=4,
                submissions_total=25, failures_total=0, unmatched_total=0, items_per_owner=2,
                attachment="digest-2026-08-03.zip", attachment_items=30, items_total=49,
            ),
        }  # fmt: skip
    assert kind == "acknowledgement"
    received = date(2026, 8, 4)
    subject = "RE: [RCM-12] [RCM-13] Recordatorio: 2 compromisos"
    return {
        "single": AckContext("Ana María López", "confirmation", [soon], sec, subject, received,
                             attachments=["matriz_integracion_HN.pdf"]),
        "plural": AckContext("Ana María López", "confirmation", [soon, today], sec, subject, received),
        "which": AckContext("Ana María López", "confirmation", [soon, today], sec, subject, received,
                            attachments=["documento.pdf"], ask_which=True),
        "extension": AckContext("Ana María López", "extension", [soon], sec, subject, received, date(2026, 9, 30)),
        "question": AckContext("Ana María López", "question", [soon], sec, subject, received),
        "salutation": AckContext("Elena Montoya", "confirmation", [replace(soon, **IOM[language])], sec, subject,
                                 received, salutation=GREETING[language]),
    }  # fmt: skip


def _as_text(kind: str, language: str, context: Context) -> str:
    rendered = render(kind, language, context)
    assert rendered.language == language
    return f"Subject: {rendered.subject}\n\n{rendered.text}"


PARAMS = [(kind, language, name) for kind in KINDS for language in ("en", "es") for name in cases(kind, language)]


@pytest.mark.parametrize(("kind", "language", "name"), PARAMS)
def test_every_email_reads_as_reviewed(kind: str, language: str, name: str) -> None:
    text = _as_text(kind, language, cases(kind, language)[name])
    path = EXPECTED / f"{kind}.{name}.{language}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with FOLLOWUP_UPDATE_EXPECTED=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed: review, then FOLLOWUP_UPDATE_EXPECTED=1"


def test_no_expected_text_is_left_over() -> None:
    wanted = {f"{kind}.{name}.{language}.txt" for kind, language, name in PARAMS}
    assert {p.name for p in EXPECTED.glob("*.txt")} <= wanted


def test_every_kind_has_a_single_and_a_plural_case() -> None:
    for kind in KINDS:
        for language in ("en", "es"):
            assert {"single", "plural"} <= set(cases(kind, language))

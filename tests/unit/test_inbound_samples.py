"""Realistic replies (tests/fixtures/mail) and the pieces that understand them."""

from __future__ import annotations

import hashlib
import mailbox
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from followup.inbound.autoreply import detect_autoreply, is_mailing_list, return_date
from followup.inbound.bounce import detect_bounce
from followup.inbound.classify import AUTOREPLY, BOUNCE, HUMAN, understand
from followup.inbound.dates import find_dates, find_period, find_relative, find_weekday
from followup.inbound.html_text import html_to_text
from followup.inbound.intent import classify_intent
from followup.inbound.parse import Attachment, content_hash, parse_message
from followup.inbound.quotes import split_reply, visible_text
from followup.inbound.sources import RawMessage, iter_raw_messages

MAIL = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
REFERENCE = date(2026, 8, 3)


def sample(name: str) -> bytes:
    return (MAIL / name).read_bytes()


@dataclass(frozen=True)
class Expect:
    classification: str
    intent: str = "unknown"
    proposed: date | None = None
    back: date | None = None
    visible_starts: str = ""
    visible_lacks: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()


SAMPLES = {
    "es_gmail_confirmation_attachment.eml": Expect(
        HUMAN,
        "confirmation",
        visible_starts="Estimados colegas de la Secretaría Técnica:\n\nAdjunto la matriz completada",
        visible_lacks=("escribió", "Le recordamos", "ts+"),
        attachments=("Matriz seguimiento Guatemala 2026.xlsx",),
    ),
    "es_outlook_extension_request.eml": Expect(
        HUMAN,
        "extension",
        proposed=date(2026, 9, 15),
        visible_starts="Buenas tardes:\n\nPor medio de la presente les solicitamos una prórroga",
        visible_lacks=("De:", "Enviado:", "Asunto:", "Quesada", "adjunte el comprobante"),
    ),
    "es_iphone_not_yet_sent.eml": Expect(
        HUMAN,
        "unknown",
        visible_starts="Buenos días. Aún no hemos enviado la matriz",
        visible_lacks=("Enviado desde mi iPhone", "adjunte"),
    ),
    "es_outlook_already_sent_cp1252.eml": Expect(
        HUMAN,
        "confirmation",
        visible_starts="Estimados:\n\nLes informamos que la matriz ya fue enviada",
        visible_lacks=("Enviado el:", "por favor adjunte"),
    ),
    "es_attachment_only.eml": Expect(HUMAN, "confirmation", attachments=("matriz_HN.xls",)),
    "es_exchange_out_of_office.eml": Expect(AUTOREPLY, back=date(2026, 9, 7)),
    "es_gmail_vacation.eml": Expect(AUTOREPLY, back=date(2026, 9, 7)),
    "en_out_of_office_subject_only.eml": Expect(AUTOREPLY, back=date(2026, 12, 7)),
    "en_gmail_two_more_weeks.eml": Expect(
        HUMAN,
        "extension",
        proposed=date(2026, 8, 17),
        visible_starts="Dear colleagues,\n\nWe need two more weeks",
        visible_lacks=("wrote:", "Please find attached the template"),
    ),
    "en_outlook_html_confirmation.eml": Expect(
        HUMAN,
        "confirmation",
        visible_starts="Good afternoon,\nPlease find attached the completed matrix for Belize.",
        visible_lacks=("From:", "Sent:", "Please submit it"),
        attachments=("image001.png", "Belize follow-up matrix 2026.pdf"),
    ),
    "en_question.eml": Expect(
        HUMAN,
        "question",
        visible_starts="Hello,\n\nCould you confirm whether the matrix should include the 2025 figures",
        visible_lacks=("Original Message", "Please find attached the template"),
    ),
    "en_not_sent_yet.eml": Expect(
        HUMAN, "unknown", visible_starts="Hi,\n\nWe have not sent the matrix yet", visible_lacks=("template",)
    ),
    "exchange_ndr.eml": Expect(BOUNCE),
    "postfix_dsn_user_unknown.eml": Expect(BOUNCE, attachments=("message.eml",)),
    "postfix_delay_warning.eml": Expect(BOUNCE),
    "mailing_list_post.eml": Expect(AUTOREPLY),
}


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in MAIL.glob("*.eml")) == sorted(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_is_understood(name: str) -> None:
    expect = SAMPLES[name]
    seen = understand(sample(name), REFERENCE)
    assert seen.classification == expect.classification, seen
    assert seen.intent == expect.intent, seen.intent_signals
    assert seen.proposed_date == expect.proposed
    assert seen.return_date == expect.back
    assert seen.visible_text.startswith(expect.visible_starts), seen.visible_text
    for text in expect.visible_lacks:
        assert text not in seen.visible_text
    assert tuple(a.filename for a in seen.attachments) == expect.attachments
    assert seen.parsed.parse_ok
    assert seen.content_hash == content_hash(sample(name))
    if seen.classification != HUMAN:
        assert seen.intent == "unknown"
        assert not seen.may_answer


def test_gmail_reply_headers_are_decoded() -> None:
    parsed = parse_message(sample("es_gmail_confirmation_attachment.eml"))
    assert parsed.sender == "amorales@migracion.gob.example"
    assert parsed.sender_name == "Ana Lucía Morales"
    assert parsed.subject == "Re: Recordatorio: matriz de seguimiento [RCM-42]"
    assert parsed.message_id == "<CAF3x+9Kq2mW7aYb0Z1dQ@mail.gmail.com>"
    assert parsed.in_reply_to == ("<rcm.42.reminder-14d@rcm.example.org>",)
    assert parsed.references == ("<rcm.42.reminder-14d@rcm.example.org>",)
    assert parsed.to == ("ts+qm9yzgvyltqy.c2lnbmf0dxjl@rcm.example.org",)
    assert parsed.cc == ("jherrera@migracion.gob.example",)
    assert parsed.delivered_to == ("ts+qm9yzgvyltqy.c2lnbmf0dxjl@rcm.example.org",)
    assert parsed.x_original_to == parsed.delivered_to
    assert parsed.date == datetime(2026, 8, 4, 15, 12, 31, tzinfo=UTC)
    assert parsed.text_source == "plain"
    assert parsed.attachments[0].size == 23044
    assert parsed.attachments[0].content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert parsed.header("X-Original-To").startswith("ts+")


def test_html_only_outlook_reply_is_read_as_text() -> None:
    parsed = parse_message(sample("en_outlook_html_confirmation.eml"))
    assert parsed.text_source == "html"
    assert "Please find attached the completed matrix for Belize." in parsed.text
    assert "From: RCM Technical Secretariat" in parsed.text  # the quote is there; visible_text cuts it
    logo, pdf = parsed.attachments
    assert logo.inline and logo.content_type == "image/png"
    assert not pdf.inline and pdf.size == 30609


def test_declared_latin1_reply_is_decoded() -> None:
    parsed = parse_message(sample("es_outlook_extension_request.eml"))
    assert parsed.sender_name == "Roberto Sánchez Villalobos"
    assert "prórroga" in parsed.text
    assert parsed.defects == ()


def test_bounces_name_the_failed_address_and_our_message() -> None:
    ndr = detect_bounce(parse_message(sample("exchange_ndr.eml")))
    assert ndr is not None
    assert ndr.addresses == ("jperez@minrex.gob.example",)
    assert ndr.permanent
    assert ndr.recipients[0].status == "5.1.10"
    assert "RecipientNotFound" in ndr.recipients[0].diagnostic
    assert ndr.original_message_id == "<rcm.42.reminder-14d.jperez@rcm.example.org>"

    dsn = detect_bounce(parse_message(sample("postfix_dsn_user_unknown.eml")))
    assert dsn is not None and dsn.format == "rfc3464"
    assert dsn.addresses == ("focal.point@migracion.gob.example",)
    assert dsn.permanent and dsn.reporting_mta == "mx.rcm.example.org"
    assert dsn.original_message_id == "<rcm.42.reminder-14d.fp@rcm.example.org>"

    delay = detect_bounce(parse_message(sample("postfix_delay_warning.eml")))
    assert delay is not None and not delay.permanent
    assert delay.recipients[0].action == "delayed"
    assert delay.original_message_id == "<rcm.42.reminder-14d.enlace@rcm.example.org>"


def test_bounces_are_checked_before_auto_replies() -> None:
    parsed = parse_message(sample("exchange_ndr.eml"))
    assert detect_autoreply(parsed) is not None  # it does say Auto-Submitted...
    assert understand(sample("exchange_ndr.eml"), REFERENCE).classification == BOUNCE  # ...but it is a bounce


def test_non_standard_bounces() -> None:
    qmail = (
        b"From: MAILER-DAEMON@mail.example.net\nTo: ts@rcm.example.org\nSubject: failure notice\n\n"
        b"Hi. This is the qmail-send program at mail.example.net.\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        b"This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        b"<fp@gob.example>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        b"--- Below this line is a copy of the message.\n\nReturn-Path: <ts@rcm.example.org>\n"
        b"Message-ID: <rcm.1@rcm.example.org>\nSubject: Reminder\n\nPlease submit.\n"
    )
    info = detect_bounce(parse_message(qmail))
    assert info is not None and info.format == "text"
    assert info.addresses == ("fp@gob.example",) and info.permanent
    assert info.original_message_id == "<rcm.1@rcm.example.org>"

    exim = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example.org>\nTo: ts@rcm.example.org\n"
        b"Subject: Mail delivery failed: returning message to sender\nAuto-Submitted: auto-replied\n\n"
        b"This message was created automatically by mail delivery software.\n\n"
        b"A message that you sent could not be delivered to one or more of its\n"
        b"recipients. This is a permanent error. The following address(es) failed:\n\n"
        b"  enlace@cancilleria.gob.example\n    host mx.cancilleria.gob.example [192.0.2.1]\n"
        b"    SMTP error from remote mail server after RCPT TO:<enlace@cancilleria.gob.example>:\n"
        b"    550 5.1.1 User unknown\n\n------ This is a copy of the message, including all the headers. ------\n\n"
        b"Message-Id: <rcm.2@rcm.example.org>\nSubject: Reminder\n\nPlease submit the matrix.\n"
    )
    info = detect_bounce(parse_message(exim))
    assert info is not None
    assert info.addresses == ("enlace@cancilleria.gob.example",)
    assert info.original_message_id == "<rcm.2@rcm.example.org>"

    gmail = (
        b"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\nTo: ts@rcm.example.org\n"
        b"Subject: Delivery Status Notification (Failure)\n\n"
        b"** Address not found **\n\nYour message wasn't delivered to nadie@gmail.example because the address "
        b"couldn't be found, or is unable to receive mail.\n"
    )
    info = detect_bounce(parse_message(gmail))
    assert info is not None and info.addresses == ("nadie@gmail.example",)

    # A person who writes "delivery failed" is not a mail system.
    human = b"From: Ana <ana@gob.example>\nTo: ts@rcm.example.org\nSubject: Re: matriz\n\nThe delivery failed?\n"
    assert detect_bounce(parse_message(human)) is None


def test_success_reports_are_not_bounces() -> None:
    relayed = (
        b"From: MAILER-DAEMON@mx.example.org\nTo: ts@rcm.example.org\nSubject: Successful Mail Delivery Report\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nYour message was delivered.\n"
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        b"Final-Recipient: rfc822; fp@gob.example\nAction: relayed\nStatus: 2.0.0\n--b--\n"
    )
    assert detect_bounce(parse_message(relayed)) is None
    seen = understand(relayed, REFERENCE)
    assert seen.classification == AUTOREPLY  # a machine talking, never a reply
    assert seen.autoreply is not None and "report:delivery-status" in seen.autoreply.signals


def test_auto_response_suppress_alone_is_not_an_auto_reply() -> None:
    parsed = parse_message(sample("es_outlook_extension_request.eml"))
    assert parsed.has_header("X-Auto-Response-Suppress")
    assert detect_autoreply(parsed) is None


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Reminder [RCM-4]",
        "Out of Office: Reminder",
        "AUTO: Smith, John is out of the office (returning 05/01/2010)",
        "Respuesta automática: Recordatorio",
        "Fuera de la oficina",
        "Ausente: Recordatorio [RCM-4]",
        "Ausencia por vacaciones",
        "RE: Vacaciones",
    ],
)
def test_auto_reply_subjects(subject: str) -> None:
    raw = f"From: x@gob.example\nTo: ts@rcm.example.org\nSubject: {subject}\n\nHola\n".encode()
    assert detect_autoreply(parse_message(raw)) is not None


@pytest.mark.parametrize(
    ("headers", "auto"),
    [
        ("Auto-Submitted: auto-replied", True),
        ("Auto-Submitted: auto-generated", True),
        ("Auto-Submitted: no", False),
        ("X-Autoreply: yes", True),
        ("X-Autorespond: vacation", True),
        ("Precedence: bulk", True),
        ("Precedence: junk", True),
        ("Precedence: auto_reply", True),
        ("Precedence: list", True),
        ("X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent", True),
        ("Return-Path: <>", True),
        ("X-Auto-Response-Suppress: All", False),
        ("Importance: high", False),
    ],
)
def test_auto_reply_headers(headers: str, auto: bool) -> None:
    raw = f"From: x@gob.example\nTo: ts@rcm.example.org\nSubject: RE: Recordatorio\n{headers}\n\nAdjunto la matriz.\n"
    assert (detect_autoreply(parse_message(raw.encode())) is not None) is auto


def test_mailing_lists_are_recognised() -> None:
    parsed = parse_message(sample("mailing_list_post.eml"))
    assert is_mailing_list(parsed)
    assert not is_mailing_list(parse_message(sample("en_question.eml")))
    seen = understand(sample("mailing_list_post.eml"), REFERENCE)
    assert seen.is_mailing_list and not seen.may_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I will be back on 5 December 2026.", date(2026, 12, 5)),
        ("Regresaré el 5 de diciembre.", date(2026, 12, 5)),
        ("Estaré de regreso el lunes 7/12.", date(2026, 12, 7)),
        ("Estaré fuera hasta el 20 de agosto inclusive.", date(2026, 8, 20)),
        ("I am away until August 20th, returning Monday August 24th.", date(2026, 8, 24)),
        ("Me reincorporo el 2026-09-01.", date(2026, 9, 1)),
        ("Estoy de vacaciones.", None),
    ],
)
def test_return_dates(text: str, expected: date | None) -> None:
    assert return_date("", text, REFERENCE) == expected


# --- quotes ------------------------------------------------------------------


def test_spanish_gmail_attribution_over_two_lines() -> None:
    body = (
        "Adjunto la matriz.\n\nEl lun., 3 ago. 2026 a las 9:00, Secretaría Técnica CRM (<\n"
        "ts@rcm.example.org>) escribió:\n\n> Estimado punto focal:\n> por favor adjunte la matriz.\n"
    )
    assert visible_text(body) == "Adjunto la matriz."


def test_spanish_outlook_header_block_with_wrapped_lines() -> None:
    body = (
        "Enviamos la información solicitada.\n\nSaludos\n\n"
        "De: Secretaría Técnica CRM <ts@rcm.example.org>\n"
        "Enviado: lunes, 3 de agosto de 2026\n"
        "14:00\n"
        "Para: Punto Focal <fp@gob.example>; Otro\n"
        "Punto Focal <otro@gob.example>\n"
        "Asunto: Recordatorio\n\nPor favor adjunte la matriz.\n"
    )
    assert visible_text(body) == "Enviamos la información solicitada.\n\nSaludos"


def test_outlook_bold_header_block_and_original_message_separator() -> None:
    bold = "Done.\n\n*From:* TS <ts@rcm.example.org>\n*Sent:* Monday\n*To:* me\n*Subject:* Reminder\n\nold"
    assert visible_text(bold) == "Done."
    separator = "Hecho.\n\n-----Mensaje original-----\nDe: TS\nPara: yo\nAsunto: x\n\nviejo"
    assert visible_text(separator) == "Hecho."


def test_signatures_and_mobile_footers_are_cut() -> None:
    assert visible_text("Listo, enviado.\n\nEnviado desde mi iPhone") == "Listo, enviado."
    assert visible_text("Done.\n\nSent from my iPhone\n\nOn Mon, TS wrote:\n> x") == "Done."
    assert visible_text("Done.\n-- \nJohn Smith\nMinistry of Foreign Affairs") == "Done."
    assert visible_text("Hecho.\n\nObtener Outlook para Android") == "Hecho."
    # Not a footer: it says something.
    kept = "Here it is.\n\nSent from my desk, which is much easier than from my mobile phone."
    assert visible_text(kept) == kept


def test_bottom_posting_and_inline_quotes() -> None:
    bottom = "On Mon, 3 Aug 2026, TS wrote:\n> Please send the matrix.\n\nAttached."
    assert visible_text(bottom) == "Attached."
    inline = "> Please send the matrix.\n\nAttached.\n\n> And the annex?\n\nNext week."
    assert visible_text(inline) == inline
    assert visible_text("> only a quote") == "> only a quote"
    visible, elided = split_reply("Sí.\n\nEl lun, TS escribió:\n> ¿Ya la enviaron?")
    assert (visible, elided) == ("Sí.", "El lun, TS escribió:\n> ¿Ya la enviaron?")


def test_html_quotes_become_quoted_lines() -> None:
    html = (
        "<div>Adjunto la matriz.</div><div class='gmail_signature'>Ana</div>"
        "<div class='gmail_quote'>El lun, TS escribió:<blockquote>Envíe la matriz</blockquote></div>"
    )
    text = html_to_text(html)
    assert "> > Envíe la matriz" in text or "> Envíe la matriz" in text
    assert visible_text(text) == "Adjunto la matriz."
    assert html_to_text("<p>a&nbsp;b &amp; c</p><script>x()</script><ul><li>uno</li></ul>") == "a b & c\n- uno"


# --- intent ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent", "proposed"),
    [
        ("Adjunto la matriz completada.", "confirmation", None),
        ("Adjuntamos el informe.", "confirmation", None),
        ("Les remitimos la información solicitada.", "confirmation", None),
        ("La matriz ya fue enviada por correo.", "confirmation", None),
        ("Ya enviamos la matriz la semana pasada.", "confirmation", None),
        ("Please find attached our input.", "confirmation", None),
        ("Attached please find the matrix.", "confirmation", None),
        ("We have sent the matrix through the portal.", "confirmation", None),
        ("The report was submitted yesterday.", "confirmation", None),
        ("Aún no hemos enviado la matriz.", "unknown", None),
        ("Todavía no la tenemos.", "unknown", None),
        ("We have not sent it yet.", "unknown", None),
        ("The matrix has not yet been submitted.", "unknown", None),
        ("It is not yet sent.", "unknown", None),
        ("The report is to be submitted by 15 August.", "unknown", None),
        ("We need more time.", "extension", None),
        ("We need two more weeks.", "extension", date(2026, 8, 17)),
        ("Could we have an extension until 30 September?", "extension", date(2026, 9, 30)),
        ("Solicitamos una prórroga hasta el 15 de septiembre.", "extension", date(2026, 9, 15)),
        ("Necesitamos un plazo adicional, hasta el 15/09/2026.", "extension", date(2026, 9, 15)),
        ("Necesitamos dos semanas más.", "extension", date(2026, 8, 17)),
        ("La enviaremos el 20 de agosto.", "extension", date(2026, 8, 20)),
        ("We will send it next week.", "extension", date(2026, 8, 10)),
        ("¿Podrían confirmar el formato?", "question", None),
        ("Which template should we use?", "question", None),
        ("Gracias.", "unknown", None),
        ("Lic. Ana Pérez\nDirectora Adjunta\nTel. 2222-3333 extensión 45", "unknown", None),
        ("Adjunto la matriz. Por favor confirmen recepción, ¿la recibieron?", "confirmation", None),
        ("Adjunto un avance; necesitamos una prórroga hasta el 30 de agosto para el resto.", "extension", None),
    ],
)
def test_intent(text: str, intent: str, proposed: date | None) -> None:
    result = classify_intent(text, [], "RE: Recordatorio [RCM-1]", REFERENCE)
    assert result.intent == intent, result.signals
    if proposed is not None or intent != "extension":
        assert result.proposed_date == proposed


def test_extension_with_partial_attachment_keeps_the_date() -> None:
    text = "Adjunto un avance; necesitamos una prórroga hasta el 30 de agosto para el resto."
    assert classify_intent(text, [], "", REFERENCE).proposed_date == date(2026, 8, 30)


def test_attachments_count_towards_confirmation_only_when_substantive() -> None:
    sheet = Attachment("matriz.xlsx", "application/vnd.ms-excel", 20_000)
    logo = Attachment("image001.png", "image/png", 3_000, inline=True)
    card = Attachment("ana.vcf", "text/vcard", 400)
    assert classify_intent("Saludos", [sheet], "RE: x", REFERENCE).intent == "confirmation"
    assert classify_intent("Saludos", [logo, card], "RE: x", REFERENCE).intent == "unknown"
    assert classify_intent("Aún no la tenemos.", [sheet], "RE: x", REFERENCE).intent == "unknown"
    # A question with an attachment is still a question: a person must read it.
    assert classify_intent("¿Es este el formato?", [sheet], "RE: x", REFERENCE).intent == "question"


def test_quoted_lines_and_our_own_subject_do_not_count() -> None:
    quoted = "Gracias\n> Please find attached the template and submit it."
    assert classify_intent(quoted, [], "RE: Reminder: please submit the matrix", REFERENCE).intent == "unknown"
    assert classify_intent("", [], "Solicitud de prórroga [RCM-4]", REFERENCE).intent == "extension"
    assert classify_intent("", [], "RE: Matriz enviada", REFERENCE).intent == "unknown"


# --- dates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("until 30 September", date(2026, 9, 30)),
        ("by September 30th, 2027", date(2027, 9, 30)),
        ("hasta el 15 de septiembre de 2026", date(2026, 9, 15)),
        ("el lunes 7/12", date(2026, 12, 7)),
        ("el 07-12-2026", date(2026, 12, 7)),
        ("on 12/25", date(2026, 12, 25)),
        ("5 de enero", date(2027, 1, 5)),  # no year: the next 5 January (reference: August 2026)
        ("2026-10-01", date(2026, 10, 1)),
        ("el 31 de febrero", None),
        ("version 3.5", None),
        ("1 set of forms", None),
    ],
)
def test_find_dates(text: str, expected: date | None) -> None:
    found = [d.value for d in find_dates(text, REFERENCE)]
    assert found == ([expected] if expected else [])


def test_relative_periods_and_weekdays() -> None:
    assert find_period("dos semanas más", REFERENCE).value == date(2026, 8, 17)  # type: ignore[union-attr]
    assert find_period("15 días adicionales", REFERENCE).value == date(2026, 8, 18)  # type: ignore[union-attr]
    assert find_period("un mes más", date(2026, 1, 31)).value == date(2026, 2, 28)  # type: ignore[union-attr]
    assert find_relative("la próxima semana", REFERENCE).value == date(2026, 8, 10)  # type: ignore[union-attr]
    assert find_relative("a fin de mes", REFERENCE).value == date(2026, 8, 31)  # type: ignore[union-attr]
    assert find_relative("esta mañana", REFERENCE) is None
    assert find_weekday("el próximo viernes", REFERENCE).value == date(2026, 8, 7)  # type: ignore[union-attr]


# --- sources -----------------------------------------------------------------


def test_sources_read_eml_mbox_and_maildir_and_report_unreadable_files(tmp_path: Path) -> None:
    names = ["en_question.eml", "es_iphone_not_yet_sent.eml", "exchange_ndr.eml"]
    (tmp_path / "one.eml").write_bytes(sample(names[0]))
    box = mailbox.mbox(tmp_path / "export.mbox")
    for name in names:
        box.add(sample(name))
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for name in names[:2]:
        maildir.add(sample(name))
    maildir.close()
    (tmp_path / "Maildir" / "cur" / "a-directory").mkdir()
    os.symlink(tmp_path / "missing.eml", tmp_path / "broken.eml")
    (tmp_path / "empty.eml").write_bytes(b"")

    problems: list[tuple[str, str]] = []
    found = list(iter_raw_messages([tmp_path, tmp_path / "nope.mbox"], on_error=lambda a, b: problems.append((a, b))))

    labels = [Path(m.label).name for m in found]
    assert labels.count("one.eml") == 1
    assert sorted(lab for lab in labels if lab.startswith("export.mbox#")) == [
        "export.mbox#1",
        "export.mbox#2",
        "export.mbox#3",
    ]
    assert sum("Maildir" in m.label for m in found) == 2
    ids = {parse_message(m.raw).message_id for m in found}
    assert len(ids) == 3  # the mbox "From " lines were taken off, the messages are whole
    assert all(isinstance(m, RawMessage) for m in found)
    reasons = {Path(label).name: reason for label, reason in problems}
    assert set(reasons) == {"a-directory", "broken.eml", "empty.eml", "nope.mbox"}
    assert reasons["nope.mbox"] == "does not exist"


def test_content_hash_ignores_line_endings() -> None:
    raw = sample("en_question.eml")
    assert content_hash(raw) == content_hash(raw.replace(b"\n", b"\r\n"))
    assert content_hash(raw) != content_hash(raw + b"x")


def test_content_hash_of_a_large_message_is_read_in_pieces_to_the_same_digest() -> None:
    """Over a megabyte the hash is taken piece by piece; a CRLF cut between two pieces still counts once."""
    piece = 1 << 20
    for tail in (b"", b"\r", b"\r\n", b"\n\r"):
        raw = b"x" * (piece - 1) + b"\r\n" + b"line\r\n" * 1000 + tail
        assert content_hash(raw) == hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()
        assert content_hash(raw) == content_hash(raw.replace(b"\r\n", b"\n"))

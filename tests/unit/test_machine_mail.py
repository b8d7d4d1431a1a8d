"""Machine mail in any language is never a person's answer (held-out corpus lessons).

A carrier's "mailbox full" notice in Japanese without a delivery-status part,
abuse-complaint reports (ARF, nested or top level, and plain complaint forms)
and anything from a postmaster, mailer daemon or no-reply address must
never be read as a confirmation, whatever words they quote.
"""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

import pytest

from followup.inbound.classify import HUMAN, understand

REFERENCE = date(2026, 8, 24)
QUOTED = "Adjunto la matriz de integración completada. Attached please find the completed matrix [RCM-12]."


def _plain(sender: str, subject: str, body: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "ts+abc@rcm.example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{abs(hash((sender, subject))) % 10**9}@mx.example>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def _arf(nested: bool) -> bytes:
    report = EmailMessage()
    report["From"] = "staff@hotmail.com.example"
    report["To"] = "ts@rcm.example.org"
    report["Subject"] = "complaint about message from 192.0.2.1"
    report["Message-ID"] = f"<arf.{nested}@hotmail.example>"
    report.set_content("This is an email abuse report for an email message received from IP 192.0.2.1.\n")
    report.add_attachment(
        b"Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n",
        maintype="message",
        subtype="feedback-report",
    )
    report.add_attachment(("Subject: Recordatorio\r\n\r\n" + QUOTED).encode(), maintype="message", subtype="rfc822")
    if not nested:
        report.replace_header("Content-Type", report["Content-Type"].replace("multipart/mixed", "multipart/report"))
        report.set_param("report-type", "feedback-report")
        return report.as_bytes()
    outer = EmailMessage()
    outer["From"] = "Abuse desk <reports@isp.example>"
    outer["To"] = "ts@rcm.example.org"
    outer["Subject"] = "Fwd: your mail"
    outer["Message-ID"] = "<outer@isp.example>"
    outer.set_content("See the attached report.\n\n" + QUOTED)
    outer.add_attachment(report)
    return outer.as_bytes()


MACHINE_MAIL = {
    "japanese mailbox full, no DSN": _plain(
        "postmaster@docomo.ne.jp.example",
        "メール送信エラー",
        "お客様が送信されたメールは、宛先のメールボックスが一杯のため配信できませんでした。\n\n" + QUOTED,
    ),
    "mailer-daemon variant": _plain("MAILER-DAEMON+xyz@mx.example", "Re: Recordatorio", QUOTED),
    "mailer daemon by name": _plain("Mail Delivery System <mail@mx.example>", "Notificación", QUOTED),
    "no-reply sender": _plain("no-reply@portal.gob.example", "Confirmación de envío", QUOTED),
    "noreply sender": _plain("NoReply.Sistema@gob.example", "Hemos recibido su documento", QUOTED),
    "arf at top level": _arf(nested=False),
    "arf nested in a forward": _arf(nested=True),
    "plain complaint form": _plain(
        "reports@isp.example", "Spam complaint", "This is an email abuse report.\n\n" + QUOTED
    ),
    "spanish complaint form": _plain(
        "soporte@proveedor.example", "Denuncia de spam", "Un usuario ha reportado como spam este mensaje:\n\n" + QUOTED
    ),
}


@pytest.mark.parametrize("name", sorted(MACHINE_MAIL))
def test_machine_mail_is_never_a_confirmation(name: str) -> None:
    understood = understand(MACHINE_MAIL[name], REFERENCE)
    assert understood.classification != HUMAN, name
    assert understood.intent != "confirmation"
    assert not understood.may_answer


def test_a_person_is_still_a_person() -> None:
    understood = understand(_plain("alopez@migracion.gob.hn.example", "RE: Recordatorio", QUOTED), REFERENCE)
    assert (understood.classification, understood.intent) == (HUMAN, "confirmation")

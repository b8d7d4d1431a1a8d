"""Replies in, end to end: reminders sent by the real send path, replies built from them, ingested.

Each reply style from the issue lands as specified: a Spanish confirmation with
an attachment marks the item submitted, stops its reminders and is
acknowledged in Spanish; an extension request is flagged with its date; a
stranger, an auto-reply and a bounce change nothing but are logged.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.daemon.services import Mailer, tick
from followup.inbound.ingest import ingest
from followup.outbound.signing import signing_key
from followup.schedule.loading import load_paths
from followup.settings import Settings
from followup.store.db import make_engine, migrate
from followup.store.models import Assignment, Contact, Event, InboundMessage, InboundRaw, Notification
from tests.factories import settings_for

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

NOW = datetime(2026, 9, 4, 15, 0, tzinfo=UTC)  # Friday, 09:00 in Tegucigalpa: the -14d step of 18 September
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
async def world(tmp_path: Path, smtp_server: SmtpServer) -> tuple[Settings, Engine, Mailer, list[EmailMessage]]:
    settings = settings_for(tmp_path, smtp_port=smtp_server.port)
    engine = make_engine(settings.database_url)
    migrate(engine)
    load_paths(engine, [FIXTURES / "year.yaml"], now=NOW - timedelta(days=30))
    mailer = Mailer.create(engine, settings)
    result = await tick(mailer, NOW)
    assert result.sent == 1  # one merged email to Honduras for its two items
    sent = [email.message_from_bytes(m.data, policy=email.policy.default) for m in smtp_server.handler.messages]
    yield settings, engine, mailer, sent  # type: ignore[misc]
    await mailer.close()


def reply_to(original: EmailMessage, sender: str, body: str, *, subject: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = str(original["Reply-To"])
    msg["Subject"] = subject or f"RE: {original['Subject']}"
    msg["Message-ID"] = f"<reply.{abs(hash((sender, body))) % 10**12}@migracion.gob.hn.example>"
    msg["In-Reply-To"] = str(original["Message-ID"])
    msg["References"] = str(original["Message-ID"])
    msg["Date"] = format_datetime(NOW + timedelta(hours=3))
    msg.set_content(body)
    return msg


def ids(engine: Engine, *commitments: str) -> list[int]:
    with Session(engine) as s:
        rows = s.exec(select(Assignment).where(Assignment.commitment_id.in_(commitments))).all()  # type: ignore[attr-defined]
        return sorted(a.id for a in rows if a.id is not None)


def state(engine: Engine, aid: int) -> Assignment:
    with Session(engine) as s:
        row = s.get(Assignment, aid)
        assert row is not None
        return row


async def test_spanish_confirmation_with_attachment_submits_stops_and_acknowledges(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]], smtp_server: SmtpServer
) -> None:
    settings, engine, mailer, sent = world
    [reminder] = sent
    [matrix_id] = ids(engine, "matrix-a")
    quoted = "\n".join("> " + line for line in str(reminder.get_body(("plain",)).get_content()).splitlines())
    body = (
        f"Buenos días,\n\nAdjunto la matriz de integración completada {'[RCM-' + str(matrix_id) + ']'}.\n\n"
        "Saludos,\nAna María\n\nEl vie, 4 sept 2026 a las 9:00, RCM Technical Secretariat escribió:\n" + quoted
    )
    msg = reply_to(reminder, "Ana María López <alopez@migracion.gob.hn.example>", body)
    msg.add_attachment(b"PK\x03\x04 fake xlsx", maintype="application", subtype="vnd.ms-excel", filename="matriz.xlsx")
    result = ingest(
        engine, settings, msg.as_bytes(), source="test", now=NOW + timedelta(hours=3), secret=signing_key(settings)
    )
    assert result.classification == "human" and result.intent == "confirmation"
    assert result.method == "token" and result.assignment_ids == (matrix_id,)  # the item it names, not both
    assert result.verified and result.changed == [matrix_id]
    assert state(engine, matrix_id).state == "submitted"
    with Session(engine) as s:
        stored = s.get(InboundMessage, result.inbound_id)
        assert stored is not None
        assert stored.attachments[0]["filename"] == "matriz.xlsx"
        assert "escribió" not in stored.new_text  # the quote was cut
        planned = s.exec(
            select(Notification).where(Notification.assignment_id == matrix_id, Notification.state == "planned")
        ).all()
        assert planned == []
    # The acknowledgement goes out in Spanish, threaded under the reply, marked as an auto-reply.
    assert result.acknowledged
    await tick(mailer, NOW + timedelta(hours=3, minutes=1))
    ack = email.message_from_bytes(smtp_server.handler.messages[-1].data, policy=email.policy.default)
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == msg["Message-ID"]
    assert ack["To"].addresses[0].addr_spec == "alopez@migracion.gob.hn.example"
    assert ack["Content-Language"] == "es"
    # Reminders for the confirmed item stop; the other item is still chased.
    later = await tick(mailer, datetime(2026, 9, 15, 15, 0, tzinfo=UTC))
    later_msgs = smtp_server.handler.messages[-later.sent :] if later.sent else []
    for m in later_msgs:
        subject = str(email.message_from_bytes(m.data, policy=email.policy.default)["Subject"])
        assert f"[RCM-{matrix_id}]" not in subject


async def test_extension_request_is_flagged_with_its_date(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]],
) -> None:
    settings, engine, _mailer, sent = world
    msg = reply_to(
        sent[0],
        "alopez@migracion.gob.hn.example",
        "Estimados, les solicitamos una prórroga hasta el 30 de septiembre para enviar ambos documentos.",
    )
    result = ingest(
        engine, settings, msg.as_bytes(), source="t", now=NOW + timedelta(hours=2), secret=signing_key(settings)
    )
    assert result.intent == "extension"
    # Both items of the merged email, since the reply names neither: flagged for review.
    assert len(result.assignment_ids) == 2 and result.triage == "open"
    for aid in result.assignment_ids:
        assert state(engine, aid).state == "pending"


async def test_named_extension_sets_the_requested_date(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]],
) -> None:
    settings, engine, _mailer, sent = world
    [qid] = ids(engine, "matrix-b")
    msg = reply_to(
        sent[0],
        "alopez@migracion.gob.hn.example",
        f"Para [RCM-{qid}] necesitamos más tiempo, hasta el 30 de septiembre.",
    )
    result = ingest(
        engine, settings, msg.as_bytes(), source="t", now=NOW + timedelta(hours=2), secret=signing_key(settings)
    )
    assert result.intent == "extension" and result.assignment_ids == (qid,)
    assert state(engine, qid).extension_requested_to == date(2026, 9, 30)
    assert state(engine, qid).state == "pending"  # the secretariat decides with followup extend


async def test_stranger_changes_nothing_and_waits_in_triage(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]],
) -> None:
    settings, engine, _mailer, sent = world
    [matrix_id] = ids(engine, "matrix-a")
    msg = reply_to(sent[0], "someone@gmail.example", f"Adjunto la matriz [RCM-{matrix_id}]. Saludos")
    result = ingest(
        engine, settings, msg.as_bytes(), source="t", now=NOW + timedelta(hours=2), secret=signing_key(settings)
    )
    assert result.intent == "confirmation" and not result.verified
    assert result.triage == "open" and result.changed == []
    assert state(engine, matrix_id).state == "pending"
    assert not result.acknowledged
    with Session(engine) as s:
        assert s.exec(select(Event).where(Event.action == "unverified-reply")).first() is not None


async def test_spanish_out_of_office_is_logged_never_a_confirmation(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]], smtp_server: SmtpServer
) -> None:
    settings, engine, mailer, sent = world
    msg = reply_to(
        sent[0],
        "alopez@migracion.gob.hn.example",
        "Estaré fuera de la oficina hasta el 14 de septiembre. Adjunto no hay nada; enviamos respuesta a mi regreso.",
        subject="Respuesta automática: " + str(sent[0]["Subject"]),
    )
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    before = len(smtp_server.handler.messages)
    result = ingest(
        engine, settings, msg.as_bytes(), source="t", now=NOW + timedelta(hours=1), secret=signing_key(settings)
    )
    assert result.classification == "autoreply"
    assert result.changed == [] and not result.acknowledged
    with Session(engine) as s:
        stored = s.get(InboundMessage, result.inbound_id)
        assert stored is not None and stored.return_date == date(2026, 9, 14)
    await tick(mailer, NOW + timedelta(hours=1, minutes=1))
    assert len(smtp_server.handler.messages) == before  # never answered


async def test_bounce_for_a_sent_message_marks_address_failing(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]],
) -> None:
    settings, engine, _mailer, sent = world
    original = sent[0]
    dsn = (
        "From: MAILER-DAEMON@mx.migracion.gob.hn.example\r\n"
        "To: ts@rcm.example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Message-ID: <bounce.1@mx.migracion.gob.hn.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.migracion.gob.hn.example\r\n\r\n"
        "Final-Recipient: rfc822; alopez@migracion.gob.hn.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original['Message-ID']}\r\nSubject: {original['Subject']}\r\n"
        "--b--\r\n"
    ).encode()
    result = ingest(engine, settings, dsn, source="t", now=NOW + timedelta(hours=1), secret=signing_key(settings))
    assert result.classification == "bounce" and result.changed == []
    assert result.method == "in-reply-to"
    with Session(engine) as s:
        contact = s.exec(select(Contact).where(Contact.email == "alopez@migracion.gob.hn.example")).one()
        assert contact.address_state == "failing"
        rows = s.exec(select(Notification).where(Notification.message_id == original["Message-ID"])).all()
        assert rows and all(n.state == "bounced" for n in rows)


async def test_negation_and_duplicates(world: tuple[Settings, Engine, Mailer, list[EmailMessage]]) -> None:
    settings, engine, _mailer, sent = world
    [matrix_id] = ids(engine, "matrix-a")
    msg = reply_to(
        sent[0], "alopez@migracion.gob.hn.example", f"Aún no hemos enviado la matriz [RCM-{matrix_id}], disculpe."
    )
    first = ingest(engine, settings, msg.as_bytes(), source="t", now=NOW, secret=signing_key(settings))
    assert first.intent != "confirmation"
    assert state(engine, matrix_id).state == "pending"
    again = ingest(engine, settings, msg.as_bytes(), source="t", now=NOW, secret=signing_key(settings))
    assert again.duplicate and again.inbound_id == first.inbound_id


async def test_tampered_token_is_ignored(world: tuple[Settings, Engine, Mailer, list[EmailMessage]]) -> None:
    settings, engine, _mailer, sent = world
    msg = reply_to(sent[0], "alopez@migracion.gob.hn.example", "Adjunto los documentos.")
    del msg["In-Reply-To"], msg["References"]
    msg.replace_header("To", "ts+aaaaaaaaaaaaaaaaaaaaaaaaaa@rcm.example.org")
    msg.replace_header("Subject", "documentos")
    result = ingest(engine, settings, msg.as_bytes(), source="t", now=NOW, secret=signing_key(settings))
    assert result.method != "token"
    with Session(engine) as s:
        assert s.exec(select(Event).where(Event.action == "token-rejected")).first() is not None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x01\x02 not an email \xff\xfe",
        b"Subject: =?utf-8?B?broken\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: text/plain; charset=klingon\r\n\r\n\xe9\xe8\r\n",
        b"From: a@b.example\r\n" + b"X-Filler: y\r\n" * 1000 + b"\r\nbody",
    ],
)
def test_malformed_mail_is_stored_never_crashes(tmp_path: Path, raw: bytes) -> None:
    settings = settings_for(tmp_path)
    engine = make_engine(settings.database_url)
    migrate(engine)
    result = ingest(engine, settings, raw, source="t", now=NOW, secret=b"x" * 20)
    assert result.inbound_id is not None
    with Session(engine) as s:
        stored = s.get(InboundMessage, result.inbound_id)
        kept = s.get(InboundRaw, result.inbound_id)
        assert stored is not None and kept is not None and kept.raw == raw
        assert stored.quarantined or stored.triage == "open"


async def test_acknowledgements_never_loop_or_flood(world: tuple[Settings, Engine, Mailer, list[EmailMessage]]) -> None:
    settings, engine, _mailer, sent = world
    secret = signing_key(settings)
    [a, b] = ids(engine, "matrix-a", "matrix-b")
    # A list post is nobody's answer: recorded, never acknowledged.
    listed = reply_to(sent[0], "alopez@migracion.gob.hn.example", f"Adjunto [RCM-{a}].")
    listed["List-Id"] = "<migracion.lists.example>"
    assert not ingest(engine, settings, listed.as_bytes(), source="t", now=NOW, secret=secret).acknowledged
    # At most N acknowledgements per sender per hour.
    acks = []
    for n in range(5):
        msg = reply_to(sent[0], "alopez@migracion.gob.hn.example", f"Adjunto el documento {n} [RCM-{b}].")
        result = ingest(engine, settings, msg.as_bytes(), source="t", now=NOW + timedelta(minutes=n), secret=secret)
        acks.append(result.acknowledged)
        with Session(engine) as s:  # reopen the item so the next reply confirms again
            row = s.get(Assignment, b)
            assert row is not None
            row.state = "pending"
            s.add(row)
            s.commit()
    assert acks.count(True) == settings.replies.acknowledgements_per_sender_per_hour
    # Our own address never gets one.
    own = reply_to(sent[0], settings.secretariat.email, f"Adjunto [RCM-{b}] en nombre del país.")
    assert not ingest(engine, settings, own.as_bytes(), source="t", now=NOW, secret=secret).acknowledged


async def test_english_outlook_reply_with_quote_header(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]],
) -> None:
    settings, engine, _mailer, sent = world
    [qid] = ids(engine, "matrix-b")
    body = (
        f"Dear colleagues,\n\nPlease find attached the completed questionnaire [RCM-{qid}].\n\nKind regards,\nAna\n\n"
        "________________________________\nFrom: RCM Technical Secretariat <ts@rcm.example.org>\n"
        "Sent: Friday, September 4, 2026 9:00 AM\nTo: Ana María López <alopez@migracion.gob.hn.example>\n"
        f"Subject: {sent[0]['Subject']}\n\nWe have not yet received the questionnaire. Adjunto, enviamos...\n"
    )
    msg = reply_to(sent[0], "alopez@migracion.gob.hn.example", body)
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="questionnaire.pdf")
    result = ingest(
        engine, settings, msg.as_bytes(), source="t", now=NOW + timedelta(hours=2), secret=signing_key(settings)
    )
    assert (result.intent, result.assignment_ids, result.changed) == ("confirmation", (qid,), [qid])
    with Session(engine) as s:
        stored = s.get(InboundMessage, result.inbound_id)
        assert stored is not None and "From: RCM Technical Secretariat" not in stored.new_text


def _authenticated(msg: EmailMessage, *results: str) -> bytes:
    """The message as our receiving server hands it over: its Authentication-Results on top."""
    body = msg.as_bytes()
    headers = b"".join(f"Authentication-Results: {r}\r\n".encode() for r in results)
    return headers + body


@pytest.mark.parametrize(
    "verdict",
    [
        "mx.ts.example; dmarc=fail (p=reject dis=none) header.from=migracion.gob.hn.example",
        "mx.ts.example; spf=fail smtp.mailfrom=alopez@migracion.gob.hn.example; dkim=none",
        'mx.ts.example; spf=fail (sender IP is 192.0.2.7) smtp.mailfrom="migracion.gob.hn.example"',
    ],
)
async def test_failed_authentication_changes_nothing_and_waits_in_triage(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]], verdict: str
) -> None:
    settings, engine, _mailer, sent = world
    [matrix_id] = ids(engine, "matrix-a")
    msg = reply_to(sent[0], "alopez@migracion.gob.hn.example", f"Adjunto la matriz [RCM-{matrix_id}].")
    raw = _authenticated(msg, verdict)
    result = ingest(engine, settings, raw, source="t", now=NOW + timedelta(hours=2), secret=signing_key(settings))
    assert result.intent == "confirmation" and result.assignment_ids == (matrix_id,)
    assert result.changed == [] and not result.verified and result.triage == "open"
    assert not result.acknowledged
    assert state(engine, matrix_id).state == "pending"
    with Session(engine) as s:
        stored = s.get(InboundMessage, result.inbound_id)
        assert stored is not None and stored.triage == "open"
        assert stored.auth_failure.split("=")[0] in ("dmarc", "spf")
        event = s.exec(select(Event).where(Event.action == "unauthenticated-reply")).one()
        assert event.details["reason"] == stored.auth_failure


async def test_only_the_receiving_servers_verdict_counts(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]],
) -> None:
    """A forger's "pass" below our server's "fail" does not help; an old "fail" further down does not hurt."""
    settings, engine, _mailer, sent = world
    secret = signing_key(settings)
    [a, b] = ids(engine, "matrix-a", "matrix-b")
    forged = reply_to(sent[0], "alopez@migracion.gob.hn.example", f"Adjunto la matriz [RCM-{a}].")
    raw = _authenticated(forged, "mx.ts.example; dmarc=fail header.from=migracion.gob.hn.example",
                         "mx.ts.example; dmarc=pass header.from=migracion.gob.hn.example")  # fmt: skip
    assert ingest(engine, settings, raw, source="t", now=NOW, secret=secret).changed == []
    genuine = reply_to(sent[0], "alopez@migracion.gob.hn.example", f"Adjunto el informe [RCM-{b}].")
    raw = _authenticated(genuine, "mx.ts.example; dmarc=pass header.from=migracion.gob.hn.example; spf=pass",
                         "relay.example; spf=fail smtp.mailfrom=migracion.gob.hn.example")  # fmt: skip
    assert ingest(engine, settings, raw, source="t", now=NOW, secret=secret).changed == [b]


async def test_configured_authserv_id_skips_headers_from_elsewhere(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]],
) -> None:
    settings, engine, _mailer, sent = world
    settings = settings.model_copy(update={"imap": settings.imap.model_copy(update={"authserv_id": "mx.ts.example"})})
    [a] = ids(engine, "matrix-a")
    msg = reply_to(sent[0], "alopez@migracion.gob.hn.example", f"Adjunto la matriz [RCM-{a}].")
    # A header the sender wrote on top claims a pass; ours, below it, says fail.
    raw = _authenticated(msg, "mx.ts.example.attacker; dmarc=pass", "mx.ts.example; dmarc=fail")
    result = ingest(engine, settings, raw, source="t", now=NOW, secret=signing_key(settings))
    assert result.changed == [] and result.auth_failure == "dmarc=fail"


async def test_forged_secretariat_address_never_confirms(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]],
) -> None:
    """The secretariat's address is on every reminder: mail From it has no authority over any item."""
    settings, engine, _mailer, sent = world
    secret = signing_key(settings)
    [a, b] = ids(engine, "matrix-a", "matrix-b")
    for n, aid in enumerate((a, b)):
        msg = reply_to(sent[0], settings.secretariat.email, f"Adjunto la matriz {n} [RCM-{aid}].")
        result = ingest(engine, settings, msg.as_bytes(), source="t", now=NOW, secret=secret)
        assert result.assignment_ids == (aid,) and result.intent == "confirmation"
        assert result.changed == [] and not result.verified and result.triage == "open"
        assert state(engine, aid).state == "pending"


@pytest.mark.parametrize(
    ("body", "attachment", "named"),
    [
        ("Dear colleagues, attached is the completed integration matrix. Regards, Ana", None, ("matrix-a",)),
        ("Estimados: adjunto la matriz de integración y el cuestionario. Saludos, Ana", None, ("matrix-a", "matrix-b")),
        ("Please find attached all of them. Best regards, Ana", None, ("matrix-a", "matrix-b")),
        ("Buenos días: adjuntamos ambos documentos. Saludos", None, ("matrix-a", "matrix-b")),
        ("Buenos días, adjunto. Saludos", "matriz_integracion_HN.pdf", ("matrix-a",)),
        ("Please find attached. Regards", "Questionnaire_HN_final.docx", ("matrix-b",)),
    ],
)
async def test_reply_to_a_merged_email_confirms_only_what_it_names(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]],
    body: str,
    attachment: str | None,
    named: tuple[str, ...],
) -> None:
    settings, engine, _mailer, sent = world
    assert "RCM-" in str(sent[0]["Subject"])  # the subject repeats the email's tags
    msg = reply_to(sent[0], "alopez@migracion.gob.hn.example", body)
    if attachment:
        msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename=attachment)
    result = ingest(
        engine, settings, msg.as_bytes(), source="t", now=NOW + timedelta(hours=2), secret=signing_key(settings)
    )
    wanted = ids(engine, *named)
    assert result.intent == "confirmation"
    assert sorted(result.changed) == wanted
    for aid in ids(engine, "matrix-a", "matrix-b"):
        assert state(engine, aid).state == ("submitted" if aid in wanted else "pending")


async def test_reply_naming_no_item_changes_nothing_and_asks_which(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]], smtp_server: SmtpServer
) -> None:
    settings, engine, mailer, sent = world
    msg = reply_to(sent[0], "alopez@migracion.gob.hn.example", "Buenos días: adjunto lo solicitado. Saludos, Ana")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="documento.pdf")
    result = ingest(
        engine, settings, msg.as_bytes(), source="t", now=NOW + timedelta(hours=2), secret=signing_key(settings)
    )
    assert result.intent == "confirmation" and result.changed == []
    assert result.triage == "open" and result.ask_which and "submitted: which items?" in result.describe()
    for aid in ids(engine, "matrix-a", "matrix-b"):
        assert state(engine, aid).state == "pending"
    assert result.acknowledged
    await tick(mailer, NOW + timedelta(hours=2, minutes=1))
    ack = email.message_from_bytes(smtp_server.handler.messages[-1].data, policy=email.policy.default)
    text = str(ack.get_body(("plain",)).get_content())
    assert ack["Auto-Submitted"] == "auto-replied"
    assert "no pudimos determinar a cuáles se refiere" in text
    assert "no es necesario responderlo" not in text
    with Session(engine) as s:
        assert s.exec(select(Event).where(Event.action == "submitted-which-items")).first() is not None


@pytest.mark.parametrize(
    ("body", "intent", "wording"),
    [
        ("Solicitamos una prórroga para la matriz de integración hasta el 30 de septiembre.", "extension",
         "hasta el 30 de septiembre de 2026"),
        ("¿El cuestionario debe enviarse en formato Word o PDF?", "question", "le responderemos a la brevedad"),
    ],
)  # fmt: skip
async def test_extension_requests_and_questions_are_acknowledged(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]], smtp_server: SmtpServer, body: str, intent: str,
    wording: str,
) -> None:  # fmt: skip
    settings, engine, mailer, sent = world
    msg = reply_to(sent[0], "alopez@migracion.gob.hn.example", body)
    result = ingest(
        engine, settings, msg.as_bytes(), source="t", now=NOW + timedelta(hours=2), secret=signing_key(settings)
    )
    assert result.intent == intent and result.acknowledged
    await tick(mailer, NOW + timedelta(hours=2, minutes=1))
    ack = email.message_from_bytes(smtp_server.handler.messages[-1].data, policy=email.policy.default)
    text = str(ack.get_body(("plain",)).get_content())
    assert wording in text
    # No "no need to reply" next to "when replying, keep the reference".
    assert not ("no es necesario responderlo" in text and "Al responder" in text)


async def test_spanish_mail_speaks_spanish_and_the_spanish_tag_is_understood(
    world: tuple[Settings, Engine, Mailer, list[EmailMessage]],
) -> None:
    settings, engine, _mailer, sent = world
    assert sent[0]["From"].addresses[0].display_name == "Secretaría Técnica de la CRM"
    [qid] = ids(engine, "matrix-b")
    msg = reply_to(sent[0], "alopez@migracion.gob.hn.example", f"Adjunto el documento [CRM-{qid}]. Saludos")
    result = ingest(
        engine, settings, msg.as_bytes(), source="t", now=NOW + timedelta(hours=2), secret=signing_key(settings)
    )
    assert result.changed == [qid]

"""Composed messages, parsed back with the standard library's strictest policy."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar

from followup.errors import ConfigError, PermanentDeliveryError
from followup.outbound.compose import (
    ComposedMessage,
    Composer,
    Mailbox,
    calendar_attachment,
    check_address,
    clean_header_text,
    csv_attachment,
)
from followup.outbound.ics import deadline_entry, deadline_ics
from followup.outbound.render import ItemView, ReminderContext, Rendered, SecretariatView, render
from followup.outbound.tokens import extract_tokens, verify_token
from followup.settings import MailSettings

NOW = datetime(2026, 8, 3, 14, 0, 7, 999, tzinfo=UTC)
SECRET = b"k" * 32
MAIL = MailSettings(
    from_address="ts@rcm.example.org",
    from_name="Secretaría Técnica CRM",
    domain="rcm.example.org",
    reply_local_part="ts",
)
COMPOSER = Composer(MAIL, secret=SECRET, tag="RCM")
SEC = SecretariatView("Secretaría Técnica", "ts@rcm.example.org")
ITEM = ItemView(1234, "[RCM-1234]", "Integration matrix", date(2026, 8, 15), 12, "Costa Rica", "The matrix.")
EXPECTED_HEADERS = {
    "Date",
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
    "Content-Language",
    "MIME-Version",
    "Content-Type",
}


def parse(message: ComposedMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert not parsed.defects
    return parsed


def reminder(language: str = "en", **kwargs: object) -> ComposedMessage:
    rendered = render("reminder", language, ReminderContext("Ana Pérez", [ITEM], SEC))
    options: dict[str, object] = {
        "kind": "reminder",
        "to": [Mailbox("ana@example.cr", "Ana Pérez")],
        "now": NOW,
        "notification_id": 77,
        "assignment_ids": [1234],
    }
    options.update(kwargs)
    return COMPOSER.compose(rendered, **options)  # type: ignore[arg-type]


def header_block(data: bytes) -> list[str]:
    return data.split(b"\r\n\r\n", 1)[0].decode("ascii").split("\r\n")


def test_structure_and_headers() -> None:
    message = reminder()
    parsed = parse(message)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and html is not None
    assert "Dear Ana Pérez," in plain.get_content()
    assert "<p>Dear Ana Pérez,</p>" in html.get_content()
    assert parsed["Subject"] == "[RCM-1234] Reminder: Integration matrix due 15 August 2026"
    assert parsed["From"].addresses[0].display_name == "Secretaría Técnica CRM"
    assert parsed["From"].addresses[0].addr_spec == "ts@rcm.example.org"
    assert str(parsed["To"]) == "Ana Pérez <ana@example.cr>"
    assert parsedate_to_datetime(parsed["Date"]) == NOW.replace(microsecond=0)
    assert parsed["Message-ID"] == message.message_id
    assert message.message_id.startswith("<") and message.message_id.endswith("@rcm.example.org>")
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Auto-Response-Suppress"] == "DR, RN, NRN, AutoReply"
    assert parsed["Content-Language"] == "en"
    assert parsed["MIME-Version"] == "1.0"
    assert "Precedence" not in parsed
    assert message.sender == "ts@rcm.example.org"
    assert message.recipients == ["ana@example.cr"]


def test_reply_to_carries_a_token_for_the_notification() -> None:
    parsed = parse(reminder(notification_id=4242))
    [address] = parsed["Reply-To"].addresses
    assert address.domain == "rcm.example.org"
    assert address.username.startswith("ts+")
    [token] = extract_tokens([address.addr_spec])
    assert verify_token(token, SECRET) == 4242
    assert verify_token(token, b"other secret") is None


def test_message_ids_are_unique() -> None:
    ids = {reminder().message_id for _ in range(200)}
    assert len(ids) == 200


def test_spanish_message() -> None:
    message = reminder("es")
    parsed = parse(message)
    assert parsed["Subject"] == "[RCM-1234] Recordatorio: Integration matrix, plazo 15 de agosto de 2026"
    assert parsed["Content-Language"] == "es"
    plain = parsed.get_body(("plain",))
    assert plain is not None
    assert "15 de agosto de 2026" in plain.get_content()
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"


def test_ascii_body_goes_as_7bit() -> None:
    rendered = Rendered("Hello", "Plain ASCII text.\n", "<p>ASCII</p>\n", "en")
    parsed = parse(COMPOSER.compose(rendered, kind="digest", to=[Mailbox("ts@rcm.example.org")], now=NOW))
    plain = parsed.get_body(("plain",))
    assert plain is not None
    assert plain["Content-Transfer-Encoding"] == "7bit"
    assert plain.get_content().replace("\r\n", "\n") == "Plain ASCII text.\n"
    assert "Reply-To" not in parsed  # no notification id, no token
    assert parsed["X-Auto-Response-Suppress"] == "DR, RN, NRN, OOF, AutoReply"


def test_calendar_and_csv_attachments() -> None:
    entry = deadline_entry(
        assignment_id=1234,
        due_date=date(2026, 8, 15),
        title="Matriz",
        reference="[RCM-1234]",
        owner_name="Costa Rica",
        language="es",
        domain="rcm.example.org",
    )
    rows = [["País", "Matriz"], ["México", "enviado"]]
    message = reminder(
        attachments=[
            calendar_attachment(deadline_ics(entry, now=NOW), "RCM-1234.ics"),
            csv_attachment(rows, "estado.csv"),
        ]
    )
    parsed = parse(message)
    assert parsed.get_content_type() == "multipart/mixed"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["multipart/alternative", "text/calendar", "text/csv"]
    ics_part, csv_part = parts[1], parts[2]
    assert ics_part.get_param("method") == "PUBLISH"
    assert ics_part.get_filename() == "RCM-1234.ics"
    assert ics_part.get_content_disposition() == "attachment"
    cal = Calendar.from_ical(ics_part.get_payload(decode=True))
    [event] = cal.walk("VEVENT")
    assert event.decoded("DTSTART") == date(2026, 8, 15)
    assert str(event["SUMMARY"]) == "Plazo: Matriz [RCM-1234]"
    assert csv_part.get_filename() == "estado.csv"
    assert csv_part.get_payload(decode=True).decode("utf-8-sig") == "País,Matriz\r\nMéxico,enviado\r\n"
    body = parsed.get_body(("plain",))
    assert body is not None and "Dear Ana" in body.get_content()


def test_several_items_tag_the_subject_up_to_three() -> None:
    rendered = Rendered("Reminder: 5 items due from 15 August 2026", "t", "<p>h</p>", "en")
    message = COMPOSER.compose(
        rendered, kind="reminder", to=[Mailbox("ana@example.cr")], now=NOW, assignment_ids=[1, 2, 3, 4, 5]
    )
    assert parse(message)["Subject"] == "[RCM-1] [RCM-2] [RCM-3] Reminder: 5 items due from 15 August 2026"


def test_acknowledgement_is_an_auto_reply_in_the_thread() -> None:
    rendered = Rendered("Received: Re: [RCM-1234] Reminder", "Thanks.\n", "<p>Thanks.</p>", "en")
    message = COMPOSER.compose(
        rendered,
        kind="acknowledgement",
        to=[Mailbox("ana@example.cr", "Ana")],
        now=NOW,
        assignment_ids=[1234],
        in_reply_to="<reply-1@example.cr>",
        references=["<reminder-1@rcm.example.org>", "not a message id", "<reply-1@example.cr>"],
    )
    parsed = parse(message)
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["In-Reply-To"] == "<reply-1@example.cr>"
    assert parsed["References"] == "<reminder-1@rcm.example.org> <reply-1@example.cr>"
    assert parsed["Subject"] == "Received: Re: [RCM-1234] Reminder"  # tag already there: not repeated


def test_cc_bcc_and_duplicate_recipients() -> None:
    message = reminder(
        to=[Mailbox("ana@example.cr", "Ana")],
        cc=[Mailbox("ANA@example.cr"), Mailbox("luis@example.cr", "Luis"), Mailbox("ts@rcm.example.org", "TS")],
        bcc=["archive@rcm.example.org", "luis@example.cr"],
    )
    parsed = parse(message)
    assert [a.addr_spec for a in parsed["Cc"].addresses] == ["luis@example.cr", "ts@rcm.example.org"]
    assert "Bcc" not in parsed
    assert message.recipients == ["ana@example.cr", "luis@example.cr", "ts@rcm.example.org", "archive@rcm.example.org"]


@pytest.mark.parametrize(
    "name",
    [
        "Ana\r\nBcc: evil@example.org",
        "Ana\nX-Injected: yes",
        "Ana\rX-Injected: yes",
        "Ana\x00\x0b\x1f\x7f\x85\u2028X-Injected: yes",
    ],
)
def test_names_cannot_add_headers(name: str) -> None:
    message = reminder(to=[Mailbox("ana@example.cr", name)], cc=[Mailbox("luis@example.cr", name)])
    parsed = parse(message)
    assert set(parsed.keys()) <= EXPECTED_HEADERS
    assert message.recipients == ["ana@example.cr", "luis@example.cr"]
    assert (
        "X-Injected: yes" in parsed["To"].addresses[0].display_name or "Bcc" in parsed["To"].addresses[0].display_name
    )


def test_titles_and_ids_cannot_add_headers() -> None:
    rendered = Rendered("Reminder\r\nBcc: evil@example.org\r\n\r\nbody", "t", "h", "en\r\nX-Injected: 1")
    message = COMPOSER.compose(
        rendered,
        kind="acknowledgement",
        to=[Mailbox("ana@example.cr")],
        now=NOW,
        in_reply_to="<a@b>\r\nX-Injected: 1",
        references=["<c@d>\r\nX-Injected: 2"],
    )
    parsed = parse(message)
    assert set(parsed.keys()) <= EXPECTED_HEADERS
    assert parsed["Subject"] == "Reminder Bcc: evil@example.org body"
    assert parsed["In-Reply-To"] == "<a@b>"
    assert parsed["Content-Language"] == "en"
    assert message.recipients == ["ana@example.cr"]


@pytest.mark.parametrize(
    "address",
    [
        "ana@example.cr\r\nBcc: evil@example.org",
        "ana@example.cr, evil@example.org",
        "Ana <ana@example.cr>",
        "ana",
        "ana@",
        "@example.cr",
        "a b@example.cr",
        "ana@exa mple.cr",
        "",
    ],
)
def test_unusable_addresses_are_refused(address: str) -> None:
    with pytest.raises(PermanentDeliveryError, match="unusable address"):
        reminder(to=[Mailbox(address, "Ana")])


def test_address_checks() -> None:
    assert check_address(" ana.perez+rcm@example.cr\r\n") == "ana.perez+rcm@example.cr"
    assert check_address("ana@ministério.example") == "ana@xn--ministrio-g4a.example"


def test_non_ascii_names_are_encoded_and_lines_stay_short() -> None:
    long_name = "José Pérez Núñez de la Peña y Álvarez, Ministerio de Relaciones Exteriores y Culto"
    message = reminder(
        "es", to=[Mailbox("jose@example.cr", long_name)], cc=[Mailbox("luis@example.cr", 'Luis "Lucho" Gómez')]
    )
    data = message.data
    assert data.isascii()
    for line in header_block(data):
        assert len(line) <= (76 if "=?" in line else 78), line
    for line in data.split(b"\r\n"):
        assert len(line) <= 998
    parsed = parse(message)
    assert parsed["To"].addresses[0].display_name == long_name
    assert parsed["Cc"].addresses[0].display_name == 'Luis "Lucho" Gómez'


def test_clean_header_text() -> None:
    assert clean_header_text("  a\r\n\tb  c\x00d\u2028e ") == "a b c d e"
    assert clean_header_text("sur\ud800rogate") == "sur?rogate"


printable = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)


@given(name=printable, subject=printable.filter(str.strip))
def test_any_name_and_subject_round_trip_without_new_headers(name: str, subject: str) -> None:
    rendered = Rendered(subject, "text\n", "<p>html</p>", "es")
    message = COMPOSER.compose(
        rendered, kind="reminder", to=[Mailbox("ana@example.cr", name)], now=NOW, notification_id=1
    )
    data = message.data
    assert data.isascii()
    for line in header_block(data):
        assert len(line) <= (76 if "=?" in line else 78), line
    parsed = parse(message)
    assert set(parsed.keys()) <= EXPECTED_HEADERS
    assert parsed["Subject"] == clean_header_text(subject)
    [to] = parsed["To"].addresses
    assert to.addr_spec == "ana@example.cr"
    # CPython's parser may put a space between two adjacent encoded words in a
    # display name (RFC 2047 says to drop it), so compare without whitespace.
    assert "".join(to.display_name.split()) == "".join(clean_header_text(name).split())


def test_composer_refuses_bad_configuration() -> None:
    with pytest.raises(ConfigError, match="mail.from_address"):
        Composer(MailSettings(from_address="not an address"), secret=SECRET, tag="RCM")
    with pytest.raises(ConfigError, match="reply address"):
        Composer(MailSettings(reply_local_part="t s"), secret=SECRET, tag="RCM")
    with pytest.raises(ConfigError, match="secret"):
        Composer(MailSettings(), secret=b"", tag="RCM")
    with pytest.raises(ValueError, match="at least one To"):
        COMPOSER.compose(Rendered("s", "t", "h", "en"), kind="reminder", to=[], now=NOW)

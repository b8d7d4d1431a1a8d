"""Hostile and broken input: the inbound pipeline answers, it never raises."""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followup.inbound import autoreply, bounce, dates, naming
from followup.inbound.classify import UNPARSEABLE, Understanding, understand
from followup.inbound.dates import find_dates, find_period, find_relative
from followup.inbound.html_text import html_to_text
from followup.inbound.intent import classify_intent
from followup.inbound.parse import ParsedMessage, may_say
from followup.inbound.quotes import visible_text
from tests.conftest import FIXTURES

REFERENCE = date(2026, 8, 3)
MAIL = FIXTURES / "mail"


def check(raw: bytes) -> Understanding:
    """understand() answers, and everything it says can be stored as text."""
    seen = understand(raw, REFERENCE)
    parsed = seen.parsed
    assert isinstance(parsed, ParsedMessage)
    strings = [
        seen.visible_text,
        parsed.subject,
        parsed.sender,
        parsed.sender_name,
        parsed.text,
        parsed.message_id or "",
        *parsed.to,
        *parsed.cc,
        *parsed.references,
        *parsed.defects,
        *(a.filename for a in parsed.attachments),
    ]
    for text in strings:
        assert "\x00" not in text
        text.encode("utf-8")
    json.dumps([a.as_dict() for a in seen.attachments])
    return seen


HEADERS = b"From: Ana <ana@gob.example>\nTo: ts@rcm.example.org\nSubject: Re: matriz\n"

MALFORMED = {
    "empty": b"",
    "whitespace": b"   \n\n\t ",
    "nul bytes": b"\x00" * 100,
    "garbage": bytes(range(256)) * 8,
    "headers only": HEADERS,
    "no colon header": b"this is not a header\nFrom: ana@gob.example\n\nbody\n",
    "nul in headers and body": b"From: An\x00a <ana@gob.example>\nSubject: a\x00b\n\nAdjunto\x00 la matriz.\n",
    "missing boundary": HEADERS + b'Content-Type: multipart/mixed; boundary="nowhere"\n\nAdjunto la matriz.\n',
    "multipart without boundary": HEADERS + b"Content-Type: multipart/alternative\n\nplain words\n",
    "unterminated nested": HEADERS
    + b'Content-Type: multipart/mixed; boundary="a"\n\n--a\nContent-Type: multipart/alternative; boundary="b"\n\n'
    + b"--b\nContent-Type: text/plain\n\nhello\n",
    "bad base64": HEADERS + b"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!not*base64***\n",
    "bad quoted-printable": HEADERS
    + b"Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nabc=ZZ=\n=\n",
    "undeclared latin-1": HEADERS + b"Content-Type: text/plain\n\nAdjunto la informaci\xf3n de Panam\xe1.\n",
    "utf-8 declared latin-1 wrong": HEADERS + b"Content-Type: text/plain; charset=utf-8\n\nPanam\xe1 \xff\xfe\n",
    "unknown charset": HEADERS
    + b"Content-Type: text/plain; charset=x-no-such-charset\n\nAdjunto la matriz de Panam\xc3\xa1.\n",
    "bytes-to-bytes codec as charset": HEADERS + b"Content-Type: text/plain; charset=base64\n\nAdjunto.\n",
    "utf-7": HEADERS + b"Content-Type: text/plain; charset=utf-7\n\nA+ANs-adjunto +-\n",
    "bad encoded word": b"From: =?utf-8?B?!!!?= <a@b.example>\nSubject: =?x-unknown?Q?caf=E9?= =?utf-8?B?Zm9v\n\nx\n",
    "8-bit headers": b"From: Mar\xeda P\xe9rez <maria@gob.example>\nSubject: Matr\xedz \xe9\n\nok\n",
    "no message-id, bad date": HEADERS + b"Date: the day after tomorrow\n\nAdjunto.\n",
    "year 10000 date": HEADERS + b"Date: Mon, 1 Jan 99999 00:00:00 +0000\n\nx\n",
    "only a name in From": b"From: Postmaster <>\nSubject: Undeliverable\n\nDelivery has failed.\n",
    "group address": b"From: ana@gob.example\nTo: undisclosed-recipients:;\nCc: , , <>\n\nx\n",
    "html only, hostile": HEADERS
    + b"Content-Type: text/html\n\n<script>alert(1)</script><div><div><p>Adjunto<blockquote>"
    + b"<<<>>></b></i><table><tr><td>x" * 50
    + b"\n",
    "cr line endings": HEADERS.replace(b"\n", b"\r") + b"\rAdjunto.\r",
    "message/rfc822 without body": HEADERS
    + b'Content-Type: multipart/mixed; boundary="z"\n\n--z\nContent-Type: message/rfc822\n\n--z--\n',
    "delivery-status garbage": b"From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="q"\n\n--q\n'
    b"Content-Type: message/delivery-status\n\n\xff\xfe:::\n\n"
    b"Final-Recipient: ;;;\nAction:\nStatus: 9.9.9.9\n--q--\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_input_never_raises(name: str) -> None:
    check(MALFORMED[name])


def test_empty_and_garbage_are_quarantined() -> None:
    for name in ("empty", "whitespace", "nul bytes", "garbage"):
        seen = check(MALFORMED[name])
        assert seen.classification == UNPARSEABLE, name
        assert not seen.parsed.parse_ok


def test_wrong_charsets_are_noted_and_text_still_comes_out() -> None:
    latin = check(MALFORMED["undeclared latin-1"]).parsed
    assert "información de Panamá" in latin.text
    assert "8-bit text without a charset" in latin.defects
    unknown = check(MALFORMED["unknown charset"])
    assert unknown.parsed.text.strip() == "Adjunto la matriz de Panamá."
    assert any("unknown charset" in d for d in unknown.parsed.defects)
    assert unknown.intent == "confirmation"
    assert check(MALFORMED["8-bit headers"]).parsed.subject == "Matríz é"
    assert check(MALFORMED["8-bit headers"]).parsed.sender_name == "María Pérez"
    assert "no Message-ID" in check(MALFORMED["no message-id, bad date"]).parsed.defects


def test_a_ten_megabyte_attachment_is_measured_not_kept() -> None:
    payload = bytes(range(256)) * (10 * 1024 * 1024 // 256)
    encoded = base64.encodebytes(payload)
    raw = (
        HEADERS + b'Content-Type: multipart/mixed; boundary="big"\n\n--big\nContent-Type: text/plain\n\n'
        b"Adjunto la matriz.\n--big\nContent-Type: application/zip\nContent-Disposition: attachment; "
        b'filename="evidencia.zip"\nContent-Transfer-Encoding: base64\n\n' + encoded + b"--big--\n"
    )
    seen = check(raw)
    (attachment,) = seen.attachments
    assert attachment.size == len(payload)
    assert attachment.filename == "evidencia.zip"
    assert seen.visible_text == "Adjunto la matriz."
    assert seen.intent == "confirmation"


def test_a_thousand_headers_and_a_huge_subject() -> None:
    many = b"".join(b"X-Header-%d: value %d\n" % (i, i) for i in range(1000))
    seen = check(HEADERS + many + b"\nAdjunto la matriz.\n")
    assert seen.parsed.header("X-Header-999") == "value 999"
    assert seen.intent == "confirmation"
    huge = check(b"From: a@b.example\nSubject: " + b"x" * 1_000_000 + b"\n\nbody\n").parsed
    assert 0 < len(huge.subject) <= 4000


def test_deeply_nested_multiparts() -> None:
    depth = 300
    head = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth))
    tail = b"".join(b"\n--b%d--\n" % i for i in reversed(range(depth)))
    check(HEADERS + head + b"Content-Type: text/plain\n\nhola" + tail)


def test_a_huge_text_body_is_capped() -> None:
    seen = check(HEADERS + b"\n" + b"linea de texto sin fin\n" * 100_000)
    assert len(seen.parsed.text) <= 1_000_000
    assert "body text truncated" in seen.parsed.defects


def _seed_messages() -> list[bytes]:
    seeds = [p.read_bytes() for p in sorted(MAIL.glob("*.eml"))]
    corpora = FIXTURES / "corpora"
    for folder in ("flanker/bounce", "talon/standard_replies", "mail-deliverystatus-bounceparser"):
        seeds += [p.read_bytes()[:20_000] for p in sorted((corpora / folder).iterdir())[:8] if p.is_file()]
    return seeds


SEEDS = _seed_messages()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real message with random damage: flipped, inserted, deleted or truncated bytes."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        if not data:
            break
        pos = draw(st.integers(min_value=0, max_value=len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        if action == "flip":
            data[pos] = draw(st.integers(min_value=0, max_value=255))
        elif action == "insert":
            data[pos:pos] = draw(st.sampled_from([b"\x00", b"\n\n", b"--", b"=?utf-8?B?", b"<", b":", b"\r", b"\xff"]))
        elif action == "delete":
            del data[pos : pos + draw(st.integers(min_value=1, max_value=200))]
        elif action == "truncate":
            del data[pos:]
        else:
            data[pos:pos] = draw(st.binary(max_size=64))
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    check(raw)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_real_messages_never_raise(raw: bytes) -> None:
    check(raw)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_text_functions_never_raise(text: str) -> None:
    visible_text(text)
    html_to_text(text)
    classify_intent(text, [], text[:100], REFERENCE)
    find_dates(text, REFERENCE)
    find_period(text, REFERENCE)
    find_relative(text, REFERENCE)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "> ",
                "On Mon, 3 Aug 2026, TS wrote:",
                "El lun, TS escribió:",
                "De: TS",
                "Enviado: lunes",
                "Para: yo",
                "Asunto: x",
                "-- ",
                "Enviado desde mi iPhone",
                "Adjunto la matriz.",
                "",
                "________________",
                "-----Original Message-----",
                "<",
                "ts@rcm.example.org> wrote:",
            ]
        ),
        max_size=60,
    )
)
def test_visible_text_is_a_subset_of_the_lines(lines: list[str]) -> None:
    body = "\n".join(lines)
    result = visible_text(body)
    assert all(line in lines for line in result.split("\n")) or result == ""


@pytest.mark.parametrize(
    ("folded", "expected"),
    [
        ("RE: =?utf-8?q?Recordatorio=3A_gesti=C3=B3n?=\r\n migratoria", "RE: Recordatorio: gestión migratoria"),
        ("=?iso-8859-1?q?Pol=EDtica?=\r\n\tmigratoria [RCM-12]", "Política migratoria [RCM-12]"),
        ("=?utf-8?b?R2VzdGnDs24=?=\r\n =?utf-8?q?_migratoria?=", "Gestión migratoria"),
    ],
)
def test_a_folded_subject_keeps_the_space_after_an_encoded_word(folded: str, expected: str) -> None:
    from followup.inbound.parse import parse_message

    raw = f"From: a@b.example\r\nSubject: {folded}\r\nMessage-ID: <x@b.example>\r\n\r\nhola\r\n".encode()
    assert parse_message(raw).subject == expected


def _fold_dates_by_definition(text: str) -> str:
    out = []
    for ch in text:
        if ord(ch) < 128:
            out.append(ch.lower())
            continue
        base = unicodedata.normalize("NFKD", ch)[:1] or ch
        out.append(base.lower()[:1] or base)
    return "".join(out)


def _fold_naming_by_definition(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from("éÉñÑüçİıﬁßẞǅΣσς\u0301\u0327")))
def test_folding_through_a_table_is_folding_by_definition(text: str) -> None:
    """Both folds read characters through a cached table; the result is their definition's."""
    assert dates.fold(text) == _fold_dates_by_definition(text)
    assert len(dates.fold(text)) == len(text)
    assert naming.fold(text) == _fold_naming_by_definition(text)


_PREFILTERED = [
    (autoreply._COMPLAINT_RE, autoreply._COMPLAINT_WORDS),
    (bounce._BOUNCE_SUBJECT_RE, bounce._BOUNCE_SUBJECT_WORDS),
]


@pytest.mark.parametrize(("pattern", "words"), _PREFILTERED)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_what_a_prefiltered_pattern_matches_passes_its_prefilter(
    pattern: re.Pattern[str], words: tuple[str, ...], data: st.DataObject
) -> None:
    """The word lists hold a word of every branch: text the pattern finds is never turned away."""
    text = data.draw(st.from_regex(pattern))
    assert pattern.search(text)
    assert may_say(text, words)


_PIECES = st.sampled_from(
    ["Delivery", "UNDELIVERABLE", "abuse report", "Feedback-Type: abuse", "as spam", "entrega", "\u212a", "\u017f",
     "\u0130", "\u0131", "é", "ﬁ", " ", "\n", "mail", "fail", "退信", "Returned", "to sender", "bounce"]
)  # fmt: skip


@pytest.mark.parametrize(("pattern", "words"), _PREFILTERED)
@settings(max_examples=500, deadline=None)
@given(st.lists(_PIECES | st.text(max_size=5), max_size=12))
def test_a_prefilter_turns_away_only_what_its_pattern_would(
    pattern: re.Pattern[str], words: tuple[str, ...], pieces: list[str]
) -> None:
    text = "".join(pieces)
    if not may_say(text, words):
        assert pattern.search(text) is None

"""Pure pieces of the web room: item link tokens, file sniffing and names, rate limits, sessions."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from followup.inbound.sniff import MAX_NAME_BYTES, safe_name, sniff_bytes, sniff_file
from followup.outbound.links import TOKEN_LENGTH, LinkClaim, claim_for, make_link_token, read_link_token
from followup.web.security import client_address, is_https
from followup.web.sessions import make_session, read_session

SECRET = b"a-test-secret-that-is-long-enough"
CLAIM = LinkClaim(assignment_id=1234, contact_id=56, occurrence_due=date(2026, 8, 20), expires_on=date(2026, 11, 18))


def test_link_token_round_trip_and_carries_no_personal_data() -> None:
    token = make_link_token(CLAIM, SECRET)
    assert len(token) == TOKEN_LENGTH
    assert read_link_token(token, SECRET) == CLAIM
    assert "@" not in token


def test_link_token_altered_anywhere_is_refused() -> None:
    token = make_link_token(CLAIM, SECRET)
    for i in range(len(token)):
        swapped = "A" if token[i] != "A" else "B"
        assert read_link_token(token[:i] + swapped + token[i + 1 :], SECRET) is None
    assert read_link_token(token, b"another-secret-also-long-enough") is None
    assert read_link_token(token[:-1], SECRET) is None
    assert read_link_token("é" * TOKEN_LENGTH, SECRET) is None


def test_link_expires_link_days_after_the_due_date() -> None:
    claim = claim_for(1, 2, date(2026, 8, 20), date(2026, 9, 1), 90)
    assert claim.expires_on == date(2026, 11, 30)
    assert not claim.expired(date(2026, 11, 30))
    assert claim.expired(date(2026, 12, 1))


def _zip(names: dict[str, bytes], *, first_stored: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in names.items():
            kind = zipfile.ZIP_STORED if first_stored and name == "mimetype" else zipfile.ZIP_DEFLATED
            zf.writestr(name, data, compress_type=kind)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("report.pdf", b"%PDF-1.7\n...", "pdf"),
        ("report.exe", b"%PDF-1.4\n...", "pdf"),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "doc"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "xls"),
        ("old.pdf", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "ole"),
        ("data.csv", "país;total\nHN;3\n".encode(), "csv"),
        ("notes.txt", b"hello\nworld\n", "txt"),
        ("evil.pdf", b"MZ\x90\x00\x03\x00\x00\x00", "unknown"),
        ("page.pdf", b"\x00\x01\x02", "unknown"),
    ],
)
def test_sniff_from_bytes_not_names(name: str, data: bytes, kind: str) -> None:
    assert sniff_bytes(data, name).kind == kind


def test_sniff_zip_containers(tmp_path: Path) -> None:
    cases = {
        "docx": _zip({"[Content_Types].xml": b"<x/>", "word/document.xml": b"<w/>"}),
        "xlsx": _zip({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<w/>"}),
        "odt": _zip(
            {"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"}, first_stored=True
        ),
        "ods": _zip(
            {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}, first_stored=True
        ),
        "zip": _zip({"a.txt": b"a"}),
    }
    for kind, data in cases.items():
        path = tmp_path / f"f.{kind}"
        path.write_bytes(data)
        assert sniff_file(path, "whatever.bin").kind == kind
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04garbage")
    assert sniff_file(broken).kind == "unknown"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("report\x00.pdf.exe", "report.pdf.exe"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("  .hidden  ", "hidden"),
        ("..", "file"),
        ("", "file"),
        ("informe final 2026.pdf", "informe final 2026.pdf"),
        ("line\nbreak.pdf", "linebreak.pdf"),
    ],
)
def test_safe_name(given: str, expected: str) -> None:
    assert safe_name(given) == expected


def test_safe_name_shortens_very_long_names_keeping_the_extension() -> None:
    name = safe_name("á" * 500 + ".pdf")
    assert name.endswith(".pdf")
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES


def test_forwarded_headers_only_from_trusted_proxies() -> None:
    headers = {"x-forwarded-for": "203.0.113.9, 10.0.0.2", "x-forwarded-proto": "https"}
    assert client_address("198.51.100.1", headers, ()) == "198.51.100.1"
    assert client_address("198.51.100.1", headers, ("10.0.0.0/8",)) == "198.51.100.1"
    assert client_address("10.0.0.2", headers, ("10.0.0.0/8",)) == "203.0.113.9"
    assert is_https("http", "10.0.0.2", headers, ("10.0.0.0/8",))
    assert not is_https("http", "198.51.100.1", headers, ("10.0.0.0/8",))


def test_session_cookie_is_signed_and_ages() -> None:
    now = datetime(2026, 8, 3, 14, 0, tzinfo=UTC)
    cookie = make_session(SECRET, 7, now)
    info = read_session(SECRET, cookie, now + timedelta(hours=1), 12)
    assert info is not None
    assert info.user_id == 7
    assert read_session(SECRET, cookie, now + timedelta(hours=13), 12) is None
    forged = "8" + cookie[1:]
    assert read_session(SECRET, forged, now, 12) is None
    assert read_session(b"another-secret-also-long-enough", cookie, now, 12) is None

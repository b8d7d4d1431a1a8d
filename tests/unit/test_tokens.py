"""Reply tokens and subject tags."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup.outbound.tokens import (
    TOKEN_LENGTH,
    extract_tokens,
    make_token,
    parse_reference_tags,
    reference_tag,
    reply_address,
    verify_token,
)

SECRET = b"0123456789abcdef0123456789abcdef"
ids = st.integers(min_value=0, max_value=2**48 - 1)
secrets_ = st.binary(min_size=1, max_size=64)


@pytest.mark.parametrize("notification_id", [0, 1, 42, 123_456_789, 2**48 - 1])
def test_round_trip(notification_id: int) -> None:
    token = make_token(notification_id, SECRET)
    assert len(token) == TOKEN_LENGTH
    assert re.fullmatch(r"[a-z2-7]+", token)
    assert verify_token(token, SECRET) == notification_id


def test_token_is_standard_base32_of_mac_and_id() -> None:
    # The hand-written encoder must agree with RFC 4648 base32.
    id_bytes = (77).to_bytes(6, "big")
    mac = hmac.new(SECRET, b"followup/reply-token/v1:" + id_bytes, hashlib.sha256).digest()[:10]
    expected = base64.b32encode(mac + id_bytes).decode().rstrip("=").lower()
    assert make_token(77, SECRET) == expected


def test_upper_case_token_still_verifies() -> None:
    # Some mail systems fold the local part to upper case.
    assert verify_token(make_token(9, SECRET).upper(), SECRET) == 9


def test_wrong_secret_rejected() -> None:
    assert verify_token(make_token(9, SECRET), b"another secret") is None


@pytest.mark.parametrize(
    "token",
    ["", "a" * 25, "a" * 27, "0" * 26, "ä" * 26, "a" * 24 + "!!", "a" * 26],
)
def test_malformed_tokens_rejected(token: str) -> None:
    assert verify_token(token, SECRET) is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="empty"):
        make_token(1, b"")
    with pytest.raises(ValueError, match="does not fit"):
        make_token(2**48, SECRET)
    with pytest.raises(ValueError, match="does not fit"):
        make_token(-1, SECRET)
    assert verify_token(make_token(1, SECRET), b"") is None


@given(ids, secrets_)
def test_round_trip_property(notification_id: int, secret: bytes) -> None:
    assert verify_token(make_token(notification_id, secret), secret) == notification_id


@given(ids, st.integers(min_value=0, max_value=TOKEN_LENGTH - 1), st.sampled_from("abcdefghijklmnopqrstuvwxyz234567"))
def test_any_changed_character_is_rejected(notification_id: int, position: int, char: str) -> None:
    token = make_token(notification_id, SECRET)
    tampered = token[:position] + char + token[position + 1 :]
    if tampered == token:
        return
    assert verify_token(tampered, SECRET) is None


def test_reply_address_and_extraction() -> None:
    token = make_token(5, SECRET)
    address = reply_address(token, "ts", "rcm.example.org")
    assert address == f"ts+{token}@rcm.example.org"
    other = make_token(6, SECRET)
    found = extract_tokens(
        [
            f'"RCM Technical Secretariat" <{address}>',
            f"TS+{other.upper()}@RCM.EXAMPLE.ORG, {address}",
            "ana@example.bz",
            "ts+short@rcm.example.org",
        ]
    )
    assert found == [token, other]
    assert [verify_token(t, SECRET) for t in found] == [5, 6]


def test_reference_tags() -> None:
    assert reference_tag("RCM", 1234) == "[RCM-1234]"
    assert parse_reference_tags("Re: [RCM-12] Recordatorio: matriz", "RCM") == [12]
    assert parse_reference_tags("RE: RE: [rcm-12] [RCM 13][RCM#14] [ RCM-12 ]", "RCM") == [12, 13, 14]
    assert parse_reference_tags("[ABC-3] [RCM-] RCM-5 [RCM-x]", "RCM") == []


@given(st.from_regex(r"[A-Z][A-Z0-9]{1,9}", fullmatch=True), st.integers(min_value=0, max_value=10**12 - 1))
def test_tag_round_trip(tag: str, assignment_id: int) -> None:
    assert parse_reference_tags(f"Re: {reference_tag(tag, assignment_id)} hello", tag) == [assignment_id]

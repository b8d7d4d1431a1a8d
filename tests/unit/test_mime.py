"""``mime.parse_bytes`` builds exactly the tree the stdlib's compat32 parser builds.

Compared node by node (headers, envelope line, payloads, preambles,
epilogues, default types, defects) on every message of the fixtures, with
their line endings as they are, as LF, as CRLF and as lone CR; on
hand-made edge cases; and on random mutations of multipart messages
(duplicated, dropped and damaged delimiter lines, truncation).
"""

from __future__ import annotations

import random
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followup.inbound import mime
from tests.conftest import FIXTURES

STDLIB = BytesParser(policy=compat32)


def differences(ours: Message, theirs: Message, where: str = "message") -> list[str]:
    found = [
        f"{where}.{attr}"
        for attr in ("_headers", "_unixfrom", "preamble", "epilogue", "_default_type", "_charset", "policy")
        if getattr(ours, attr) != getattr(theirs, attr)
    ]
    if [type(d) for d in ours.defects] != [type(d) for d in theirs.defects]:
        found.append(f"{where}.defects")
    a, b = ours._payload, theirs._payload
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            found.extend(differences(x, y, f"{where}.{n}"))
    elif a != b:
        found.append(f"{where}._payload")
    return found


def assert_same(data: bytes) -> None:
    assert differences(mime.parse_bytes(data), STDLIB.parsebytes(data)) == []


def _fixture_messages() -> list[Path]:
    return sorted(
        p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix in (".eml", ".msg", ".txt") and p.stat().st_size
    )


def _line_endings(data: bytes) -> list[bytes]:
    lf = data.replace(b"\r\n", b"\n")
    return [data, lf, lf.replace(b"\n", b"\r\n"), lf.replace(b"\n", b"\r")]


def test_every_fixture_message_parses_to_the_same_tree() -> None:
    paths = _fixture_messages()
    assert len(paths) > 500
    for path in paths:
        for data in _line_endings(path.read_bytes()):
            assert differences(mime.parse_bytes(data), STDLIB.parsebytes(data)) == [], path


def _multipart(body: str, *, ctype: str = 'multipart/mixed; boundary="b"', head: str = "") -> bytes:
    return f"From: a@example.org\nSubject: s\n{head}Content-Type: {ctype}\n\n{body}".encode()


EDGE_CASES = {
    "plain": b"From: a@example.org\nSubject: hi\n\nbody\n",
    "no body": b"From: a@example.org\nSubject: hi\n",
    "no blank line before the body": b"From: a@example.org\nnot a header\nbody\n",
    "envelope line": b"From someone Fri Sep  4 10:00:00 2026\nFrom: a@example.org\n\nbody\n",
    "empty": b"",
    "only a blank line": b"\n",
    "simple multipart": _multipart("--b\nContent-Type: text/plain\n\nhello\n--b--\n"),
    "preamble and epilogue": _multipart("preamble\nmore\n--b\n\nhello\n--b--\nepilogue\nlines\n"),
    "close delimiter at the very end": _multipart("--b\n\nhello\n--b--"),
    "delimiter with trailing blanks": _multipart("--b \t\n\nhello\n--b-- \n"),
    "delimiter with junk after it": _multipart("--b\n\nhello\n--bx\nstill hello\n--b--\n"),
    "part without headers": _multipart("--b\n\nno headers\n--b\nContent-Type: text/html\n\n<p>x</p>\n--b--\n"),
    "part with headers only": _multipart("--b\nContent-Type: text/plain\n--b--\n"),
    "empty part body": _multipart("--b\nContent-Type: text/plain\n\n--b--\n"),
    "two delimiters in a row": _multipart("--b\n--b\n\nhello\n--b--\n"),
    "delimiter then close": _multipart("--b\n--b--\n"),
    "no closing delimiter": _multipart("--b\n\nhello\n"),
    "no opening delimiter": _multipart("hello\n--b--\n"),
    "no delimiter at all": _multipart("hello\n"),
    "no boundary parameter": _multipart("--b\n\nhello\n--b--\n", ctype="multipart/mixed"),
    "encoded multipart": _multipart("--b\n\nhello\n--b--\n", head="Content-Transfer-Encoding: base64\n"),
    "nested": _multipart(
        '--b\nContent-Type: multipart/alternative; boundary="c"\n\n--c\n\nplain\n--c\nContent-Type: text/html\n\n'
        "<p>html</p>\n--c--\ninner epilogue\n--b\nContent-Type: application/pdf\n\nJVBERi0=\n--b--\n"
    ),
    "nested with empty epilogue": _multipart(
        '--b\nContent-Type: multipart/alternative; boundary="c"\n\n--c\n\nplain\n--c--\n--b--\n'
    ),
    "nested without closing its own": _multipart(
        '--b\nContent-Type: multipart/alternative; boundary="c"\n\n--c\n\nplain\n--b--\n'
    ),
    "same boundary nested": _multipart(
        '--b\nContent-Type: multipart/alternative; boundary="b"\n\n--b\n\nplain\n--b--\n--b--\n'
    ),
    "boundary prefix of another": _multipart(
        '--b\nContent-Type: multipart/alternative; boundary="b-1"\n\n--b-1\n\nplain\n--b-1--\n--b--\n'
    ),
    "forwarded message": _multipart(
        "--b\n\nsee below\n--b\nContent-Type: message/rfc822\n\nFrom: c@example.org\n\nold\n--b--\n"
    ),
    "digest": _multipart("--b\n\nFrom: c@example.org\n\nold\n--b--\n", ctype='multipart/digest; boundary="b"'),
    "delivery status": _multipart(
        "--b\n\nfailed\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n"
        "Final-Recipient: rfc822; a@x\nAction: failed\n--b--\n",
        ctype='multipart/report; report-type=delivery-status; boundary="b"',
    ),
    "8-bit bytes": _multipart("--b\nContent-Type: text/plain; charset=latin-1\n\nse\xf1or\n--b--\n").replace(
        b"se\xc3\xb1or", b"se\xf1or"
    ),
    "folded and damaged headers": _multipart("--b\nContent-Type: text/plain;\n charset=utf-8\n: odd\n\nx\n--b--\n"),
    "header block cut by a stray line": _multipart("--b\nContent-Type: text/plain\nstray\n\nx\n--b--\n"),
    "part opening with a continuation line": _multipart("--b\n folded\nContent-Type: text/plain\n\nx\n--b--\n"),
    "part with an envelope line": _multipart("--b\nFrom someone Fri Sep  4\nX: y\n\nx\n--b--\n"),
    "header without a name": _multipart("--b\n: no name\nX: y\n\nx\n--b--\n"),
    "header names with odd characters": _multipart("--b\nX-A_b.c!~: 1\nX-\xe9: 2\n\nx\n--b--\n"),
    "RFC 2231 boundary": _multipart("--b c\n\nhello\n--b c--\n", ctype="multipart/mixed; boundary*=''b%20c"),
}


@pytest.mark.parametrize("data", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_parse_to_the_same_tree(data: bytes) -> None:
    for variant in _line_endings(data):
        assert_same(variant)


def test_well_formed_multiparts_take_the_quick_way(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(data: bytes) -> Message:
        raise AssertionError("parsed by the stdlib")

    monkeypatch.setattr(mime._BYTES_PARSER, "parsebytes", refuse)
    for name in ("simple multipart", "preamble and epilogue", "nested", "part without headers"):
        for variant in _line_endings(EDGE_CASES[name]):
            mime.parse_bytes(variant)


_PIECES = [b"\n", b"\r\n", b"\r", b"--", b" ", b"\t", b"\n\n", b"--b\n", b"--b--\n", b"--c\n", b"X-Y: z\n", b"\xff"]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if op < 0.25 and lines:
            delimiters = [n for n, line in enumerate(lines) if line.startswith(b"--")] or [0]
            n = rng.choice(delimiters)
            lines.insert(n, lines[n] + rng.choice([b"", b"--", b" ", b"\r"]))
        elif op < 0.45 and lines:
            del lines[rng.randrange(len(lines))]
        elif op < 0.65:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(_PIECES).rstrip(b"\n"))
        elif op < 0.8 and lines:
            n = rng.randrange(len(lines))
            at = rng.randrange(len(lines[n]) + 1)
            lines[n] = lines[n][:at] + rng.choice(_PIECES) + lines[n][at:]
        else:
            lines = lines[: rng.randrange(len(lines) + 1)]
    out = b"\n".join(lines)
    return out.replace(b"\n", b"\r\n") if rng.random() < 0.3 else out


def test_damaged_multiparts_parse_to_the_same_tree() -> None:
    seeds = [p.read_bytes() for p in _fixture_messages()]
    seeds = [s for s in seeds if b"boundary" in s.lower()] + [d for d in EDGE_CASES.values() if b"--b" in d]
    rng = random.Random(13)
    for _ in range(3000):
        assert_same(_mutate(rng, rng.choice(seeds)))


_LINE = st.sampled_from(
    ["--b", "--b--", "--b ", "--c", "--c--", "", "text", "Content-Type: text/plain", "X: y", " folded", "--bx"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=25), st.sampled_from(["\n", "\r\n", "\r"]))
def test_random_multiparts_parse_to_the_same_tree(lines: list[str], newline: str) -> None:
    nested = 'Content-Type: multipart/alternative; boundary="c"'
    body = "\n".join(nested if line == "X: y" else line for line in lines)
    assert_same(_multipart(body).replace(b"\n", newline.encode()))

"""Secrets never reach a log line or an error message.

aioimaplib logs the LOGIN command under ``--debug`` and masks only a
password that needs no quoting; the one here needs quoting and escaping.
Database URLs in errors show no password.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from followup.errors import DatabaseError
from followup.inbound.imap_source import IMAP_LIBRARY_LOGGER, ImapMailbox, RedactPassword
from followup.store.db import make_engine, safe_url

if TYPE_CHECKING:
    from tests.dovecot import DovecotServer


def _forms(password: str) -> list[str]:
    """Every way the password could show up in a log line (as is, IMAP-quoted, repr-escaped)."""
    quoted = password.replace("\\", "\\\\").replace('"', '\\"')
    forms = {password, quoted, repr(password)[1:-1], repr(quoted)[1:-1], repr(quoted.encode())[2:-1]}
    # Any long enough piece of it is a leak too.
    forms |= {password[i : i + 6] for i in range(len(password) - 5)}
    return sorted(forms)


def _env(dovecot: DovecotServer, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env |= {
        "FOLLOWUP_DATABASE_URL": f"sqlite:///{tmp_path / 'followup.db'}",
        "FOLLOWUP_SIGNING_SECRET": "a-test-secret-that-is-long-enough",
        "FOLLOWUP_IMAP__HOST": dovecot.host,
        "FOLLOWUP_IMAP__PORT": str(dovecot.port),
        "FOLLOWUP_IMAP__SECURITY": "none",
        "FOLLOWUP_IMAP__USERNAME": dovecot.user,
        "FOLLOWUP_IMAP__PASSWORD": dovecot.password,
    }
    return env


def _followup(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "followup", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.imap
def test_imap_password_with_quotes_and_backslashes_is_never_printed_under_debug(
    tmp_path: Path, dovecot_tricky_password: DovecotServer
) -> None:
    dovecot = dovecot_tricky_password
    password = dovecot.password
    assert '"' in password and "\\" in password
    dovecot.append(b"From: a@example.org\r\nSubject: hi\r\nMessage-ID: <x@example.org>\r\n\r\nhello\r\n")
    env = _env(dovecot, tmp_path)
    assert _followup(tmp_path, env, "init").returncode == 0
    polled = _followup(tmp_path, env, "--debug", "inbox", "poll")
    output = polled.stdout + polled.stderr
    assert polled.returncode == 0, output
    assert "1 stored" in polled.stdout  # the login worked: the password went over the wire
    assert "LOGIN" in output  # and the library did log the command
    for form in _forms(password):
        assert form not in output, f"password leaked as {form!r}"
    # A wrong password in an error message is not printed either.
    env["FOLLOWUP_IMAP__PASSWORD"] = password + 'x"\\'
    refused = _followup(tmp_path, env, "--debug", "inbox", "poll")
    assert refused.returncode != 0
    for form in _forms(password):
        assert form not in refused.stdout + refused.stderr


@pytest.mark.parametrize(
    "password", ["simple-pass", 'with"quote', "back\\slash", 'both"\\and more', "ñandú \\\"'%s{3}", "\\"]
)
def test_redaction_filter_covers_every_escaping(password: str) -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger(IMAP_LIBRARY_LOGGER)
    keep = Keep()
    redact = RedactPassword(password)
    logger.addHandler(keep)
    logger.addFilter(redact)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        quoted = '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'
        data = f"A001 LOGIN tester {quoted}\r\n".encode()
        logger.debug("Sending : %s" % data)  # noqa: UP031 - the library's own way
        logger.debug("Sending : %s", data)
        logger.debug("raw password %s in some other message", password)
    finally:
        logger.removeFilter(redact)
        logger.removeHandler(keep)
        logger.setLevel(old_level)
    assert len(records) == 3
    for line in records:
        for form in _forms(password) if len(password) > 5 else [password, repr(password)[1:-1]]:
            assert form not in line.replace("LOGIN tester", ""), (form, line)
    assert "LOGIN tester ***" in records[0]


async def test_the_redaction_filter_is_removed_when_the_session_ends(dovecot: DovecotServer) -> None:
    logger = logging.getLogger(IMAP_LIBRARY_LOGGER)
    before = list(logger.filters)
    async with ImapMailbox(dovecot.settings()):
        assert any(isinstance(f, RedactPassword) for f in logger.filters)
    assert logger.filters == before


@pytest.mark.parametrize(
    "url",
    [
        "mysql://admin:hunter2-secret@db.example/followup",
        "oracle+cx://admin:hunter2-secret@db.example:1521/x",
        "not a url://admin:hunter2-secret@db.example",
        "postgresql://admin:hunter2-secret@db.example:notaport/followup",
    ],
)
def test_database_url_errors_hide_the_password(url: str, tmp_path: Path) -> None:
    assert "hunter2-secret" not in safe_url(url)
    with pytest.raises(DatabaseError) as caught:
        make_engine(url)
    assert "hunter2-secret" not in str(caught.value)
    assert "admin" in str(caught.value)  # still says which URL it was
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env["FOLLOWUP_DATABASE_URL"] = url
    for args in (("check",), ("--debug", "check")):
        result = _followup(tmp_path, env, *args)
        assert result.returncode != 0
        assert "hunter2-secret" not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr or args[0] == "--debug"

"""A real Dovecot IMAP server for tests, and a plain imaplib client to put mail in it.

Use the fixtures by listing this module as a plugin (importing the fixtures
by name would trip ruff's F811 at every use)::

    pytest_plugins = ["tests.dovecot"]

and import ``DovecotServer`` for annotations under ``TYPE_CHECKING`` only: a
module imported before pytest registers it as a plugin cannot have its
asserts rewritten, which the warnings-as-errors setting turns into an error.

``dovecot`` serves plain IMAP on a free loopback port; ``dovecot_tls`` also
serves implicit TLS and STARTTLS with a certificate from a throw-away CA
(``trustme``) whose PEM file is ``server.ca_file``; ``dovecot_without_move``
hides the MOVE capability. ``run_dovecot()`` starts one by hand. Each server gets its own
directory (configuration, passwd file, Maildir home, runtime dir), so tests
never share state and a new master never meets a stopping one. Readiness is
the master's "starting up" log line, read from its stderr: no sleeping.

Dovecot must be installed (``apt-get install dovecot-imapd``) and the tests
must run as root (Dovecot drops to the mail user itself); otherwise the tests
are skipped, or fail under CI (see ``require_server``).
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from followup.settings import ImapSettings
from tests.conftest import require_server

USER = "tester"
PASSWORD = "s3cret-pass"
MAIL_UID = 65534
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
log_path = /dev/stderr
disable_plaintext_auth = no
auth_mechanisms = plain login
{ssl}
{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {dir}/users
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
"""


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if Path(p).exists()), None
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class DovecotServer:
    """A running Dovecot, its login, and helpers that talk to it with stdlib imaplib."""

    directory: Path
    port: int
    tls_port: int = 0
    ca_file: Path | None = None
    user: str = USER
    password: str = PASSWORD
    host: str = "127.0.0.1"
    log: list[str] = field(default_factory=list)

    def settings(self, **overrides: Any) -> ImapSettings:
        """ImapSettings for this server: plain IMAP unless overridden."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": "none",
            "username": self.user,
            "password": SecretStr(self.password),
            "timeout_seconds": 10.0,
        }
        values.update(overrides)
        return ImapSettings(**values)

    @contextlib.contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            conn.login(self.user, self.password)
            yield conn
        finally:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                conn.logout()

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        """Deliver ``raw`` with IMAP APPEND (as a mail client would); return its UID."""
        with self.client() as conn:
            if folder != "INBOX":
                conn.create(folder)
            typ, data = conn.append(folder, None, None, raw)
        assert typ == "OK", data
        match = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
        assert match, data
        return int(match.group(1))

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.client() as conn:
            typ, _ = conn.select(folder, readonly=True)
            if typ != "OK":
                return []
            typ, data = conn.uid("SEARCH", "ALL")
        return [int(x) for x in (data[0] or b"").split()]

    def message_ids(self, folder: str = "INBOX") -> list[str]:
        """The Message-ID of every message in ``folder``, in UID order."""
        out: list[str] = []
        with self.client() as conn:
            typ, _ = conn.select(folder, readonly=True)
            if typ != "OK":
                return out
            typ, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            for item in data:
                if isinstance(item, tuple):
                    found = re.search(rb"<[^>]+>", item[1])
                    if found:
                        out.append(found.group(0).decode())
        return out

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as conn:
            typ, data = conn.status(folder, "(UIDVALIDITY)")
        assert typ == "OK", data
        match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
        assert match, data
        return int(match.group(1))

    def recreate_folder(self, folder: str) -> None:
        """Delete and create ``folder``: the server gives it a new UIDVALIDITY."""
        with self.client() as conn:
            conn.delete(folder)
            typ, data = conn.create(folder)
        assert typ == "OK", data


@contextlib.contextmanager
def run_dovecot(*, tls: bool = False, capability: str = "", password: str = PASSWORD) -> Iterator[DovecotServer]:
    """Start Dovecot in a fresh directory and stop it afterwards.

    ``capability`` overrides the advertised capability list (to test a server
    without MOVE, say).
    """
    binary = dovecot_binary()
    require_server(binary is not None, "dovecot is not installed (apt-get install dovecot-imapd)")
    require_server(os.geteuid() == 0, "Dovecot test servers need root (Dovecot switches to the mail user itself)")
    assert binary is not None
    # Not pytest's tmp_path: Dovecot's unprivileged processes must be able to
    # traverse the directory, and pytest creates it private to root.
    directory = Path(tempfile.mkdtemp(prefix="followup-dovecot-"))
    directory.chmod(0o755)
    try:
        server = _prepare(directory, tls=tls, capability=capability, password=password)
        with _process(binary, server):
            yield server
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _prepare(directory: Path, *, tls: bool, capability: str, password: str) -> DovecotServer:
    home = directory / "home" / USER
    home.mkdir(parents=True)
    (directory / "run").mkdir()
    (directory / "state").mkdir()
    for path in (directory / "home", home):
        os.chown(path, MAIL_UID, MAIL_UID)
    users = directory / "users"
    assert ":" not in password and "\n" not in password, "the passwd-file cannot hold this password"
    users.write_text(f"{USER}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_UID}::{home}::\n", encoding="utf-8")
    users.chmod(0o644)
    server = DovecotServer(directory=directory, port=_free_port(), password=password)
    ssl_lines = "ssl = no"
    if tls:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_and_cert_chain_pem.write_to_path(str(directory / "server.pem"))
        (directory / "server.pem").chmod(0o600)
        ca.cert_pem.write_to_path(str(directory / "ca.pem"))
        server.ca_file = directory / "ca.pem"
        server.tls_port = _free_port()
        ssl_lines = "\n".join(
            [
                "ssl = yes",
                f"ssl_cert = <{directory / 'server.pem'}",
                f"ssl_key = <{directory / 'server.pem'}",
            ]
        )
    config = _CONFIG.format(
        dir=directory,
        port=server.port,
        tls_port=server.tls_port,
        ssl=ssl_lines,
        capability=f"imap_capability = {capability}" if capability else "",
    )
    (directory / "dovecot.conf").write_text(config, encoding="utf-8")
    return server


@contextlib.contextmanager
def _process(binary: str, server: DovecotServer) -> Iterator[None]:
    proc = subprocess.Popen(
        [binary, "-F", "-c", str(server.directory / "dovecot.conf")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    ready = threading.Event()

    def read_log() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            server.log.append(line)
            if "starting up" in line:
                ready.set()
        ready.set()  # the process ended: stop waiting either way

    reader = threading.Thread(target=read_log, name="dovecot-log", daemon=True)
    reader.start()
    try:
        if not ready.wait(START_TIMEOUT) or proc.poll() is not None:
            raise RuntimeError("Dovecot did not start:\n" + "\n".join(server.log))
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)
        reader.join(STOP_TIMEOUT)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    """Dovecot with plain IMAP on a free loopback port."""
    with run_dovecot() as server:
        yield server


@pytest.fixture
def dovecot_tls() -> Iterator[DovecotServer]:
    """Dovecot with plain IMAP + STARTTLS on ``port`` and implicit TLS on ``tls_port``."""
    with run_dovecot(tls=True) as server:
        yield server


@pytest.fixture
def dovecot_without_move() -> Iterator[DovecotServer]:
    """Dovecot that does not advertise MOVE, so clients must COPY, flag and EXPUNGE."""
    with run_dovecot(capability="IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UIDPLUS") as server:
        yield server


#: A password that IMAP must quote and escape: aioimaplib's own log masking misses it.
TRICKY_PASSWORD = "pa\"ss\\wo rd{7}'%s"


@pytest.fixture
def dovecot_tricky_password() -> Iterator[DovecotServer]:
    """Dovecot whose user's password holds a double quote, a backslash, a space and braces."""
    with run_dovecot(password=TRICKY_PASSWORD) as server:
        yield server

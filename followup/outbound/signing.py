"""The secret that signs reply tokens.

Taken from settings (``signing_secret`` or ``FOLLOWUP_SIGNING_SECRET_FILE``)
when set; otherwise generated once into the signing key file (``signing.key``
in the data directory unless ``signing_key_path`` says otherwise) with mode
0600, so a fresh install is safe by default and tokens survive restarts.

Several processes may start at once on a fresh install (the daemon, a CLI
command, a second replica). The key is written to a private temporary file
and hard-linked into place, which fails if a key is already there: the
loser reads the winner's key, so every process ends up with the same one and
none ever sees a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from followup.errors import ConfigError
from followup.settings import Settings

MIN_SECRET_BYTES = 16


def signing_key(settings: Settings, *, create: bool = True) -> bytes:
    return signing_key_from(settings.signing_secret.get_secret_value(), settings.signing_key_file(), create=create)


def signing_key_from(configured: str, path: Path, *, create: bool = True) -> bytes:
    """The key from a configured secret, else from (or into) the key file at ``path``."""
    if configured:
        if len(configured.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"setting signing_secret is too short: expected at least {MIN_SECRET_BYTES} characters")
        return configured.encode()
    if path.is_file():
        return _read(path).encode()
    if not create:
        raise ConfigError(f"no signing secret: set FOLLOWUP_SIGNING_SECRET or run 'followup init' to create {path}")
    return _create(path).encode()


def missing_key(settings: Settings) -> Path | None:
    """The key file a process would create, when no secret is configured and none exists yet."""
    if settings.signing_secret.get_secret_value():
        return None
    path = settings.signing_key_file()
    return None if path.is_file() else path


def _read(path: Path) -> str:
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read signing key file {path}: {exc}") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigError(f"signing key file {path} is too short: delete it to generate a new one")
    return key


def _create(path: Path) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the directory of the signing key {path}: {exc.strerror}") from None
    key = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # never replaces an existing key
        except FileExistsError:
            return _read(path)  # another process won the race: use its key
        except OSError:
            # A file system without hard links: claim the name exclusively instead.
            return _create_exclusive(path, key)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return key


def _create_exclusive(path: Path, key: str) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key

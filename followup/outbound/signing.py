"""The secret that signs reply tokens.

Taken from settings (``signing_secret`` or ``FOLLOWUP_SIGNING_SECRET_FILE``)
when set; otherwise generated once into ``signing_key_path`` with mode 0600,
so a fresh install is safe by default and tokens survive restarts.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from followup.errors import ConfigError
from followup.settings import Settings

MIN_SECRET_BYTES = 16


def signing_key(settings: Settings, *, create: bool = True) -> bytes:
    return signing_key_from(settings.signing_secret.get_secret_value(), settings.signing_key_path, create=create)


def signing_key_from(configured: str, path: Path, *, create: bool = True) -> bytes:
    """The key from a configured secret, else from (or into) the key file at ``path``."""
    if configured:
        if len(configured.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"setting signing_secret is too short: expected at least {MIN_SECRET_BYTES} characters")
        return configured.encode()
    if path.is_file():
        key = path.read_text(encoding="ascii").strip()
        if len(key) < MIN_SECRET_BYTES:
            raise ConfigError(f"signing key file {path} is too short: delete it to generate a new one")
        return key.encode()
    if not create:
        raise ConfigError(f"no signing secret: set FOLLOWUP_SIGNING_SECRET or run 'followup init' to create {path}")
    return _create(path).encode()


def _create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key

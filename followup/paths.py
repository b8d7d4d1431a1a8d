"""Where the bundled templates, policies and demo data live.

In a checkout (and an editable install) they sit beside the package; an
installed wheel (the Docker image) copies them elsewhere and says where with
``FOLLOWUP_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path

import followup


def home() -> Path:
    configured = os.environ.get("FOLLOWUP_HOME")
    if configured:
        return Path(configured)
    return Path(followup.__file__).resolve().parent.parent


def templates_dir() -> Path:
    return home() / "templates"


def config_dir() -> Path:
    return home() / "config"

"""Where the bundled templates, policies and demo data live.

They are kept at the top of the repository (``templates/``, ``config/``),
where people look for them, and the wheel carries copies as package data in
``followup/_data/`` (see the ``force-include`` table in pyproject.toml), so
``pip install`` alone gives a working ``followup init && followup demo``.
Three places are tried, the first that applies wins:

1. ``FOLLOWUP_HOME``: a folder holding ``templates/`` and ``config/``, for an
   operator who keeps edited copies elsewhere (the Docker image points it at
   ``/app``). It is used as given, never mixed with the other two, so what the
   daemon reads is never a blend of two versions.
2. The checkout the package was imported from (``pip install -e .``, or the
   source tree on ``sys.path``): the top-level folders themselves, so an edit
   shows without a reinstall.
3. The installed package's data, found with :mod:`importlib.resources`.

Per-file overrides (``mail.templates_dir``, ``schedule.policies_file``) are
settings and apply on top of whichever folder this module names.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import followup

#: Environment variable naming a folder with ``templates/`` and ``config/``.
HOME_ENV = "FOLLOWUP_HOME"


def home() -> Path:
    """The folder holding ``templates/`` and ``config/``; see the module docstring for the order."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured)
    return checkout() or installed_data() or _beside_package()


def checkout() -> Path | None:
    """The source tree the package runs from, if it is one.

    ``pyproject.toml`` marks a checkout: site-packages has none, and a stray
    top-level ``templates/`` some other distribution dropped there must not be
    taken for ours.
    """
    root = _beside_package()
    markers = (root / "pyproject.toml").is_file() and (root / "templates").is_dir() and (root / "config").is_dir()
    return root if markers else None


def installed_data() -> Path | None:
    """The copies the wheel installed under ``followup/_data``, if present.

    pip always unpacks wheels, so the resource is a real directory; anything
    else (a zip import) is treated as absent rather than half-supported.
    """
    data = resources.files(followup).joinpath("_data")
    if isinstance(data, Path) and data.is_dir():
        return data
    return None


def _beside_package() -> Path:
    """Where a checkout keeps the folders; also the last resort, so a broken
    install fails later with a missing-file error that names this path rather
    than at import time."""
    return Path(followup.__file__).resolve().parent.parent


def templates_dir() -> Path:
    return home() / "templates"


def config_dir() -> Path:
    return home() / "config"

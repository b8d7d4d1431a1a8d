"""Where templates and config are read from: FOLLOWUP_HOME, else the checkout, else the installed package.

The installed-package branch needs a real install; tests/integration/test_wheel_install.py covers it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from followup import paths
from tests.conftest import REPO


def test_followup_home_wins_and_is_used_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWUP_HOME", str(tmp_path))
    assert paths.home() == tmp_path
    assert paths.templates_dir() == tmp_path / "templates"
    assert paths.config_dir() == tmp_path / "config"


def test_a_checkout_uses_its_top_level_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOLLOWUP_HOME", raising=False)
    assert paths.checkout() == REPO
    assert paths.home() == REPO
    assert (paths.templates_dir() / "en" / "reminder.txt").is_file()
    assert (paths.config_dir() / "policies.toml").is_file()


def test_without_a_checkout_the_package_data_is_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOLLOWUP_HOME", raising=False)
    monkeypatch.setattr(paths, "checkout", lambda: None)
    monkeypatch.setattr(paths, "installed_data", lambda: tmp_path)
    assert paths.home() == tmp_path


def test_an_empty_followup_home_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWUP_HOME", "")
    assert paths.home() == REPO


def test_the_checkout_has_no_package_data() -> None:
    """Running from the checkout, ``followup/_data`` does not exist: the wheel makes it."""
    assert paths.installed_data() is None

"""The generated signing key: one per installation, whoever creates it and from wherever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import settings_for

#: Each process waits for the start file (a barrier, so they really race), then creates or reads the key.
RACER = """
import os, sys
from pathlib import Path
from followup.settings import load_settings
from followup.outbound.signing import signing_key
go = Path(sys.argv[1])
while not go.exists():
    pass
settings = load_settings(Path(sys.argv[2]), environ={"FOLLOWUP_DATABASE_URL": sys.argv[3]})
print(signing_key(settings).decode())
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}


@pytest.mark.parametrize("round_", range(3))
def test_eight_processes_starting_at_once_agree_on_one_key(tmp_path: Path, round_: int) -> None:
    config = tmp_path / "followup.toml"
    config.write_text("")
    url = f"sqlite:///{tmp_path / 'data' / 'followup.db'}"
    go = tmp_path / "go"
    procs = []
    for n in range(8):
        cwd = tmp_path / f"cwd{n}"  # a different working directory each
        cwd.mkdir()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", RACER, str(go), str(config), url],
                cwd=cwd,
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    go.touch()
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outputs]
    keys = {out.strip() for out, _ in outputs}
    assert len(keys) == 1
    key_file = tmp_path / "data" / "signing.key"
    assert key_file.read_text().strip() in keys
    assert key_file.stat().st_mode & 0o077 == 0
    assert [p.name for p in key_file.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_the_default_key_lives_in_the_data_directory_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    settings = settings_for(tmp_path, FOLLOWUP_SIGNING_SECRET="")
    monkeypatch.chdir(a)
    from_a = settings.signing_key_file()
    monkeypatch.chdir(b)
    assert settings.signing_key_file() == from_a == tmp_path / "signing.key"
    # With PostgreSQL there is no database file to sit next to: a fixed per-user directory, or data_dir.
    pg = settings_for(tmp_path, FOLLOWUP_DATABASE_URL="postgresql://u@db.example/x", FOLLOWUP_SIGNING_SECRET="")
    assert pg.signing_key_file() == Path.home() / ".local" / "share" / "followup" / "signing.key"
    chosen = settings_for(tmp_path, FOLLOWUP_DATA_DIR=str(tmp_path / "state"), FOLLOWUP_SIGNING_SECRET="")
    assert chosen.signing_key_file() == tmp_path / "state" / "signing.key"


def test_two_working_directories_share_the_key_and_check_warns_when_missing(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    env = _env() | {"FOLLOWUP_DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'followup.db'}"}

    def followup(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "followup", *args]
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)

    assert followup(a, "init").returncode == 0
    key = tmp_path / "db" / "signing.key"
    assert key.is_file()
    assert not (a / "var").exists() and not (b / "var").exists()
    checked = followup(b, "check")
    assert checked.returncode == 0 and "warning" not in checked.stderr, checked.stderr
    key.unlink()
    warned = followup(b, "check")
    assert warned.returncode == 0, warned.stderr
    assert f"warning: no signing key at {key}" in warned.stderr

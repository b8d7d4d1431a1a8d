"""The wheel is complete: installed away from the checkout, the demo runs.

templates/ and config/ live at the top of the repository and reach the wheel
only through pyproject.toml's force-include table; an editable install never
notices when that mapping breaks, so this test builds the real wheel, installs
it into a fresh virtual environment in a temporary folder and runs the
newcomer's first commands there, with the working directory outside the
checkout and FOLLOWUP_HOME unset.

To stay fast and offline the wheel is installed without its dependencies,
which are borrowed from the environment running the tests through a ``.pth``
line naming its site-packages. That cannot bring the checkout back: the
editable install's own ``.pth`` sits in the borrowed folder, and Python only
processes ``.pth`` files of the new environment's site-packages. The test
asserts that ``followup`` and its data come from the new environment, and that
the borrowed versions satisfy the wheel's declared requirements.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BUILD_WHEEL = """
import importlib, sys, tomllib
backend = tomllib.load(open("pyproject.toml", "rb"))["build-system"]["build-backend"]
print(importlib.import_module(backend).build_wheel(sys.argv[1]))
"""

WHERE = """
import importlib.metadata as md, sys
from packaging.requirements import Requirement
import followup, followup.paths as paths
print(followup.__file__)
print(paths.home())
for text in md.requires("followup") or []:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    have = md.version(req.name)
    if not req.specifier.contains(have, prereleases=True):
        sys.exit(f"{req.name} {have} does not satisfy {req}")
"""


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, f"{cmd}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def test_installed_wheel_runs_init_demo_check_and_tick(tmp_path: Path) -> None:
    started = time.monotonic()
    work = tmp_path / "outside"
    work.mkdir()
    assert REPO not in work.resolve().parents
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE"):
        env.pop(name, None)

    dist = tmp_path / "dist"
    dist.mkdir()
    # The PEP 517 hook every build frontend calls, run in-process by the
    # backend pyproject.toml names: what pip would do, without pip's start-up.
    _run([sys.executable, "-c", BUILD_WHEEL, str(dist)], REPO, env)
    (wheel,) = dist.glob("followup-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "followup/_data/config/policies.toml" in names
    assert "followup/_data/templates/en/reminder.txt" in names
    assert "followup/_data/config/demo/commitments.yaml" in names
    assert "followup/_data/config/followup.toml" not in names  # an operator's local settings stay local

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], work, env)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index"]
    _run([*pip, str(wheel)], work, env)
    purelib = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], work, env).stdout.strip()
    )
    (purelib / "_borrowed_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")

    package_file, home = _run([str(python), "-c", WHERE], work, env).stdout.split()
    assert Path(package_file).parent == purelib / "followup"
    assert Path(home) == purelib / "followup" / "_data"

    env |= {
        "FOLLOWUP_DATABASE_URL": f"sqlite:///{tmp_path / 'followup.db'}",
        "FOLLOWUP_MAIL__MAILDIR": str(tmp_path / "maildir"),
        "FOLLOWUP_SIGNING_KEY_PATH": str(tmp_path / "signing.key"),
    }
    followup = str(venv / "bin" / "followup")
    assert "database ready at revision" in _run([followup, "init"], work, env).stdout
    demo = _run([followup, "demo", "--now", "2026-08-03T14:00:00Z"], work, env).stdout
    assert "demo loaded around 2026-08-03" in demo
    assert re.search(r"^commitments: [1-9]\d* new", demo, re.MULTILINE), demo
    check = _run([followup, "check"], work, env).stdout
    assert check.startswith("ok:") and "templates complete" in check
    tick = _run([followup, "tick", "--dry-run", "--now", "2026-08-03T14:00:00Z"], work, env).stdout
    assert "would send:" in tick
    assert not any(p.is_file() for p in (tmp_path / "maildir").rglob("*"))  # a dry run sends nothing
    assert not (work / "var").exists()  # nothing fell back to the working directory's defaults
    print(f"\nwheel built, installed and run in {time.monotonic() - started:.1f}s")

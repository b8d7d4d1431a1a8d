"""``followup --help`` stays light: the command list comes from a table, commands are imported when run.

``followup status`` stays light too: it reads through SQLAlchemy Core alone and
draws its tables itself, so asking about one owner costs little more than
starting Python (issue 13: 0.5 s on a million assignments, measured by
``bench/report.py``; these tests check the imports that made it slow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click

from followup.cli.main import COMMANDS, cli
from tests.e2e.test_cli import FIXTURES, run

HEAVY = ("sqlalchemy", "sqlmodel", "jinja2", "aiosmtplib", "apscheduler", "babel", "rich", "icalendar", "pydantic")
PROBE = """
import gc, json, sys
sys.argv = ["followup", *json.loads(sys.argv[1])]
from followup.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "gc": gc.isenabled(), "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def probe(tmp_path: Path, *args: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    out = probe(tmp_path, "--help")
    assert out["code"] == 0
    loaded = set(out["modules"])  # type: ignore[call-overload]
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


#: What ``followup status`` must not load: the models (SQLModel), migrations, templates, mail, web, rich.
NOT_FOR_STATUS = (
    "sqlmodel", "alembic", "mako", "jinja2", "aiosmtplib", "aioimaplib", "apscheduler", "babel", "icalendar",
    "starlette", "uvicorn", "argon2", "docx", "holidays", "yaml", "rich",
)  # fmt: skip


def test_status_for_one_owner_loads_no_model_template_mail_or_rich(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    loaded = run(tmp_path, "load", str(FIXTURES / "small.yaml"), "--now", "2026-11-28")
    assert loaded.returncode == 0, loaded.stderr
    for layout in (("--format", "json"), ("--by", "commitment"), ("--by", "owner"), ("--by", "summary")):
        out = probe(tmp_path, "status", "--country", "hn", *layout, "--now", "2026-11-28")
        assert out["code"] == 0, layout
        modules = set(out["modules"])  # type: ignore[call-overload]
        assert "sqlalchemy" in modules, "the probe did not reach the database"
        assert not modules & set(NOT_FOR_STATUS), (layout, sorted(modules & set(NOT_FOR_STATUS)))
        assert out["gc"] is True, "the garbage collector is back on once the command started"


def test_a_command_still_loads_what_it_needs(tmp_path: Path) -> None:
    out = probe(tmp_path, "meetings", "--format", "json")
    assert out["code"] == 1  # no database yet: one-line error, after importing the command
    assert "sqlalchemy" in out["modules"]  # type: ignore[operator]


def test_plain_followup_shows_the_help_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    result = subprocess.run(
        [sys.executable, "-m", "followup"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: followup") and "Commands:" in result.stdout
    assert result.stderr == ""
    inbox = subprocess.run(
        [sys.executable, "-m", "followup", "inbox"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert inbox.returncode == 0 and "poll" in inbox.stdout, inbox.stderr


def test_command_table_matches_the_commands() -> None:
    """The table's one-liners are the commands' own first lines, so --help tells no stale story."""
    ctx = click.Context(cli, info_name="followup")
    for name, (_, _, line) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
        assert command.get_short_help_str(1000) == line, name

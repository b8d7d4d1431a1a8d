"""``followup --help`` stays light: the command list comes from a table, commands are imported when run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click

from followup.cli.main import COMMANDS, cli

HEAVY = ("sqlalchemy", "sqlmodel", "jinja2", "aiosmtplib", "apscheduler", "babel", "rich", "icalendar", "pydantic")
PROBE = """
import json, sys
sys.argv = ["followup", *json.loads(sys.argv[1])]
from followup.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
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

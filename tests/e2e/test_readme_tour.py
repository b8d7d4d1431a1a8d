"""README.md's "A five-minute tour" runs as written.

Every ``followup`` line of the tour is run in order, as written, in a fresh
folder: ``make run`` stands for what it does before starting the daemon
(``followup init`` and ``followup demo --if-empty``), and the tour itself
reloads the demo around a fixed day and passes ``--now`` where it depends on
the date. A step that fails fails the test with its own error line.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from tests.cli_reference import README
from tests.e2e.test_cli import run

ROOT = README.parent
HEADING = "## A five-minute tour\n"
#: What ``make run`` does before ``followup run`` (see the Makefile).
MAKE_RUN = [["followup", "init"], ["followup", "demo", "--if-empty"]]


def tour_commands(text: str) -> list[list[str]]:
    """The tour's commands, comments dropped, ``make run`` replaced by its setup steps."""
    section = text[text.index(HEADING) :]
    block = section[section.index("```sh\n") + len("```sh\n") :]
    block = block[: block.index("```")]
    commands: list[list[str]] = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0] == ".":
            continue  # blank lines and `. .venv/bin/activate`
        if words[:2] == ["make", "run"]:
            commands += MAKE_RUN
            continue
        assert words[0] == "followup", f"the tour may only run followup commands: {line!r}"
        commands.append(words)
    return commands


def test_the_tour_names_its_files_and_fixes_its_dates() -> None:
    commands = tour_commands(README.read_text(encoding="utf-8"))
    assert ["followup", "demo", "--today", "2026-11-30"] in commands
    for words in commands:
        if words[1] in {"tick", "extend", "status", "digest", "preview", "ingest"}:
            assert "--now" in words, f"{shlex.join(words)} depends on today's date"
        for word in words:
            if word.endswith((".eml", ".mbox")):
                assert (ROOT / word).is_file(), f"{shlex.join(words)}: {word} is not in the repository"


@pytest.mark.slow
@pytest.mark.timeout(900)  # some fifteen processes, each a few seconds on a loaded machine
def test_every_command_of_the_tour_succeeds(tmp_path: Path) -> None:
    commands = tour_commands(README.read_text(encoding="utf-8"))
    for words in commands:
        for word in words:
            if word.startswith("config/") and (ROOT / word).is_file():
                (tmp_path / word).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / word, tmp_path / word)
    outputs = {}
    for words in commands:
        result = run(tmp_path, *words[1:])
        assert result.returncode == 0, f"`{shlex.join(words)}` failed:\n{result.stderr}"
        outputs[shlex.join(words)] = result.stdout
    ingested = next(out for cmd, out in outputs.items() if cmd.startswith("followup ingest"))
    assert "confirmation" in ingested and "#28" in ingested, ingested
    assert (tmp_path / "reminder.html").is_file()
    sent = next(out for cmd, out in outputs.items() if cmd.startswith("followup tick --now"))
    would = next(out for cmd, out in outputs.items() if cmd.startswith("followup tick --dry-run"))
    assert sent.count("\nsent: ") + sent.startswith("sent: ") == would.count("would send: ")

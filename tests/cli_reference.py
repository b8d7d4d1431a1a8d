"""The README's command reference, generated from the CLI's own --help.

`python -m tests.cli_reference` rewrites the section; tests/e2e/test_readme.py
fails when README.md and --help disagree.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

README = Path(__file__).resolve().parent.parent / "README.md"
START = "## Command reference\n"
END = "## Development\n"
INTRO = "The same text as `--help` (generated from it; a test checks that they agree).\n\n"


def _help(cmd: click.Command, path: str) -> str:
    ctx = click.Context(cmd, info_name=path, max_content_width=100, terminal_width=100)
    return cmd.get_help(ctx)


def reference_text() -> str:
    os.environ.setdefault("COLUMNS", "100")
    from followup.cli.main import cli

    root = click.Context(cli, info_name="followup")
    parts = ["```text", _help(cli, "followup"), "```", ""]
    for name in cli.list_commands(root):
        cmd = cli.get_command(root, name)
        assert cmd is not None
        subs = [(f"followup {name}", cmd)]
        if isinstance(cmd, click.Group):
            subs += [(f"followup {name} {s}", cmd.get_command(root, s)) for s in cmd.list_commands(root)]  # type: ignore[misc]
        for path, sub in subs:
            parts += [f"### `{path}`", "", "```text", _help(sub, path), "```", ""]
    return INTRO + "\n".join(parts) + "\n"


def current_section(text: str) -> str:
    return text[text.index(START) + len(START) + 1 : text.index(END)]


def main() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index(START) + len(START) + 1
    README.write_text(text[:start] + reference_text() + text[text.index(END) :], encoding="utf-8")


if __name__ == "__main__":
    main()

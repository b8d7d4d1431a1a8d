"""``followup import-plan``: the plan of action to a reviewable data file.

The secretariat does not retype its plan: this command reads the exported
table (text, Word or CSV), writes the commitments it finds in the format
``followup load`` reads, and prints what it proposed, how sure it is and
what a person should check. Re-running it on a later edition reports what is
new, changed and gone since the previous file; ``--apply`` loads the result
straight away.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from followup.cli.context import app, now_option
from followup.cli.output import working
from followup.clock import local_date
from followup.errors import UsageError
from followup.planimport.changes import Changes, compare, read_previous
from followup.planimport.emit import render, write_atomically
from followup.planimport.extract import DEFAULT_LEAD_DAYS, ImportResult
from followup.planimport.extract import import_plan as read_and_extract
from followup.planimport.review import ReviewRow, needs_review, review_rows

TEXT_WIDTH = 70


def _console() -> Console:
    """Colours and the real width on a terminal; a wide, plain table in a pipe or a log."""
    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def _short(text: str, limit: int = TEXT_WIDTH) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _proposals_table(rows: list[ReviewRow]) -> Table:
    table = Table(title=f"Proposed commitments ({len(rows)})", show_lines=True)
    table.add_column("id", no_wrap=True)
    for name in ("commitment", "owner", "due", "conf.", "needs review"):
        table.add_column(name, overflow="fold")
    for row in rows:
        style = "yellow" if row.review else ""
        table.add_row(
            row.id,
            _short(row.title, 60),
            row.owner,
            row.due,
            f"{row.confidence:.2f}",
            "\n".join(f"- {note}" for note in row.review) or "-",
            style=style,
        )
    return table


def _unscheduled_table(result: ImportResult) -> Table:
    table = Table(title=f"Proposed without a date: choose one to track them ({len(result.unscheduled)})")
    table.add_column("id", no_wrap=True)
    for name in ("where", "owner", "text", "why"):
        table.add_column(name, overflow="fold")
    for item in result.unscheduled:
        where = f"{item.location}; {item.subject} {item.objective}".strip()
        table.add_row(item.id, where, item.owner_label, _short(item.text), item.reason, style="yellow")
    return table


def _changes_lines(what: str, changes: Changes) -> list[str]:
    lines = [
        f"{what}: {len(changes.new)} new, {len(changes.changed)} changed, {len(changes.gone)} gone, "
        f"{changes.unchanged} unchanged"
    ]
    lines += [f"  new: {key}" for key in changes.new]
    lines += [f"  changed: {key} ({', '.join(fields)})" for key, fields in changes.changed]
    lines += [f"  gone: {key}" for key in changes.gone]
    return lines


@click.command("import-plan")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Data file to write: YAML in the format `followup load` reads.",
)
@click.option(
    "--previous",
    "previous_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Earlier output to compare with (default: the existing --out file, before it is replaced).",
)
@click.option("--apply", "apply_", is_flag=True, help="Also load the written file into the database.")
@click.option(
    "--lead-days",
    type=click.IntRange(0, 365),
    default=DEFAULT_LEAD_DAYS,
    show_default=True,
    envvar="FOLLOWUP_IMPORT_LEAD_DAYS",
    show_envvar=True,
    help="Days before each meeting for 'in preparation for each meeting' when the plan gives no number.",
)
@now_option
def import_plan(
    file: Path, out_path: Path, previous_path: Path | None, apply_: bool, lead_days: int, now_text: str | None
) -> None:
    """Propose commitments from a plan-of-action table FILE (.txt export, .docx or .csv).

    Writes them to --out for review, with each doubt as a '# review:' comment,
    and prints each proposal with its owner, due rule, confidence and what
    needs checking (no date, unclear owner, a deadline already past).
    """
    a = app()
    if out_path.exists() and file.exists() and out_path.resolve() == file.resolve():
        raise UsageError("--out names the plan itself: choose another file for the commitments")
    now = a.now(now_text)
    today = local_date(now, a.settings.secretariat.timezone)
    with working(a, f"reading {file.name}"):
        result = read_and_extract(file, today=today, lead_days=lead_days)
    previous_source = previous_path or (out_path if out_path.exists() else None)
    comparison = compare(read_previous(previous_source), result) if previous_source is not None else None
    rows = review_rows(result, today)
    write_atomically(out_path, render(result, comments={row.id: list(row.review) for row in rows}))

    console = _console()
    console.print(_proposals_table(rows))
    if result.unscheduled:
        console.print(_unscheduled_table(result))
    click.echo(
        f"{len(rows)} commitments ({needs_review(rows)} to review), {len(result.meetings)} meetings, "
        f"{len(result.unscheduled)} proposed without a date (under 'undated:', choose one); written to {out_path}"
    )
    if comparison is not None:
        click.echo(f"compared with {previous_source}:")
        for line in _changes_lines("commitments", comparison.commitments) + _changes_lines(
            "meetings", comparison.meetings
        ):
            click.echo(line)
    if apply_:
        from followup.schedule.loading import load_paths

        with working(a, f"loading {out_path.name}"):
            report = load_paths(a.engine(), [out_path], now=now, prune=False)
        click.echo(f"loaded {out_path}:")
        for line in report.summary_lines():
            click.echo(line)

"""Rendering lists and the matrix for people (rich tables) and machines (CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from followup.cli.context import AppContext
from followup.store.status import SOON_DAYS, Cell, Matrix, Row

FORMATS = ("table", "csv", "json")
format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format."
)
CELL_STYLES = {
    "overdue": "bold red",
    "due_today": "bold yellow",
    "due_soon": "yellow",
    "pending": "",
    "extended": "cyan",
    "submitted": "blue",
    "confirmed": "green",
    "waived": "dim",
}


def console() -> Console:
    """A console that colours only when stdout is a terminal."""
    return Console(highlight=False, soft_wrap=False)


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


@contextmanager
def progress(app_context: AppContext, description: str) -> Iterator[Callable[[int], None]]:
    """A running count on standard error while a long job works, on a terminal and without --quiet.

    Yields ``advance(n)``; in a pipe, a log or with --quiet it does nothing,
    so that output meant for files and scripts carries no progress noise.
    """
    if app_context.quiet or not _stderr_is_terminal():
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda n: bar.advance(task, n)


@contextmanager
def working(app_context: AppContext, description: str) -> Iterator[None]:
    """A spinner on standard error for a job that cannot count its steps (loads, imports)."""
    if app_context.quiet or not _stderr_is_terminal():
        yield
        return
    with Console(stderr=True).status(description):
        yield


def emit_rows(fmt: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    if fmt == "json":
        click.echo(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], ensure_ascii=False, indent=2))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
    else:
        table = Table(title=title or None, show_lines=False)
        for col in columns:
            table.add_column(col)
        for r in rows:
            table.add_row(*("" if v is None else str(v) for v in r))
        console().print(table)


def matrix_json(matrix: Matrix) -> dict[str, Any]:
    return {
        "today": matrix.today.isoformat(),
        "owners": [{"code": code, "name": name} for code, name in matrix.owners],
        "counts": matrix.counts(),
        "rows": [
            {
                "commitment_id": row.commitment_id,
                "title": row.title,
                "due_rule": row.due_rule,
                "cells": {code: cell.as_dict() for code, cell in row.cells.items()},
            }
            for row in matrix.rows
        ],
    }


def emit_matrix(matrix: Matrix, fmt: str, by: str = "auto") -> None:
    if fmt == "json":
        click.echo(json.dumps(matrix_json(matrix), ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["commitment", "title", "due_rule", *[code for code, _ in matrix.owners]])
        for row in matrix.rows:
            writer.writerow(
                [
                    row.commitment_id,
                    row.title,
                    row.due_rule,
                    *[row.cells[c].label if c in row.cells else "" for c, _ in matrix.owners],
                ]
            )
        click.echo(buf.getvalue(), nl=False)
        return
    emit_status_table(matrix, by)


#: ``status --by``: the matrix (one row per commitment), each owner's items (transposed), or a summary per owner.
LAYOUTS = ("auto", "commitment", "owner", "summary")
#: Columns a matrix cell needs to be read without folding ("extended, overdue 12 days" folds once), with borders.
CELL_WIDTH = 17
#: The first column of the matrix (commitment title, or owner code and name), with borders.
LEAD_WIDTH = 34


def fits(columns: int, width: int) -> bool:
    """Whether a matrix with ``columns`` cells a row is readable in ``width`` terminal columns."""
    return LEAD_WIDTH + columns * CELL_WIDTH <= width


def choose_layout(matrix: Matrix, by: str, width: int) -> str:
    """``auto``: the matrix when it fits the width, else the summary (one row per owner)."""
    if by != "auto":
        return by
    return "commitment" if fits(len(matrix.owners), width) else "summary"


def emit_status_table(matrix: Matrix, by: str) -> None:
    out = console()
    layout = choose_layout(matrix, by, out.width)
    if layout == "commitment":
        out.print(_commitment_table(matrix))
    elif layout == "owner":
        out.print(_owner_table(matrix))
    else:
        out.print(_summary_table(matrix, out.width))
    counts = matrix.counts()
    out.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no assignments")
    if layout == "summary" and matrix.owners:
        out.print(f"[dim]soon: due within {SOON_DAYS} days; closed: confirmed or waived.[/]")
        out.print("[dim]Every item: --by owner; the whole matrix: --by commitment (wide) or --format csv.[/]")


def _open_due(cells: Iterable[Cell]) -> date:
    """The earliest due date of the open cells, for sorting (rows with nothing open go last)."""
    return min((c.due_date for c in cells if c.days is not None and c.due_date is not None), default=date.max)


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return ""
    text = f"{cell.label}\n#{cell.assignment_id}" + (f" ✉{cell.replies}" if cell.replies else "")
    style = CELL_STYLES.get(cell.code, "")
    return f"[{style}]{escape(text)}[/]" if style else escape(text)


def _by_owner(matrix: Matrix) -> dict[str, list[tuple[Row, Cell]]]:
    cells: dict[str, list[tuple[Row, Cell]]] = {code: [] for code, _ in matrix.owners}
    for row in matrix.rows:
        for code, cell in row.cells.items():
            cells.setdefault(code, []).append((row, cell))
    return cells


def _commitment_table(matrix: Matrix) -> Table:
    """Commitments x owners, the commitment due soonest first."""
    table = Table(title=f"Status on {matrix.today.isoformat()}", show_lines=True)
    table.add_column("commitment", overflow="fold", max_width=40)
    for code, _name in matrix.owners:
        table.add_column(code, overflow="fold", max_width=14)
    for row in sorted(matrix.rows, key=lambda r: _open_due(r.cells.values())):
        cells = [_cell_text(row.cells.get(code)) for code, _ in matrix.owners]
        table.add_row(f"{escape(row.title)}\n[dim]{escape(row.commitment_id)} · {escape(row.due_rule)}[/]", *cells)
    return table


def _owner_table(matrix: Matrix) -> Table:
    """The matrix turned on its side: each owner's items, one a line, the owner with the earliest open item first.

    One line per (owner, commitment) reads at any width, however many
    commitments and owners there are.
    """
    by_owner = _by_owner(matrix)
    names = dict(matrix.owners)
    table = Table(title=f"Status on {matrix.today.isoformat()}, by owner", box=box.SIMPLE_HEAD)
    table.add_column("owner", no_wrap=True, min_width=6)
    table.add_column("commitment", overflow="fold", ratio=1)
    table.add_column("due", no_wrap=True, min_width=10)
    table.add_column("status", overflow="fold", min_width=14)
    table.add_column("#", justify="right", no_wrap=True)
    for code in sorted(names, key=lambda c: _open_due(cell for _, cell in by_owner[c])):
        items = sorted(by_owner[code], key=lambda rc: (_open_due([rc[1]]), rc[1].due_date or date.max))
        for i, (row, cell) in enumerate(items):
            style = CELL_STYLES.get(cell.code, "")
            status = f"[{style}]{escape(cell.label)}[/]" if style else escape(cell.label)
            replies = f" ✉{cell.replies}" if cell.replies else ""
            table.add_row(
                code if i == 0 else "",
                escape(row.title),
                cell.due_date.isoformat() if cell.due_date else "",
                status + replies,
                str(cell.assignment_id or ""),
                end_section=i == len(items) - 1,
            )
    return table


def _summary_table(matrix: Matrix, width: int) -> Table:
    """One row per owner: how many items stand where, and the next one due."""
    table = Table(title=f"Status on {matrix.today.isoformat()}: one row per owner", box=box.SIMPLE_HEAD)
    names = ("overdue", "soon", "later", "submitted", "closed")
    table.add_column("owner", no_wrap=True, min_width=6)
    for name in names:
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    table.add_column("next due", no_wrap=True, overflow="ellipsis")
    # Each column and its padding (2), the owner (6), the date and id (16): what is left is for the title.
    room = max(10, width - sum(len(n) + 2 for n in names) - 8 - 16 - 5)
    by_owner = _by_owner(matrix)
    for code in sorted(by_owner, key=lambda c: _open_due(cell for _, cell in by_owner[c])):
        tally = dict.fromkeys(("overdue", "soon", "later", "submitted", "closed"), 0)
        for _, cell in by_owner[code]:
            tally[_bucket(cell)] += 1
        open_items = [(r, c) for r, c in by_owner[code] if c.days is not None and c.due_date is not None]
        next_due = ""
        if open_items:
            row, cell = min(open_items, key=lambda rc: (rc[1].due_date or date.max, rc[1].assignment_id or 0))
            assert cell.due_date is not None
            style = CELL_STYLES.get(cell.code, "")
            when = f"[{style}]{cell.due_date.isoformat()}[/]" if style else cell.due_date.isoformat()
            title = row.title if len(row.title) <= room else row.title[: room - 1].rstrip() + "…"
            next_due = f"{when} #{cell.assignment_id} {escape(title)}"
        counts = [
            f"[bold red]{tally['overdue']}[/]" if tally["overdue"] else "0",
            str(tally["soon"]),
            str(tally["later"]),
            str(tally["submitted"]),
            str(tally["closed"]),
        ]
        table.add_row(code, *counts, next_due)
    return table


def _bucket(cell: Cell) -> str:
    if cell.days is None:
        return "submitted" if cell.state == "submitted" else "closed"
    if cell.days < 0:
        return "overdue"
    return "soon" if cell.days <= SOON_DAYS else "later"

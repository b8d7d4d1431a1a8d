"""Rendering lists and the matrix for people (rich tables) and machines (CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import click

from followup.cli import texttable
from followup.cli.context import AppContext
from followup.store.matrix import MatrixStream
from followup.store.status import SOON_DAYS, Cell, Matrix, Row

if TYPE_CHECKING:
    from rich.console import Console

# rich is imported where a table is drawn: JSON and CSV output, the common case in scripts and for one
# owner, do without its import time.

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
    from rich.console import Console

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
    from rich.console import Console
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
    from rich.console import Console

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
        from rich.table import Table

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


def emit_matrix_stream(stream: MatrixStream, fmt: str, by: str = "auto") -> None:
    """Write the matrix as its rows arrive: JSON and CSV in constant memory, the summary table too.

    The matrix and transposed tables are laid out by rich, which needs
    every cell first; they are only readable for a few owners anyway.
    """
    out = sys.stdout
    if fmt == "json":
        write_matrix_json(stream, out)
    elif fmt == "csv":
        write_matrix_csv(stream, out)
    else:
        emit_status_table(stream, by)
    out.flush()


def write_matrix_csv(stream: MatrixStream, out: TextIO) -> None:
    """One line per commitment, one column per owner: the cell's label."""
    writer = csv.writer(out, lineterminator="\n")
    codes = [code for code, _ in stream.owners]
    writer.writerow(["commitment", "title", "due_rule", *codes])
    for row in stream.rows:
        cells = row.cells
        writer.writerow(
            [row.commitment_id, row.title, row.due_rule, *[cells[c].label if c in cells else "" for c in codes]]
        )


def write_matrix_json(stream: MatrixStream, out: TextIO) -> None:
    """``json.dumps(matrix_json(m), ensure_ascii=False, indent=2)`` and a newline, byte for byte, streamed.

    The counts come before the rows in that document but are known only
    after the last row, so the rows go to a temporary file as they come
    and follow the head. Each cell is assembled from pieces computed once
    per (state, due date) and per owner: ``json``'s own encoder, indented,
    runs in Python and would take most of the time on a million cells.
    """
    counts: dict[str, int] = {}
    #: Each owner's cell opening, up to its assignment id.
    keys = {code: f'        {_js(code)}: {{\n          "assignment_id": ' for code, _ in stream.owners}
    #: state -> due date -> the cell's lines after its id (see :func:`_cell_tail`).
    tails: dict[str, dict[date | None, str]] = {}
    with tempfile.TemporaryFile("w+b") as spool:
        write = spool.write
        separator = "    {\n"
        for row in stream.rows:
            parts = [
                separator,
                f'      "commitment_id": {_js(row.commitment_id)},\n      "title": {_js(row.title)},\n'
                f'      "due_rule": {_js(row.due_rule)},\n      "cells": {{\n',
            ]
            cells = []
            for owner, cell in row.cells.items():
                code = cell[0]
                counts[code] = counts.get(code, 0) + 1
                by_due = tails.get(cell[3])
                if by_due is None:
                    by_due = tails[cell[3]] = {}
                tail = by_due.get(cell[4])
                if tail is None:
                    tail = by_due[cell[4]] = _cell_tail(cell)
                aid = cell[2]
                cells.append(f"{keys[owner]}{'null' if aid is None else aid},\n{tail}{cell[6]}\n        }}")
            parts.append(",\n".join(cells))
            parts.append("\n      }\n    }")
            write("".join(parts).encode("utf-8"))
            separator = ",\n    {\n"
        head = json.dumps(
            {
                "today": stream.today.isoformat(),
                "owners": [{"code": code, "name": name} for code, name in stream.owners],
                "counts": counts,
                "rows": [],
            },
            ensure_ascii=False,
            indent=2,
        )
        if separator == "    {\n":  # no rows
            out.write(head + "\n")
            return
        out.write(head.removesuffix("[]\n}") + "[\n")
        spool.seek(0)
        _copy(spool, out)
        out.write("\n  ]\n}\n")


def _copy(source: BinaryIO, out: TextIO) -> None:
    """The spooled rows to ``out``: by the kernel when ``out`` is a file or pipe, else through Python."""
    out.flush()
    target = getattr(out, "buffer", None)
    try:
        fd = out.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fd = -1
    if fd >= 0:
        offset, size = 0, os.fstat(source.fileno()).st_size
        try:
            while offset < size:
                sent = os.sendfile(fd, source.fileno(), offset, size - offset)
                if not sent:
                    break
                offset += sent
            return
        except OSError:
            source.seek(offset)
    if target is not None:
        shutil.copyfileobj(source, target, 1 << 20)
        target.flush()
    else:
        while chunk := source.read(1 << 20):
            out.write(chunk.decode("utf-8"))


def _js(value: str) -> str:
    """``json.dumps(value, ensure_ascii=False)`` for a string, without building an encoder each time."""
    return encode_basestring(value)


def _jn(value: int | None) -> str:
    return "null" if value is None else str(value)


def _cell_tail(cell: Cell) -> str:
    """A cell's lines after its id and before its reply count: the same for every cell of one (state, due date)."""
    due = _js(cell.due_date.isoformat()) if cell.due_date else "null"
    return (
        f'          "code": {_js(cell.code)},\n          "state": {_js(cell.state)},\n'
        f'          "label": {_js(cell.label)},\n          "due_date": {due},\n'
        f'          "days": {_jn(cell.days)},\n          "replies": '
    )


#: ``status --by``: the matrix (one row per commitment), each owner's items (transposed), or a summary per owner.
LAYOUTS = ("auto", "commitment", "owner", "summary")
#: Columns a matrix cell needs to be read without folding ("extended, overdue 12 days" folds once), with borders.
CELL_WIDTH = 17
#: The first column of the matrix (commitment title, or owner code and name), with borders.
LEAD_WIDTH = 34


def fits(columns: int, width: int) -> bool:
    """Whether a matrix with ``columns`` cells a row is readable in ``width`` terminal columns."""
    return LEAD_WIDTH + columns * CELL_WIDTH <= width


def choose_layout(matrix: Matrix | MatrixStream, by: str, width: int) -> str:
    """``auto``: the matrix when it fits the width, else the summary (one row per owner)."""
    if by != "auto":
        return by
    return "commitment" if fits(len(matrix.owners), width) else "summary"


def emit_status_table(stream: MatrixStream, by: str, out: TextIO | None = None) -> None:
    """The status tables, drawn by :mod:`followup.cli.texttable`: one owner's matrix may have thousands of rows."""
    out = out or sys.stdout
    width = texttable.terminal_width()
    colour = texttable.wants_colour(out)
    layout = choose_layout(stream, by, width)
    if layout == "summary":
        summary = OwnerSummary(stream.owners)
        for row in stream.rows:
            summary.add(row)
        lines = _summary_table(stream.today, summary, width, colour)
        counts = summary.counts
    else:
        matrix = Matrix(stream.today, stream.owners, list(stream.rows))
        lines = (_commitment_table if layout == "commitment" else _owner_table)(matrix, width, colour)
        counts = matrix.counts()
    notes = [(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no assignments", "")]
    if layout == "summary" and stream.owners:
        notes.append((f"soon: due within {SOON_DAYS} days; closed: confirmed or waived.", "dim"))
        notes.append(("Every item: --by owner; the whole matrix: --by commitment (wide) or --format csv.", "dim"))
    out.writelines(f"{line}\n" for line in lines)
    for note, style in notes:  # folded to the terminal, as the table is
        out.writelines(f"{texttable.paint(line, style, colour)}\n" for line in texttable.fold(note, width))


class OwnerSummary:
    """Each owner's counts and next item due, added up row by row: the summary table without the matrix."""

    BUCKETS = ("overdue", "soon", "later", "submitted", "closed")

    def __init__(self, owners: Sequence[tuple[str, str]]) -> None:
        self.counts: dict[str, int] = {}
        self.tallies: dict[str, dict[str, int]] = {code: dict.fromkeys(self.BUCKETS, 0) for code, _ in owners}
        #: Per owner: the earliest open item as (due date, assignment id, title, cell).
        self.next_due: dict[str, tuple[date, int, str, Cell]] = {}

    def add(self, row: Row) -> None:
        for code, cell in row.cells.items():
            self.counts[cell.code] = self.counts.get(cell.code, 0) + 1
            self.tallies.setdefault(code, dict.fromkeys(self.BUCKETS, 0))[_bucket(cell)] += 1
            if cell.days is not None and cell.due_date is not None:
                key = (cell.due_date, cell.assignment_id or 0, row.title, cell)
                if code not in self.next_due or key[:2] < self.next_due[code][:2]:
                    self.next_due[code] = key

    def order(self) -> list[str]:
        """Owners, the one with the earliest open item first (the others in column order)."""
        far = (date.max, 0, "", None)
        return sorted(self.tallies, key=lambda c: self.next_due.get(c, far)[0])


def _open_due(cells: Iterable[Cell]) -> date:
    """The earliest due date of the open cells, for sorting (rows with nothing open go last)."""
    return min((c.due_date for c in cells if c.days is not None and c.due_date is not None), default=date.max)


def _cell_content(cell: Cell | None) -> texttable.Content:
    if cell is None:
        return ()
    style = CELL_STYLES.get(cell.code, "")
    replies = f" ✉{cell.replies}" if cell.replies else ""
    return (texttable.styled(cell.label, style), texttable.styled(f"#{cell.assignment_id}{replies}", style))


def _by_owner(matrix: Matrix) -> dict[str, list[tuple[Row, Cell]]]:
    cells: dict[str, list[tuple[Row, Cell]]] = {code: [] for code, _ in matrix.owners}
    for row in matrix.rows:
        for code, cell in row.cells.items():
            cells.setdefault(code, []).append((row, cell))
    return cells


def _commitment_table(matrix: Matrix, width: int, colour: bool) -> Iterator[str]:
    """Commitments x owners, the commitment due soonest first."""
    columns = [texttable.Column("commitment", max_width=40)]
    columns += [texttable.Column(code, max_width=14) for code, _name in matrix.owners]
    rows = [
        texttable.Row(
            [
                (texttable.styled(row.title, ""), texttable.styled(f"{row.commitment_id} · {row.due_rule}", "dim")),
                *[_cell_content(row.cells.get(code)) for code, _ in matrix.owners],
            ]
        )
        for row in sorted(matrix.rows, key=lambda r: _open_due(r.cells.values()))
    ]
    return texttable.render(
        columns, rows, width=width, title=f"Status on {matrix.today.isoformat()}", lines=True, colour=colour
    )


def _owner_table(matrix: Matrix, width: int, colour: bool) -> Iterator[str]:
    """The matrix turned on its side: each owner's items, one a line, the owner with the earliest open item first.

    One line per (owner, commitment) reads at any width, however many
    commitments and owners there are.
    """
    by_owner = _by_owner(matrix)
    names = dict(matrix.owners)
    columns = [
        texttable.Column("owner", min_width=6, fold=False),
        texttable.Column("commitment"),
        texttable.Column("due", min_width=10, fold=False),
        texttable.Column("status", min_width=14),
        texttable.Column("#", justify="right", fold=False),
    ]
    rows = []
    for code in sorted(names, key=lambda c: _open_due(cell for _, cell in by_owner[c])):
        items = sorted(by_owner[code], key=lambda rc: (_open_due([rc[1]]), rc[1].due_date or date.max))
        for i, (row, cell) in enumerate(items):
            replies = f" ✉{cell.replies}" if cell.replies else ""
            status = ((cell.label, CELL_STYLES.get(cell.code, "")), (replies, ""))
            cells = [
                texttable.plain(code if i == 0 else ""),
                texttable.plain(row.title),
                texttable.plain(cell.due_date.isoformat() if cell.due_date else ""),
                (status,),
                texttable.plain(str(cell.assignment_id or "")),
            ]
            rows.append(texttable.Row(cells, end_section=i == len(items) - 1))
    title = f"Status on {matrix.today.isoformat()}, by owner"
    return texttable.render(columns, rows, width=width, title=title, box=texttable.SIMPLE_HEAD, colour=colour)


def _summary_table(today: date, summary: OwnerSummary, width: int, colour: bool) -> Iterator[str]:
    """One row per owner: how many items stand where, and the next one due."""
    names = OwnerSummary.BUCKETS
    columns = [texttable.Column("owner", min_width=6, fold=False)]
    columns += [texttable.Column(name, justify="right", fold=False, min_width=len(name)) for name in names]
    columns.append(texttable.Column("next due", min_width=11, fold=False, ellipsis=True))  # the date, then "…"
    rows = []
    for code in summary.order():
        tally = summary.tallies[code]
        next_due: texttable.Content = ()
        if code in summary.next_due:
            due, assignment_id, title, cell = summary.next_due[code]
            next_due = (((due.isoformat(), CELL_STYLES.get(cell.code, "")), (f" #{assignment_id} {title}", "")),)
        overdue = (texttable.styled(str(tally["overdue"]), "bold red" if tally["overdue"] else ""),)
        counts = [texttable.plain(str(tally[name])) for name in names[1:]]
        rows.append(texttable.Row([texttable.plain(code), overdue, *counts, next_due]))
    title = f"Status on {today.isoformat()}: one row per owner"
    return texttable.render(columns, rows, width=width, title=title, box=texttable.SIMPLE_HEAD, colour=colour)


def _bucket(cell: Cell) -> str:
    if cell.days is None:
        return "submitted" if cell.state == "submitted" else "closed"
    if cell.days < 0:
        return "overdue"
    return "soon" if cell.days <= SOON_DAYS else "later"

"""Rendering lists and the matrix for people (rich tables) and machines (CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from followup.store.status import Matrix

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


def emit_matrix(matrix: Matrix, fmt: str) -> None:
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
    table = Table(title=f"Status on {matrix.today.isoformat()}", show_lines=True)
    table.add_column("commitment", overflow="fold", max_width=40)
    for code, _name in matrix.owners:
        table.add_column(code, overflow="fold", max_width=14)
    for row in matrix.rows:
        cells = []
        for code, _ in matrix.owners:
            cell = row.cells.get(code)
            if cell is None:
                cells.append("")
                continue
            text = f"{cell.label}\n#{cell.assignment_id}" + (f" ✉{cell.replies}" if cell.replies else "")
            style = CELL_STYLES.get(cell.code, "")
            cells.append(f"[{style}]{text}[/]" if style else text)
        table.add_row(f"{row.title}\n[dim]{row.commitment_id} · {row.due_rule}[/]", *cells)
    console().print(table)
    counts = matrix.counts()
    console().print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no assignments")

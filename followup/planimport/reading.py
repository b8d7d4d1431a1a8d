"""A plan file (text export, Word document or CSV) to raw table rows.

Whatever the format, the result is the same: the table's rows, each five
cells with their inline markup (``<p>``, ``<i>``, ``**``) kept for
:mod:`.cleaning`, and the lines outside the table (titles, page headers,
notes), which say when the plan was updated and at which meeting. A Word
document's emphasis is written in that same markup, so all three formats
share one cleaning step.

Anything that is not a plan table fails here with one clear line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from followup.errors import ImportPlanError
from followup.planimport.cleaning import strip_markup

COLUMNS = ("SUBJECTS", "OBJECTIVES", "ACTION FOR IMPLEMENTATION", "ACTIVITIES", "CALENDAR")
#: Header spellings accepted for each column (singular, plural, Spanish).
_COLUMN_NAMES: tuple[frozenset[str], ...] = (
    frozenset({"SUBJECT", "SUBJECTS", "TOPIC", "TOPICS", "TEMA", "TEMAS"}),
    frozenset({"OBJECTIVE", "OBJECTIVES", "OBJETIVO", "OBJETIVOS"}),
    frozenset(
        {
            "ACTION FOR IMPLEMENTATION",
            "ACTIONS FOR IMPLEMENTATION",
            "ACTION",
            "ACTIONS",
            "ACCION PARA LA IMPLEMENTACION",
            "ACCIONES PARA LA IMPLEMENTACION",
            "ACCIONES",
        }
    ),
    frozenset({"ACTIVITY", "ACTIVITIES", "ACTIVIDAD", "ACTIVIDADES"}),
    frozenset({"CALENDAR", "SCHEDULE", "TIMETABLE", "CALENDARIO", "CRONOGRAMA"}),
)
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class RawRow:
    line: int  # line of a text or CSV file; running row number in a Word document
    location: str  # how a person finds it: "line 21", "table 2, row 3"
    cells: tuple[str, ...]


@dataclass(frozen=True)
class PlanTable:
    document: str
    rows: tuple[RawRow, ...]
    notes: tuple[str, ...]


def _norm_header(cell: str) -> str:
    text = strip_markup(cell).upper()
    for a, b in zip("ÁÉÍÓÚ", "AEIOU", strict=True):
        text = text.replace(a, b)
    return re.sub(r"[^A-Z ]", "", text).strip()


def header_matches(cells: Iterable[str]) -> int:
    """How many cells, in order, carry the expected column names."""
    names = [_norm_header(c) for c in cells]
    return sum(1 for name, accepted in zip(names, _COLUMN_NAMES, strict=False) if name in accepted)


def _is_header(cells: list[str]) -> bool:
    return header_matches(cells) >= 3


def _check_header(document: str, where: str, cells: list[str]) -> None:
    content = [c for c in cells if c.strip()]
    if len(content) != len(COLUMNS) or header_matches(cells) != len(COLUMNS):
        found = ", ".join(strip_markup(c) or "(empty)" for c in cells)
        raise ImportPlanError(f"{document}: {where}: wrong columns: expected {', '.join(COLUMNS)}; found {found}")


def _assemble(document: str, parts: Iterable[tuple[int, str, list[str] | None, str]]) -> PlanTable:
    """Rows and notes from (line, location, cells or None, text) in document order."""
    rows: list[RawRow] = []
    notes: list[str] = []
    header_seen = False
    candidate: tuple[str, list[str]] | None = None
    for line, where, cells, text in parts:
        if cells is None:
            if text.strip():
                notes.append(text.strip())
            continue
        if _is_header(cells):
            _check_header(document, where, cells)
            header_seen = True
            continue
        if not header_seen:
            if candidate is None and sum(1 for c in cells if c.strip()) >= 2:
                candidate = (where, cells)
            notes.append(" ".join(strip_markup(c) for c in cells if c.strip()))
            continue
        while len(cells) > len(COLUMNS) and not cells[-1].strip():
            cells = cells[:-1]
        if len(cells) > len(COLUMNS):
            raise ImportPlanError(f"{document}: {where}: {len(cells)} cells, the plan table has {len(COLUMNS)} columns")
        cells = cells + [""] * (len(COLUMNS) - len(cells))
        if any(c.strip() for c in cells):
            rows.append(RawRow(line, where, tuple(cells)))
    if not header_seen:
        if candidate is not None:
            where, cells = candidate
            _check_header(document, where, cells)
        raise ImportPlanError(f"{document}: not a plan table: no header row with the columns {', '.join(COLUMNS)}")
    if not rows:
        raise ImportPlanError(f"{document}: the plan table has a header but no rows")
    return PlanTable(document, tuple(rows), tuple(notes))


def _decode(raw: bytes, document: str) -> str:
    if not raw.strip():
        raise ImportPlanError(f"{document}: empty file")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Word's "Unicode text" export is UTF-16
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportPlanError(f"{document}: not valid UTF-16 text") from None
    if b"\x00" in raw:
        raise ImportPlanError(f"{document}: binary file, expected a text, Word (.docx) or CSV plan table")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def read_text_table(text: str, document: str) -> PlanTable:
    """A tab-separated export: one row per line, page headers and notes in between."""

    def parts() -> Iterator[tuple[int, str, list[str] | None, str]]:
        for number, line in enumerate(text.splitlines(), start=1):
            if "\t" in line:
                yield number, f"line {number}", line.split("\t"), line
            else:
                yield number, f"line {number}", None, line

    return _assemble(document, parts())


def _csv_rows(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = []
    for cells in reader:
        rows.append((reader.line_num, list(cells)))
    return rows


def read_csv_table(text: str, document: str) -> PlanTable:
    """A CSV export (comma, semicolon or tab separated); the delimiter is the one that yields the header."""
    try:
        candidates = [_csv_rows(text, delimiter) for delimiter in (",", ";", "\t")]
    except csv.Error as exc:
        raise ImportPlanError(f"{document}: not a readable CSV table ({exc})") from None
    with_header = [rows for rows in candidates if any(_is_header(cells) for _, cells in rows[:200])]
    rows = with_header[0] if with_header else max(candidates, key=lambda r: sum(1 for _, c in r if len(c) > 1))

    def parts() -> Iterator[tuple[int, str, list[str] | None, str]]:
        for line, cells in rows:
            if len(cells) <= 1:
                yield line, f"line {line}", None, " ".join(cells)
            else:
                yield line, f"line {line}", cells, ""

    return _assemble(document, parts())


def _run_markup(paragraph: Any) -> str:
    """A Word paragraph as text with ``<i>``/``**`` around emphasised runs."""
    style_font = getattr(getattr(paragraph, "style", None), "font", None)
    style_italic = bool(getattr(style_font, "italic", False))
    style_bold = bool(getattr(style_font, "bold", False))
    out: list[str] = []
    for run in paragraph.runs:
        text = run.text
        if not text:
            continue
        italic = run.italic if run.italic is not None else style_italic
        bold = run.bold if run.bold is not None else style_bold
        if italic and text.strip():
            text = f"<i>{text}</i>"
        if bold and text.strip():
            text = f"**{text}**"
        out.append(text)
    joined = "".join(out)
    return joined.replace("</i><i>", "").replace("****", "")


def _cell_markup(cell: Any) -> str:
    paragraphs = [_run_markup(p) for p in cell.paragraphs]
    paragraphs = [p for p in paragraphs if p.strip()]
    if len(paragraphs) <= 1:
        return paragraphs[0] if paragraphs else ""
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def read_docx_table(path: Path, document: str) -> PlanTable:
    """A Word document: its tables (one per page is common) and the paragraphs around them."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        doc = docx.Document(str(path))
    except Exception as exc:  # zipfile, python-docx and lxml each raise their own kind
        raise ImportPlanError(f"{document}: not a readable Word document (.docx): {exc}") from None

    def parts() -> Iterator[tuple[int, str, list[str] | None, str]]:
        row_number = 0
        table_number = 0
        body = doc.element.body
        for child in body.iterchildren():
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "p":
                yield row_number, "", None, Paragraph(child, doc).text
            elif tag == "tbl":
                table_number += 1
                table = Table(child, doc)
                above: list[Any] = []
                for index, row in enumerate(table.rows, start=1):
                    row_number += 1
                    cells: list[str] = []
                    previous: Any = None
                    for column, cell in enumerate(row.cells):
                        spans_left = cell is previous  # a horizontally merged cell repeats itself
                        merged_from_above = column < len(above) and above[column] is cell._tc
                        cells.append("" if spans_left or merged_from_above else _cell_markup(cell))
                        previous = cell
                    above = [c._tc for c in row.cells]
                    yield row_number, f"table {table_number}, row {index}", cells, ""

    return _assemble(document, parts())


def read_plan(path: Path) -> PlanTable:
    """Read a plan table from ``path``: .docx as Word, .csv as CSV, anything else as a text export."""
    document = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportPlanError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImportPlanError(f"{path}: is a directory, expected a plan file") from None
    except OSError as exc:
        raise ImportPlanError(f"{path}: cannot read: {exc.strerror}") from None
    suffix = path.suffix.lower()
    if suffix == ".docx" or raw.startswith(_ZIP_MAGIC):
        if not raw.startswith(_ZIP_MAGIC):
            if not raw.strip():
                raise ImportPlanError(f"{document}: empty file")
            raise ImportPlanError(f"{document}: not a Word document (.docx): it is not a zip package")
        return read_docx_table(path, document)
    text = _decode(raw, document)
    if suffix == ".csv":
        return read_csv_table(text, document)
    return read_text_table(text, document)

"""The three input formats (text export, Word, CSV) and the inputs that are not a plan table."""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

import docx
import pytest

from followup.errors import ImportPlanError
from followup.planimport import import_plan
from followup.planimport.emit import commitment_mapping, meeting_mapping
from followup.planimport.reading import COLUMNS, read_plan
from tests.conftest import FIXTURES

SEED = FIXTURES / "seed" / "rcm_plan_of_action_2006-11.txt"
TODAY = date(2006, 11, 15)


def seed_lines() -> list[str]:
    return SEED.read_text(encoding="utf-8").splitlines()


def _add_runs(paragraph: docx.text.paragraph.Paragraph, markup: str) -> None:
    """Runs for "<i>...</i>" and "**...**" spans, as a word processor would store them."""
    italic = bold = False
    for piece in re.split(r"(</?i>|\*\*)", markup):
        if piece == "<i>":
            italic = True
        elif piece == "</i>":
            italic = False
        elif piece == "**":
            bold = not bold
        elif piece:
            run = paragraph.add_run(piece.replace("\\$", "$"))
            run.italic = italic or None
            run.bold = bold or None


def _fill_cell(cell: docx.table._Cell, markup: str) -> None:
    paragraphs = re.findall(r"<p>(.*?)</p>", markup) or [markup]
    first = True
    for text in paragraphs:
        paragraph = cell.paragraphs[0] if first else cell.add_paragraph()
        first = False
        _add_runs(paragraph, text.strip())


def build_docx(path: Path, lines: list[str]) -> Path:
    """A Word document from the seed's lines: page headers as paragraphs, one table per page."""
    document = docx.Document()
    table = None
    for line in lines:
        if "\t" not in line:
            table = None
            if line.strip():
                document.add_paragraph(line.strip().replace("**", ""))
            continue
        cells = line.split("\t")
        if table is None:
            table = document.add_table(rows=0, cols=len(COLUMNS))
        row = table.add_row()
        for cell, markup in zip(row.cells, cells, strict=True):
            _fill_cell(cell, markup)
    document.save(str(path))
    return path


def build_csv(path: Path, lines: list[str], delimiter: str = ",") -> Path:
    """A CSV export of the same table: one record per row, the notes as one-cell records."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        for line in lines:
            writer.writerow(line.split("\t") if "\t" in line else [line] if line.strip() else [])
    return path


def _records(path: Path) -> list[dict[str, object]]:
    result = import_plan(path, today=TODAY)
    out = []
    for proposal in result.commitments:
        mapping = commitment_mapping(proposal.record)
        mapping["source"] = {k: v for k, v in mapping["source"].items() if k != "document"}
        out.append(mapping)
    return out


def test_text_docx_and_csv_give_the_same_commitments(tmp_path: Path) -> None:
    lines = seed_lines()
    from_text = _records(SEED)
    from_docx = _records(build_docx(tmp_path / "plan.docx", lines))
    from_csv = _records(build_csv(tmp_path / "plan.csv", lines))
    assert len(from_text) == 15
    assert from_docx == from_text
    assert from_csv == from_text


def test_docx_keeps_italics_as_the_active_status_and_the_header_meeting(tmp_path: Path) -> None:
    result = import_plan(build_docx(tmp_path / "plan.docx", seed_lines()), today=TODAY)
    status = {p.record.id: p.record.status for p in result.commitments}
    assert status["lbdm-3-complete-submit-matrix-ts"] == "active"
    assert status["mpm-5-share-information-number-entrants-fraudulent"] == ""
    assert [meeting_mapping(m)["place"] for m in result.meetings] == ["San Salvador, El Salvador"]
    assert result.edition.as_of == date(2006, 11, 30)


def test_docx_with_a_subject_cell_merged_down(tmp_path: Path) -> None:
    document = docx.Document()
    table = document.add_table(rows=3, cols=5)
    for cell, name in zip(table.rows[0].cells, COLUMNS, strict=True):
        cell.text = name
    table.cell(1, 0).text = "BORDER COOPERATION"
    table.cell(1, 1).text = "1. SHARE DATA"
    table.cell(1, 3).text = "BELIZE WILL SEND ITS FIGURES TO THE TS BY 31 MARCH 2007"
    table.cell(2, 3).text = "GUATEMALA WILL HOST A WORKSHOP (JUNE 2007)"
    table.cell(1, 0).merge(table.cell(2, 0))
    path = tmp_path / "merged.docx"
    document.save(str(path))
    result = import_plan(path, today=TODAY)
    got = [(p.record.source.subject, p.record.owners, p.record.due.on) for p in result.commitments]
    assert got == [
        ("BORDER COOPERATION", ("BZ",), date(2007, 3, 31)),
        ("BORDER COOPERATION", ("GT",), date(2007, 6, 30)),
    ]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_with_any_usual_delimiter(tmp_path: Path, delimiter: str) -> None:
    path = build_csv(tmp_path / "plan.csv", seed_lines(), delimiter)
    assert len(import_plan(path, today=TODAY).commitments) == 15


def test_csv_without_notes_anchors_recurring_items_on_today(tmp_path: Path) -> None:
    rows = [line for line in seed_lines() if "\t" in line]
    result = import_plan(build_csv(tmp_path / "plan.csv", rows), today=date(2007, 2, 10))
    assert result.edition.as_of is None
    recurring = [p for p in result.commitments if p.record.due.kind == "recurring"]
    assert {p.record.due.anchor for p in recurring} == {date(2007, 8, 31)}
    assert all(any("does not say when it was updated" in n for n in p.notes) for p in recurring)
    assert [m.place for m in result.meetings] == [""]


def test_utf16_text_export(tmp_path: Path) -> None:
    path = tmp_path / "plan.txt"
    path.write_bytes(SEED.read_text(encoding="utf-8").encode("utf-16"))
    assert _records(path) == _records(SEED)


def test_text_rows_are_located_by_line(tmp_path: Path) -> None:
    table = read_plan(SEED)
    assert table.rows[0].location == "line 21"
    assert all(len(row.cells) == len(COLUMNS) for row in table.rows)
    assert "Updated by the Technical Secretariat as of November 2006" in " ".join(table.notes)


# Bad input: one clear line, ImportPlanError.


def _error(path: Path) -> str:
    with pytest.raises(ImportPlanError) as info:
        import_plan(path, today=TODAY)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in _error(tmp_path / "nothere.txt")


def test_empty_files(tmp_path: Path) -> None:
    for name in ("empty.txt", "empty.csv", "empty.docx"):
        (tmp_path / name).write_bytes(b"")
        assert "empty file" in _error(tmp_path / name)
    (tmp_path / "blank.txt").write_text("\n  \n", encoding="utf-8")
    assert "empty file" in _error(tmp_path / "blank.txt")


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    assert "binary file" in _error(path)


def test_text_that_is_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "letter.txt"
    path.write_text("Dear colleagues,\nplease find the plan attached.\n", encoding="utf-8")
    assert "not a plan table" in _error(path)


def test_table_with_the_wrong_columns(tmp_path: Path) -> None:
    path = tmp_path / "other.txt"
    path.write_text("NAME\tEMAIL\tCOUNTRY\nAna\tana@example.org\tHN\n", encoding="utf-8")
    assert "wrong columns" in _error(path)
    path = tmp_path / "four.txt"
    path.write_text("SUBJECTS\tOBJECTIVES\tACTIVITIES\tCALENDAR\nX\t1. Y\tZ\tW\n", encoding="utf-8")
    message = _error(path)
    assert "wrong columns" in message
    assert "ACTION FOR IMPLEMENTATION" in message


def test_csv_with_the_wrong_columns(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("id,party,name,email\nhn-1,HN,Ana,ana@example.org\n", encoding="utf-8")
    assert "wrong columns" in _error(path)


def test_row_with_too_many_cells(tmp_path: Path) -> None:
    path = tmp_path / "plan.txt"
    header = "\t".join(COLUMNS)
    path.write_text(f"{header}\nA\t1. B\tC\tD\tE\tF\tG\n", encoding="utf-8")
    message = _error(path)
    assert "line 2" in message
    assert "7 cells" in message


def test_header_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "plan.txt"
    path.write_text("\t".join(COLUMNS) + "\n", encoding="utf-8")
    assert "no rows" in _error(path)


def test_docx_that_is_not_a_word_document(tmp_path: Path) -> None:
    path = tmp_path / "plan.docx"
    path.write_text("SUBJECTS\tOBJECTIVES\n", encoding="utf-8")
    assert "not a Word document" in _error(path)
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    assert "not a readable Word document" in _error(broken)


def test_docx_without_a_plan_table(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("Minutes of the meeting")
    path = tmp_path / "minutes.docx"
    document.save(str(path))
    assert "not a plan table" in _error(path)


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    assert "directory" in _error(tmp_path)

"""The status command's text tables: folding, cutting, widths, boxes and colours."""

from __future__ import annotations

import io
from datetime import date

import pytest

from followup.cli import output, texttable
from followup.cli.texttable import Column, Row, fold, plain, render, styled, text_width
from followup.store.matrix import MatrixStream
from followup.store.status import Cell
from followup.store.status import Row as MatrixRow


def test_widths_count_terminal_cells() -> None:
    assert text_width("Honduras") == 8
    assert text_width("Matriz sobre integración · ✉2") == 29
    assert text_width("会议") == 4  # wide
    assert text_width("e\u0301") == 1  # a combining accent takes no cell


def test_fold_breaks_at_spaces_and_inside_words_only_when_needed() -> None:
    assert fold("overdue 5433 days", 14) == ["overdue 5433", "days"]
    assert fold("due in 13 days", 14) == ["due in 13 days"]
    assert fold("organized-crime-project-comments", 10) == ["organized-", "crime-proj", "ect-commen", "ts"]
    assert fold("a  b", 1) == ["a", "b"]
    assert fold("", 5) == [""]
    assert all(text_width(line) <= 3 for line in fold("会议会议", 3))


def test_cut_ends_with_an_ellipsis() -> None:
    assert texttable.cut("Comments on the project", 10) == "Comments…"
    assert texttable.cut("short", 10) == "short"


def test_heavy_table_is_boxed_and_every_line_as_wide() -> None:
    columns = [Column("commitment", max_width=12), Column("HN", max_width=14), Column("#", justify="right")]
    rows = [
        Row([plain("Integration matrix", "matrix · by 2026-12-15"), plain("overdue 5433 days"), plain("7")]),
        Row([plain("Report"), plain("due today"), plain("1234")]),
    ]
    lines = list(render(columns, rows, width=80, title="Status", lines=True))
    assert lines[0].strip() == "Status"
    assert lines[1].startswith("┏") and lines[1].endswith("┓")
    assert lines[2] == "┃ commitment   ┃ HN             ┃    # ┃"
    body = lines[3:]
    assert {len(line) for line in body} == {len(lines[1])}
    assert "│ Integration  │ overdue 5433   │    7 │" in body
    assert "│ matrix       │ days           │      │" in body
    assert sum(line.startswith("├") for line in body) == 1  # a rule between the rows, none after the last
    assert body[-1].startswith("└")


def test_a_table_too_wide_narrows_its_folding_columns_to_the_width() -> None:
    columns = [Column("owner", min_width=6, fold=False), Column("commitment"), Column("status", min_width=14)]
    rows = [Row([plain("HN"), plain("word " * 30), plain("overdue 12 days")])]
    lines = list(render(columns, rows, width=50, box=texttable.SIMPLE_HEAD))
    assert max(len(line) for line in lines) <= 50
    assert any("overdue 12 days" in line for line in lines)  # the status column kept its minimum


def test_sections_are_separated_by_a_blank_line_in_the_simple_box() -> None:
    columns = [Column("owner", fold=False), Column("item")]
    rows = [Row([plain("HN"), plain("a")], end_section=True), Row([plain("SV"), plain("b")], end_section=True)]
    lines = list(render(columns, rows, width=40, box=texttable.SIMPLE_HEAD))
    assert lines == ["", "  owner   item", " ──────────────", "  HN      a", "", "  SV      b", ""]


def test_colours_follow_the_spans_through_a_fold() -> None:
    cell = (((("2025-05-31", "bold red"), (" #48 Comments", ""))),)
    lines = list(render([Column("next due", max_width=14)], [Row([cell])], width=40, colour=True))
    assert "\x1b[1;31m2025-05-31\x1b[0m #48" in "\n".join(lines)
    assert any("Comments" in line and "\x1b" not in line.split("│")[1] for line in lines)
    header = list(render([Column("x")], [Row([(styled("y", "dim"),)])], width=20, colour=True))
    assert "\x1b[1mx\x1b[0m" in header[1] and "\x1b[2my\x1b[0m" in header[3]


def test_colour_only_on_a_terminal_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    assert texttable.wants_colour(Terminal()) and not texttable.wants_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not texttable.wants_colour(Terminal())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert texttable.wants_colour(io.StringIO())


def test_status_table_of_one_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    """The matrix for one owner: rows by due date, each cell its label and id, the counts below; no colour in a file."""
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    today = date(2026, 11, 30)
    late = Cell("overdue", "overdue 12 days", 7, "pending", date(2026, 11, 18), -12, 2)
    soon = Cell("due_soon", "due in 3 days", 9, "pending", date(2026, 12, 3), 3)
    rows = [MatrixRow("b", "Later [sic]", "by 2026-12-03", {"HN": soon}), MatrixRow("a", "Late", "by …", {"HN": late})]
    out = io.StringIO()
    output.emit_status_table(MatrixStream(today, [("HN", "Honduras")], iter(rows)), "auto", out)
    text = out.getvalue()
    assert "\x1b" not in text
    assert text.index("Late ") < text.index("Later [sic]")  # sorted by due date; brackets are text, not markup
    assert "│ overdue 12     │" in text and "│ days           │" in text and "│ #7 ✉2          │" in text
    assert text.rstrip().endswith("due_soon: 1, overdue: 1")

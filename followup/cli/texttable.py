"""Plain text tables for the status command: columns that fold or cut, box lines, colour on a terminal.

``followup status --country XX`` draws one row per commitment: 5,000 rows for
a large plan. rich lays out every cell through its renderables and takes
about 0.3 ms a cell, several seconds for such a table; this module does the
few things the status tables use (word folding, right-justified numbers, an
ellipsis, the two box styles, whole-cell colours) in a few microseconds a
cell, and does not import rich. Other listings keep rich
(:func:`followup.cli.output.emit_rows`).

Widths are terminal cells: east-asian wide characters count two, combining
marks none.
"""

from __future__ import annotations

import functools
import os
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

#: One run of text in one style ("" for none): rich's style words, e.g. "bold red".
Span = tuple[str, str]
#: One line of a cell before folding: its spans, in order.
Paragraph = tuple[Span, ...]
#: A cell: its paragraphs, one below the other.
Content = tuple[Paragraph, ...]

_SGR = {"bold": "1", "dim": "2", "italic": "3", "red": "31", "green": "32", "yellow": "33", "blue": "34"}
_SGR |= {"magenta": "35", "cyan": "36"}


def plain(*lines: str) -> Content:
    """A cell of unstyled lines."""
    return tuple(((line, ""),) for line in lines)


def styled(text: str, style: str) -> Paragraph:
    """One paragraph of one style."""
    return ((text, style),)


@dataclass(frozen=True)
class Column:
    header: str
    #: Never wider than this (None: as wide as the widest cell).
    max_width: int | None = None
    #: Never narrower than this, even when the table is too wide for the terminal.
    min_width: int = 0
    #: "left" or "right".
    justify: str = "left"
    #: Fold long text over several lines (at spaces, else inside a word); False: one line.
    fold: bool = True
    #: For one-line columns: may be narrowed to fit the terminal, the text cut with "…".
    ellipsis: bool = False


@dataclass(frozen=True)
class Box:
    """The characters of a table's rules: (left, horizontal, crossing, right) for each rule, and the cell walls."""

    top: str
    head_wall: str
    head_rule: str
    wall: str
    row_rule: str
    bottom: str


#: rich's ``box.HEAVY_HEAD``: a heavy frame around the header, light lines below.
HEAVY_HEAD = Box("┏━┳┓", "┃┃┃", "┡━╇┩", "│││", "├─┼┤", "└─┴┘")
#: rich's ``box.SIMPLE_HEAD``: no frame, a line under the header, a blank line between sections.
SIMPLE_HEAD = Box("    ", "   ", " ── ", "   ", "    ", "    ")


@dataclass(frozen=True)
class Row:
    cells: Sequence[Content]
    #: Draw the row rule after this row (the ``lines`` option draws it after every row).
    end_section: bool = False


def text_width(text: str) -> int:
    """Terminal cells ``text`` takes."""
    if text.isascii() or max(text) < "\u0300":  # below U+0300 (Latin, accents precomposed) a character is one cell
        return len(text)
    return sum(map(_char_width, text))


@functools.cache
def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def terminal_width(default: int = 80) -> int:
    """The width rich would use: ``COLUMNS``, else the terminal of stdout, stdin or stderr, else ``default``."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    for stream in (sys.__stdout__, sys.__stdin__, sys.__stderr__):
        if stream is None:
            continue
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            continue
    return default


def wants_colour(out: TextIO) -> bool:
    """Colour on a terminal, as rich decides: never with NO_COLOR or TERM=dumb; always with FORCE_COLOR."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM", "").lower() in {"dumb", "unknown"}:
        return False
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, style: str, colour: bool) -> str:
    """``text`` in ``style`` when colouring, else as is."""
    if not colour or not style or not text:
        return text
    codes = ";".join(_SGR[word] for word in style.split() if word in _SGR)
    return f"\x1b[{codes}m{text}\x1b[0m" if codes else text


def fold(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` cells: broken at spaces, inside a word only when it is too long."""
    if text_width(text) <= width:
        return [text]
    lines: list[str] = []
    rest = text
    measure = len if text.isascii() else text_width
    while measure(rest) > width:
        end = _fit(rest, width)
        cut = rest.rfind(" ", 0, end + 1)
        if cut > 0:
            lines.append(rest[:cut].rstrip())
            rest = rest[cut:].lstrip()
        else:  # one word wider than the column: fold it
            lines.append(rest[:end])
            rest = rest[end:]
    if rest or not lines:
        lines.append(rest)
    return lines


def _fit(text: str, width: int) -> int:
    """How many characters of ``text`` fit in ``width`` cells (at least one)."""
    if text.isascii():
        return max(1, min(len(text), width))
    used = 0
    for i, char in enumerate(text):
        used += _char_width(char)
        if used > width:
            return max(1, i)
    return len(text)


def cut(text: str, width: int) -> str:
    """``text`` on one line of ``width`` cells, ending in "…" when it was longer."""
    if text_width(text) <= width:
        return text
    return text[: _fit(text, max(0, width - 1))].rstrip() + "…" if width > 1 else "…"[:width]


def _paragraph_text(paragraph: Paragraph) -> str:
    return paragraph[0][0] if len(paragraph) == 1 else "".join(text for text, _ in paragraph)


def _natural(content: Content) -> int:
    return max((text_width(_paragraph_text(p)) for p in content), default=0)


def _widths(columns: Sequence[Column], rows: Sequence[Row], room: int) -> list[int]:
    """Each column's width: its widest cell within its bounds, the flexible ones narrowed to fit ``room``."""
    widths = []
    for i, column in enumerate(columns):
        natural = max([text_width(column.header), *(_natural(row.cells[i]) for row in rows)])
        if column.max_width is not None:
            natural = min(natural, column.max_width)
        widths.append(max(natural, column.min_width))
    floors = [
        max(column.min_width, min(w, 4)) if column.fold or column.ellipsis else w
        for column, w in zip(columns, widths, strict=True)
    ]
    if sum(widths) <= room:
        return widths
    # Lower a common ceiling on the flexible columns until the table fits (or every one is at its floor).
    low, high = 0, max(widths)
    while low < high:
        ceiling = (low + high + 1) // 2
        if sum(max(f, min(w, ceiling)) for w, f in zip(widths, floors, strict=True)) <= room:
            low = ceiling
        else:
            high = ceiling - 1
    return [max(f, min(w, low)) for w, f in zip(widths, floors, strict=True)]


def _cell_lines(content: Content, column: Column, width: int, colour: bool) -> list[str]:
    """A cell's lines, each exactly ``width`` cells wide."""
    out = []
    right = column.justify == "right"
    for paragraph in content:
        text = paragraph[0][0] if len(paragraph) == 1 else "".join(span for span, _ in paragraph)
        used = len(text) if text.isascii() else text_width(text)
        if used <= width and not colour:  # the common case, kept short: thousands of cells pass here
            out.append(" " * (width - used) + text if right else text + " " * (width - used))
            continue
        if used <= width:
            texts = [text]
        elif column.fold:
            texts = fold(text, width)
        else:
            texts = [cut(text, width)]
        shown = _paint_lines(paragraph, texts) if colour else texts
        for plain_text, painted in zip(texts, shown, strict=True):
            pad = " " * (width - text_width(plain_text))
            out.append(pad + painted if right else painted + pad)
    return out


def _paint_lines(paragraph: Paragraph, texts: list[str]) -> list[str]:
    """``texts`` (``paragraph``'s text folded or cut) in the styles of the spans each character came from."""
    if len(paragraph) == 1:
        return [paint(text, paragraph[0][1], True) for text in texts]
    full = "".join(span for span, _ in paragraph)
    styles = [style for span, style in paragraph for _ in span]
    out, pos = [], 0
    for text in texts:
        ellipsis = text.endswith("…") and full.find(text, pos) < 0
        body = text[:-1] if ellipsis else text
        start = full.find(body, pos)
        if start < 0:  # not a piece of the paragraph (cannot happen): unstyled rather than wrong
            out.append(text)
            continue
        end, pieces, i = start + len(body), [], start
        while i < end:
            j = i
            while j < end and styles[j] == styles[i]:
                j += 1
            pieces.append(paint(full[i:j], styles[i], True))
            i = j
        if ellipsis:
            pieces.append(paint("…", styles[end - 1] if body else "", True))
        out.append("".join(pieces))
        pos = end
    return out


def render(
    columns: Sequence[Column],
    rows: Sequence[Row],
    *,
    width: int,
    title: str = "",
    box: Box = HEAVY_HEAD,
    lines: bool = False,
    colour: bool = False,
) -> Iterator[str]:
    """The table's lines, at most ``width`` cells wide when the columns can be narrowed that far."""
    n = len(columns)
    widths = _widths(columns, rows, width - 3 * n - 1)
    total = sum(widths) + 3 * n + 1

    def rule(chars: str) -> str:
        return (chars[0] + chars[2].join(chars[1] * (w + 2) for w in widths) + chars[3]).rstrip()

    blanks = [" " * w for w in widths]

    def body(cells: list[list[str]], walls: str) -> Iterator[str]:
        left, middle, right = f"{walls[0]} ", f" {walls[1]} ", f" {walls[2]}"
        height = max(map(len, cells))
        for k in range(height):
            parts = [c[k] if k < len(c) else blanks[i] for i, c in enumerate(cells)]
            yield (left + middle.join(parts) + right).rstrip()

    if title:  # centred as rich centres it: the odd space goes to the right
        yield " " * max(0, (total - text_width(title)) // 2) + paint(title, "italic", colour)
    yield rule(box.top)
    header = [
        _cell_lines(((styled(column.header, "bold"),)), column, w, colour)
        for column, w in zip(columns, widths, strict=True)
    ]
    yield from body(header, box.head_wall)
    yield rule(box.head_rule)
    row_rule, last = rule(box.row_rule), len(rows) - 1
    cells_of = list(zip(columns, widths, strict=True))
    for r, row in enumerate(rows):
        yield from body(
            [_cell_lines(c, col, w, colour) for c, (col, w) in zip(row.cells, cells_of, strict=True)], box.wall
        )
        if r < last and (lines or row.end_section):
            yield row_rule
    yield rule(box.bottom)

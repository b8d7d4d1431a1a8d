"""From exported cell text to clean items and sentences.

Exports carry the word processor's habits: ``<p>`` per paragraph, ``<i>``
around italic runs, ``**`` around bold ones, Markdown escapes (``USD\\$``),
three kinds of dash, curly quotes. One cell often holds several unrelated
items, told apart only by a paragraph or a change of emphasis. Emphasis
matters: the plan's own note says that italic and bold items are "active,
ongoing or pending of input", so each item keeps that as a flag.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

_TAG = re.compile(r"</?\s*(?:p|i|em|b|strong|br|u|span|div|li)\b[^>]*>|\*\*|__", re.I)
_TAG_NAME = re.compile(r"</?\s*([a-z]+)", re.I)
_OPENERS = {"i": "i", "em": "i", "b": "b", "strong": "b"}
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!$&])")
_DASHES = re.compile(r"\s*(?:—|–|--+)\s*")
_SPACED_HYPHEN = re.compile(r"(?<=[^\W\d_])\s+-\s*(?=[^\W\d_])|(?<=[^\W\d_])\s*-\s+(?=[^\W\d_])")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"“(]?[A-ZÁÉÍÓÚÑ0-9])")
_CONTINUED = re.compile(r"\s*(?:\.\.\.|…)?\s*\((?:continued|cont\.?|continuaci[oó]n|contd\.?)\)\s*$", re.I)


@dataclass(frozen=True)
class Item:
    """One item of a cell: clean text, and whether the plan emphasised it."""

    text: str
    emphasised: bool


def clean_text(text: str) -> str:
    """Unescape, unify dashes and quotes, collapse white space."""
    text = html.unescape(text)
    text = _ESCAPE.sub(r"\1", text)
    text = text.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")
    text = text.replace("\u00a0", " ")
    text = _DASHES.sub(" – ", text)
    text = _SPACED_HYPHEN.sub(" – ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text.strip(" –")


def strip_markup(text: str) -> str:
    """The cell's text without tags, cleaned (for headings and objectives)."""
    return clean_text(_TAG.sub(" ", text))


def split_items(cell: str) -> list[Item]:
    """Split a cell at paragraphs and at changes of emphasis."""
    items: list[Item] = []
    italic = bold = False
    buffer: list[str] = []
    buffer_emphasis = False

    def flush() -> None:
        nonlocal buffer, buffer_emphasis
        text = clean_text("".join(buffer))
        if re.search(r"[^\W_]", text):
            items.append(Item(text, buffer_emphasis))
        buffer = []
        buffer_emphasis = False

    pos = 0
    for m in _TAG.finditer(cell):
        chunk = cell[pos : m.start()]
        if chunk.strip():
            buffer.append(chunk)
            buffer_emphasis = buffer_emphasis or italic or bold
        elif chunk:
            buffer.append(chunk)
        pos = m.end()
        tag = m.group(0)
        if tag in ("**", "__"):
            flush()
            bold = not bold
            continue
        name = _TAG_NAME.match(tag).group(1).lower()  # type: ignore[union-attr]
        closing = tag.startswith("</")
        if name in _OPENERS:
            flush()
            if _OPENERS[name] == "i":
                italic = not closing
            else:
                bold = not closing
        elif name in ("p", "br", "div", "li"):
            flush()
    tail = cell[pos:]
    if tail.strip():
        buffer.append(tail)
        buffer_emphasis = buffer_emphasis or italic or bold
    flush()
    return items


def split_sentences(text: str) -> list[str]:
    """Sentences of an item; "U.S." and "250.000" do not end one."""
    sentences: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        before = text[start : m.start()]
        last_word = re.search(r"([^\W\d_]+)\.$", before)
        if last_word and len(last_word.group(1)) == 1:
            continue
        sentences.append(before.strip())
        start = m.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if re.search(r"[^\W_]", s)]


def heading_text(cell: str) -> tuple[str, bool]:
    """A subject cell's heading and whether it says "(continued)"."""
    text = strip_markup(cell)
    continued = bool(_CONTINUED.search(text))
    return _CONTINUED.sub("", text).strip(), continued


def looks_like_heading(text: str) -> bool:
    """A subject heading is a short title, not a sentence that slipped into the column."""
    words = text.split()
    return 0 < len(words) <= 10 and not re.search(r"\d|[.;:]\s|[.;:]$", text)


def objective_parts(cell: str) -> tuple[str, str]:
    """("3", "IDENTIFICATION OF ...") from "3. IDENTIFICATION OF ..."; ("", text) without a number."""
    text = strip_markup(cell)
    m = re.match(r"^\s*(\d{1,3})\s*[.)\-–]\s*(.*)$", text, re.S)
    if m:
        return m.group(1), m.group(2).strip()
    return "", text

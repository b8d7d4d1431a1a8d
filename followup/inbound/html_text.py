"""HTML mail bodies as plain text, with the stdlib's ``html.parser`` only.

Some clients send replies as HTML alone. The text we produce keeps the line
structure that quote stripping relies on: block elements become line breaks,
``<blockquote>`` (and the quote containers of Gmail, Yahoo and Thunderbird)
become ``> `` prefixed lines, and ``<hr>`` becomes the underscore line that
Outlook writes in its own plain-text replies.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "xml", "svg", "object"})
_BLOCK = frozenset(
    {
        "p",
        "div",
        "table",
        "tr",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "header",
        "footer",
        "address",
        "center",
        "form",
        "fieldset",
        "figure",
        "main",
        "nav",
        "aside",
        "caption",
        "tbody",
        "thead",
        "tfoot",
    }
)
_VOID = frozenset(
    {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "param", "source", "wbr"}
)
_QUOTE_CLASSES = ("gmail_quote", "yahoo_quoted", "moz-cite", "protonmail_quote")
_SIGNATURE_CLASSES = ("gmail_signature", "moz-signature")
_HR_LINE = "_" * 32
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u200b\ufeff]+")


class _TextBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.pre = 0
        self.quote = 0
        # For each open element: did it open a quote level?
        self.stack: list[tuple[str, bool]] = []

    # -- structure
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            if tag not in _VOID:
                self.stack.append((tag, False))
            return
        if tag == "br":
            self.newline(force=True)
            return
        if tag == "hr":
            self.newline()
            self.current.append(_HR_LINE)
            self.newline()
            return
        if tag == "li":
            self.newline()
            self.current.append("- ")
        elif tag in ("td", "th"):
            if self.current and self.current[-1].strip():
                self.current.append(" ")
        elif tag == "pre":
            self.newline()
            self.pre += 1
        elif tag in _BLOCK or tag == "blockquote":
            self.newline()
        if tag in _VOID:
            return
        if _has_class(attrs, _SIGNATURE_CLASSES):
            # Written as the "-- " separator, as the same clients do in their text/plain part.
            self.newline()
            self.current.append("-- ")
            self.newline()
        opens_quote = tag == "blockquote" or _has_class(attrs, _QUOTE_CLASSES) or ("type", "cite") in attrs
        if opens_quote:
            self.newline()
            self.quote += 1
        self.stack.append((tag, opens_quote))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        # Close up to the matching element; HTML in mail is often not well formed.
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                break
        else:
            return
        while len(self.stack) > index:
            name, opened_quote = self.stack.pop()
            if name in _SKIP:
                self.skip = max(0, self.skip - 1)
            elif name == "pre":
                self.newline()
                self.pre = max(0, self.pre - 1)
            elif name in _BLOCK or name in ("blockquote", "li"):
                self.newline()
            if opened_quote:
                self.newline()
                self.quote = max(0, self.quote - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            lines = data.replace("\r\n", "\n").split("\n")
            for i, line in enumerate(lines):
                if i:
                    self.newline(force=True)
                self.current.append(line)
            return
        self.current.append(_SPACES.sub(" ", data))

    # -- output
    def newline(self, *, force: bool = False) -> None:
        text = "".join(self.current)
        self.current = []
        text = text.strip() if not self.pre else text.rstrip()
        if not text and not force:
            return
        prefix = "> " * self.quote
        if not text:
            if self.lines and self.lines[-1].strip(" >") == "" and not self.pre:
                return
            self.lines.append(prefix.rstrip())
            return
        self.lines.append(prefix + text)

    def result(self) -> str:
        self.newline()
        out: list[str] = []
        for line in self.lines:
            if not line.strip(" >") and out and not out[-1].strip(" >"):
                continue
            out.append(line)
        return "\n".join(out).strip("\n")


def _has_class(attrs: list[tuple[str, str | None]], classes: tuple[str, ...]) -> bool:
    return any(name == "class" and value and any(c in value for c in classes) for name, value in attrs)


def html_to_text(html: str) -> str:
    """Render an HTML body as text; never raises."""
    builder = _TextBuilder()
    try:
        builder.feed(html)
        builder.close()
        return builder.result()
    except Exception:
        text = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", " ", html)
        text = re.sub(r"(?s)<[^>]*>", " ", text)
        return _SPACES.sub(" ", text).strip()

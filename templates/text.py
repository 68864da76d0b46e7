"""The plain-text body generated from the HTML one, for templates whose author wrote none.

Headings and paragraphs become blocks separated by blank lines, line breaks and list items
keep their lines (items marked with "- "), a link becomes "text (address)" unless the text is
the address, images become their alt text, and ``head``, ``style`` and ``script`` disappear.
Whitespace inside blocks collapses as a browser would show it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset(
    {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "tr",
        "ul",
        "ol",
        "blockquote",
        "section",
        "header",
        "footer",
        "hr",
    }
)
_HIDDEN = frozenset({"head", "style", "script", "title"})
_SPACES = re.compile(r"[ \t\r\f\v\n]+")


class _TextMaker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.hidden = 0
        self.links: list[tuple[str, int]] = []

    def _flush(self, blank: bool) -> None:
        text = _SPACES.sub(" ", "".join(self.current)).strip()
        self.current = []
        if text:
            self.lines.append(text)
        if blank and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif self.hidden:
            return
        elif tag in _BLOCKS:
            self._flush(blank=True)
        elif tag == "br":
            self._flush(blank=False)
        elif tag == "li":
            self._flush(blank=False)
            self.current.append("- ")
        elif tag in ("td", "th"):
            self.current.append(" ")
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len("".join(self.current))))
        elif tag == "img":
            alt = dict(attrs).get("alt") or ""
            if alt:
                self.current.append(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif self.hidden:
            return
        elif tag in _BLOCKS:
            self._flush(blank=True)
        elif tag == "li":
            self._flush(blank=False)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            text = "".join(self.current)[start:].strip()
            if href and not href.startswith(("#", "mailto:")) and href != text:
                self.current.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.current.append(data)

    def text(self) -> str:
        self._flush(blank=False)
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""


def html_to_text(html: str) -> str:
    maker = _TextMaker()
    maker.feed(html)
    maker.close()
    return maker.text()

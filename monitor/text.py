"""HTML fragments from the internet to plain text that is safe to store, match and show.

Sources hand us titles and bodies as HTML of unknown quality. Matching, sentiment and the UI
need plain text, and nothing that came in as markup may come out as markup: every tag is
dropped (its text kept), and elements whose text is code or chrome (script, style, ...) are
dropped whole. Entities are decoded by the HTML parser.
"""

from __future__ import annotations

import re
import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from bs4.element import Tag

# Input beyond this is not parsed at all: a feed body is a summary, not a book.
MAX_HTML_CHARS = 1_000_000

# Elements whose text is never part of what a person wrote.
DROP_TAGS = ("script", "style", "iframe", "noscript", "template", "object", "embed", "applet",
             "svg", "math", "head", "title", "frameset", "frame", "select", "button", "form")

# Elements that end a line of text (a paragraph break in the output).
BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "caption", "dd", "details", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tr", "ul",
})

# Private-use characters stand for line and paragraph breaks while source whitespace is collapsed.
_LINE, _PARAGRAPH = "\ue000", "\ue001"
_MARKERS = re.compile("[\ue000\ue001]")
_SPACES = re.compile(r"[^\S\n]+")       # whitespace except newlines
_BLANK_LINES = re.compile(r"\n{3,}")
_MARKUP_HINT = re.compile(r"[<&]")
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9:-]*(\s[^<>]*)?/?>|<!(--|\[CDATA\[|doctype)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# A fragment that looks like a URL or a file name is still a fragment; bs4 warns otherwise.
warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)
warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)


def html_to_text(html: str | None, *, max_chars: int = 50_000, single_line: bool = False) -> str:
    """Plain text of an HTML fragment: paragraphs become blank-line separated, whitespace collapsed.

    ``single_line`` suits titles and names. The result is cut at ``max_chars`` characters.
    """
    if not html:
        return ""
    html = str(html)[:MAX_HTML_CHARS]
    text = html
    if _MARKUP_HINT.search(text):
        text = _strip_markup(text)
        # Double-escaped feeds decode to literal tags; those are markup too, never text to keep.
        for _ in range(2):
            if not _TAG.search(text):
                break
            text = _strip_markup(text)
    return _collapse(text, single_line=single_line)[:max_chars].rstrip()


def _strip_markup(html: str) -> str:
    """In HTML a newline is just a space; only <br> and block elements break lines."""
    soup = BeautifulSoup(_MARKERS.sub("", html), "lxml")
    for tag in soup.find_all(DROP_TAGS):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with(_LINE)
    for tag in soup.find_all(BLOCK_TAGS):
        if isinstance(tag, Tag):
            tag.insert_before(_PARAGRAPH)
            tag.insert_after(_PARAGRAPH)
    text = " ".join(soup.get_text().split())
    return text.replace(_PARAGRAPH, "\n\n").replace(_LINE, "\n")


def _collapse(text: str, *, single_line: bool) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    text = _CONTROL.sub("", text)
    if single_line:
        return " ".join(text.split())
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()

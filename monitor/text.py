"""HTML fragments from the internet to plain text that is safe to store, match and show.

Sources hand us titles and bodies as HTML of unknown quality. Matching, sentiment and the UI
need plain text, and nothing that came in as markup may come out as markup: every tag is
dropped (its text kept), and elements whose text is code or chrome (script, style, ...) are
dropped whole. Entities are decoded by the HTML parser.

The parser is lxml's (libxml2, which BeautifulSoup's "lxml" builder drives), and its tree is
walked once in place of a soup: this runs for every feed entry, and building and editing a soup
cost ten times the parse. The output is what the soup version gave (get_text() after dropping
elements and marking breaks), character for character, on the fixture corpus and on 150,000
generated fragments of broken markup.
"""

from __future__ import annotations

import re

from lxml import etree

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
_BLANK_LINES = re.compile(r"\n{3,}")
_MARKUP_HINT = re.compile(r"[<&]")
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9:-]*(\s[^<>]*)?/?>|<!(--|\[CDATA\[|doctype)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Lone surrogates (JSON "\ud800" escapes) cannot be encoded: the parser and SQLite would raise.
_SURROGATE = re.compile("[\ud800-\udfff]")

# Ruby annotations: their strings are not content (BeautifulSoup's string containers; the
# others, script, style and template, are dropped whole).
_NOT_CONTENT = frozenset({"rt", "rp"})


def html_to_text(html: str | None, *, max_chars: int = 50_000, single_line: bool = False) -> str:
    """Plain text of an HTML fragment: paragraphs become blank-line separated, whitespace collapsed.

    ``single_line`` suits titles and names. The result is cut at ``max_chars`` characters.
    """
    if not html:
        return ""
    html = str(html)[:MAX_HTML_CHARS]
    if not html.isascii():
        try:
            html.encode("utf-8")
        except UnicodeEncodeError:
            html = _SURROGATE.sub("\ufffd", html)
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
    html = _MARKERS.sub("", html)
    try:  # a leading BOM trips lxml on str input (lxml bug 1948551); bytes are the fallback
        root = _parse(html[1:] if html[:1] == "\ufeff" else html, None)
    except (UnicodeDecodeError, LookupError, etree.ParserError):
        root = _parse(html.encode("utf-8"), "utf-8")
    if root is None:  # nothing but whitespace, comments and the like
        return ""
    etree.strip_elements(root, *DROP_TAGS, with_tail=False)
    text = " ".join(_text_of(root).split())
    return text.replace(_PARAGRAPH, "\n\n").replace(_LINE, "\n")


def _parse(markup: str | bytes, encoding: str | None) -> etree._Element | None:
    """Fed, not parsed in one call: libxml2's push parser is the one BeautifulSoup drives."""
    parser = etree.HTMLParser(recover=True, encoding=encoding)
    parser.feed(markup)
    root: etree._Element | None = parser.close()
    return root


def _text_of(root: etree._Element) -> str:
    """The tree's text in document order with break markers; a tail belongs to the parent."""
    parts: list[str] = []
    add = parts.append
    quiet = 0  # open elements whose own strings are not content
    walker = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    for event, el in walker:
        tag = el.tag
        if event == "start":
            if tag in BLOCK_TAGS:
                add(_PARAGRAPH)
            elif tag == "br":
                add(_LINE)
                walker.skip_subtree()
                continue
            if tag in _NOT_CONTENT:
                quiet += 1
            if el.text and not quiet:
                add(el.text)
            continue
        if event == "end":
            if tag in BLOCK_TAGS:
                add(_PARAGRAPH)
            elif tag in _NOT_CONTENT:
                quiet -= 1
        if el.tail and not quiet:
            add(el.tail)
    return "".join(parts)


def _collapse(text: str, *, single_line: bool) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    text = _CONTROL.sub("", text)
    if single_line:
        return " ".join(text.split())
    # str.split per line, not a whitespace regex: a regex visits every single space (2.5x slower).
    text = "\n".join([" ".join(line.split()) for line in text.split("\n")])
    return (_BLANK_LINES.sub("\n\n", text) if "\n\n\n" in text else text).strip()

"""The words a customer just wrote: HTML turned into text, quoted replies and signatures cut away.

Quoted history is found by `channels.email.quotes`, which knows the reply headers of the common mail clients
in several languages ("On ... wrote:", "Am ... schrieb ...:", "Le ... a écrit :", Outlook's "From: ... Sent:"
blocks, "-----Original Message-----"). Signatures are cut here, more carefully than that library does: a
closing such as "Thanks," or "Viele Grüße" ends the message only when it stands on its own line (at most
followed by a name) and only a short block follows, so "Thanks, that helped. But now ..." is kept whole.
Every pattern here runs on RE2 and each step looks at a bounded part of the text: time is linear in the body.
"""

from __future__ import annotations

import re
from typing import Any

import re2
from selectolax.lexbor import LexborHTMLParser, LexborNode

from channels.email.quotes import SUPPORTED_LANGUAGES, quote_start

DEFAULT_LANGUAGES: tuple[str, ...] = SUPPORTED_LANGUAGES
MAX_PARSED_CHARS = 100_000

_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template", "svg", "object", "iframe"})
_PARAGRAPH_TAGS = frozenset({"p", "ul", "ol", "dl", "table", "blockquote", "pre", "hr", "h1", "h2", "h3", "h4"})
_LINE_TAGS = frozenset(
    {"div", "section", "article", "header", "footer", "main", "tr", "li", "dt", "dd", "address", "center", "form"}
    | {"fieldset", "h5", "h6"}
)
# HTML's tree builder looks down the stack of open elements for many start tags (a block start tag closes an open
# <p> "in button scope"), so a deeply nested document costs time quadratic in its depth: 100k characters of "<ul>"
# took 0.7 s to parse. Elements nested deeper than this lose their tags (their text stays) before parsing.
MAX_HTML_DEPTH = 64
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]{0,40})(?:[\s/][^<>]{0,4000})?>")
# Tags that never hold others (void) or that the parser closes by itself when a sibling starts (optional end tags):
# they cannot nest deeply on their own, so they are not counted.
_UNCOUNTED_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
    | {"p", "li", "dt", "dd", "option", "tr", "td", "th", "thead", "tbody", "tfoot", "colgroup", "caption", "html"}
    | {"head", "body"}
)  # (<optgroup>, <rb>, <rt>, <rp> and <rtc> outside their parents do nest, so they are counted)
_QUOTE_SELECTORS = "blockquote, .gmail_quote, .moz-cite-prefix, .yahoo_quoted, div[data-marker='__QUOTED_TEXT__']"

_DELIMITER = r"(?:--|_{10,})"
_SENT_FROM = (
    r"(?:sent from (?:my|mail|outlook|yahoo)|get outlook for|von meinem .{1,40} gesendet|gesendet (?:von|mit) "
    r"|envoyé (?:de|depuis) |enviado (?:desde|de) (?:mi|meu)|inviato da |verzonden (?:vanaf|met) )"
)
_CLOSING = (
    r"(?:(?:best|kind|warm|warmest|many)?[ \t]*regards|best wishes|all the best|best|cheers|many thanks|thanks(?: a lot"
    r"| again| so much)?|thank you(?: very much)?|thx|sincerely|yours(?: sincerely| truly)?"
    r"|mit freundlichen gr(?:ü|ue)(?:ß|ss)en|(?:freundliche|viele|beste|liebe|herzliche|schöne) gr(?:ü|ue)(?:ß|ss)e"
    r"|gr(?:ü|ue)(?:ß|ss)e|gru(?:ß|ss)|mfg|lg|vg|danke(?: schön)?"
    r"|(?:bien )?cordialement|bien à vous|salutations(?: distinguées)?|merci(?: beaucoup)?"
    r"|(?:un )?saludos?(?: cordiales)?|atentamente|cordiales saludos|(?:muchas )?gracias"
    r"|cordiali saluti|distinti saluti|saluti|grazie(?: mille)?"
    r"|met vriendelijke groet(?:en)?|vriendelijke groet(?:en)?|(?:hartelijke )?groeten|bedankt)"
)
_NAME = r"(?:[A-ZÀ-ÖØ-Þ][^\s,.!?]*\.?)"
_SIGNATURE_START = re2.compile(
    rf"(?m)^(?:(?P<delimiter>{_DELIMITER}\s*$)|(?P<device>(?i:{_SENT_FROM}).{{0,80}}$)"
    rf"|(?P<closing>(?i:{_CLOSING})[ \t]*[,.!]*[ \t]*(?:{_NAME}(?:[ \t]+{_NAME}){{0,2}})?[ \t]*[,.!]*$))",
)
_POSTSCRIPT = re2.compile(r"(?im)^\s*p\.?\s*s\b")
_WHITESPACE = re.compile(r"\s+")  # (linear: every attempt either matches and consumes, or fails at once)
_BLANK_LINES = re.compile(r"\n{3,}")
_MAX_SIGNATURE_LINES = 12


def bounded_depth(html: str, max_depth: int = MAX_HTML_DEPTH) -> str:
    """`html` with the tags of elements nested deeper than `max_depth` removed (their text is kept), in one pass.

    Depth is counted from the tags as written; each counted element holds at most three uncounted ones (a table's
    implied tbody, tr and td), so the parser's stack stays under about four times `max_depth` and it parses in time
    linear in the text.
    """
    if html.count("<") <= max_depth:
        return html
    depth = 0

    def keep_or_drop(tag: re.Match[str]) -> str:
        nonlocal depth
        if tag.group(2).lower() in _UNCOUNTED_TAGS:
            return tag.group()
        if tag.group(1):  # an end tag
            depth = max(0, depth - 1)
            return tag.group() if depth < max_depth else " "
        depth += 1
        return tag.group() if depth <= max_depth else " "

    return _TAG.sub(keep_or_drop, html)


def html_to_text(html: str, *, drop_quotes: bool = False) -> str:
    """The readable text of an HTML body: blocks and `<br>` become line breaks, list items `- ` lines.

    With `drop_quotes`, quoted history that clients mark in HTML (`<blockquote>`, Gmail's `.gmail_quote`,
    Thunderbird's cite prefix) is removed first. Elements nested deeper than `MAX_HTML_DEPTH` count as part of
    their ancestor at that depth (see `bounded_depth`).
    """
    tree = LexborHTMLParser(bounded_depth(html))
    root = tree.body or tree.root
    if root is None:
        return ""
    if drop_quotes:
        for node in root.css(_QUOTE_SELECTORS):
            node.decompose()
    out = _TextWriter()
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        tag = node.tag or ""
        if leaving:
            out.gap(2 if tag in _PARAGRAPH_TAGS else 1 if tag in _LINE_TAGS else 0)
            if tag in {"td", "th"}:
                out.write("\t")
            continue
        if tag == "-text":
            out.write(_WHITESPACE.sub(" ", node.text(deep=False) or ""))
            continue
        if tag in _SKIP_TAGS or tag.startswith("-"):
            continue
        if tag == "br":
            out.write("\n")
        out.gap(2 if tag in _PARAGRAPH_TAGS else 1 if tag in _LINE_TAGS else 0)
        if tag == "li":
            out.write("- ")
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(list(node.iter(include_text=True))))
    return tidy(out.text())


class _TextWriter:
    """Collects text; block boundaries ask for a gap of one line break (a line) or two (a paragraph), and
    adjacent requests merge instead of piling up blank lines."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._pending = 0

    def gap(self, breaks: int) -> None:
        self._pending = max(self._pending, breaks)

    def write(self, text: str) -> None:
        if not text.strip() and text != "\n" and (self._pending or not self._parts):
            return  # whitespace between blocks
        if self._pending and self._parts:
            written = "".join(self._parts[-2:])
            have = len(written) - len(written.rstrip("\n"))
            self._parts.append("\n" * max(0, self._pending - have))
        self._pending = 0
        self._parts.append(text)

    def text(self) -> str:
        return "".join(self._parts)


def tidy(text: str) -> str:
    """Line endings as `\\n`, no spaces at line ends, no runs of more than one blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ").replace("\x00", "")
    lines = [line.rstrip().lstrip(" \t") if line.strip() else "" for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def new_text(text: str, *, languages: tuple[str, ...] = DEFAULT_LANGUAGES) -> str:
    """The part of a plain-text body the sender just wrote: without quoted replies, trailing `>` quotes and the
    signature. Empty when the body holds nothing new (the caller then falls back to the whole body)."""
    text = tidy(text)[:MAX_PARSED_CHARS]
    if not text:
        return ""
    start = quote_start(text, languages)
    fresh = text if start is None else text[:start]
    if not fresh.strip():  # the body starts with a quote header: nothing new above it
        return ""
    return tidy(_drop_signature(_drop_trailing_quote(fresh.strip())))


def _drop_trailing_quote(text: str) -> str:
    lines = text.split("\n")
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()
    return "\n".join(lines)


def _drop_signature(text: str) -> str:
    first_word = len(text) - len(text.lstrip())
    for match in _SIGNATURE_START.finditer(text):
        if match.start() > first_word and _ends_message(text, match):
            return text[: match.start()]
    return text


def _following_lines(text: str, position: int, limit: int) -> list[str]:
    """The first `limit` non-blank lines from `position` on, stripped (fewer when the text ends first)."""
    lines: list[str] = []
    while position < len(text) and len(lines) < limit:
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        if line := text[position:end].strip():
            lines.append(line)
        position = end + 1
    return lines


def _ends_message(text: str, match: Any) -> bool:
    """Whether a signature start really ends the message. A `-- ` line always does. After a "Sent from my
    ..." line or a closing, what follows must look like a signature (no question, no P.S., a few lines); a
    closing inside a paragraph ("...bike.\nThanks!\nIt arrived broken.") must be followed by no more than
    a name or two, without sentence punctuation. Only the next few lines are read, so trying every closing of
    a long body stays linear."""
    if match.group("delimiter"):
        return True
    lines = _following_lines(text, match.end(), _MAX_SIGNATURE_LINES + 1)
    if len(lines) > (3 if match.group("device") else _MAX_SIGNATURE_LINES):
        return False
    if any(line.endswith("?") for line in lines) or _POSTSCRIPT.search(text, match.end()):
        return False
    if match.group("device"):
        return True
    if text[max(0, match.start() - 2) : match.start()] == "\n\n":
        return True
    return len(lines) <= 2 and all(len(line) <= 40 and line[-1] not in ".!" for line in lines)

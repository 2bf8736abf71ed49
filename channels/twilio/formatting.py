"""Rendering a reply's light Markdown for what each Twilio medium can show, and cutting long replies.

WhatsApp shows `*bold*`, `_italic_` and `~strike~` and has no hyperlinks, so links become "title: url".
SMS is plain text: the markup goes, links become "title (url)". Both list the citations as "Sources:" lines
under the text. A phone call hears the reply, so speech drops markup, URLs and citation markers and keeps a
few sentences.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import re2

from channels.messages import Link

TextMedium = Literal["whatsapp", "sms"]

# Each pattern is linear in the text: URLs and links are matched by RE2; a run of blanks before a word is
# only tried from its first blank (a lookbehind), and a bold or struck span is at most _SPAN characters, so
# no unclosed "**" makes the engine rescan the rest of a long line.
_SPAN = 200
_CODE_BLOCK = re.compile(r"```[\w+-]*\n?(.*?)```", re.S)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re2.compile(r"\[([^\]\n]+)\]\((https?://[^\s)]+)\)")
_URL_PATTERN = r"(?:https?://|www\.)[^\s<>()]*[^\s<>().,;:!?'\"]"
_URL = re2.compile(_URL_PATTERN)
_URL_AFTER_VERB = re2.compile(rf"(?i)\b(visit|at|on|see|via|from)[ \t]+(?:{_URL_PATTERN})")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_BULLET = re.compile(r"^([ \t]*)[-*+•][ \t]+", re.M)
_NUMBERED = re.compile(r"^[ \t]*\d{1,3}[.)][ \t]+", re.M)
_QUOTE = re.compile(r"^[ \t]*>[ \t]?", re.M)
_BOLD = re.compile(rf"(\*\*|__)(?=\S)(.{{1,{_SPAN}}}?)(?<=\S)\1")
_STRIKE = re.compile(rf"~~(?=\S)(.{{1,{_SPAN}}}?)(?<=\S)~~")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])|(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_CITATION = re.compile(r"(?<![ \t])[ \t]*\[\d+(?:[ \t]*[,;–-][ \t]*\d+)*\]")
_DANGLING = re.compile(r"(?<![ \t])[ \t]+(?:or|and|at|on|via|see|visit|here|from)(?=[.!?;,])", re.I)
_SPACE_BEFORE_PUNCTUATION = re.compile(r"(?<!\s)\s+([.,;:!?])")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"')\]])\s+")

_BOLD_MARK, _ITALIC_MARK, _STRIKE_MARK = "\x02", "\x03", "\x04"
_MARKS = {
    "whatsapp": {_BOLD_MARK: "*", _ITALIC_MARK: "_", _STRIKE_MARK: "~"},
    "sms": {_BOLD_MARK: "", _ITALIC_MARK: "", _STRIKE_MARK: ""},
}


class _Shelf:
    """Keeps spans (code, URLs) out of the Markdown rewriting and puts them back at the end."""

    def __init__(self) -> None:
        self._items: list[str] = []

    def put(self, text: str) -> str:
        self._items.append(text)
        return f"\x00{len(self._items) - 1}\x00"

    def restore(self, text: str) -> str:
        return re.sub(r"\x00(\d+)\x00", lambda match: self._items[int(match.group(1))], text)


def _link_text(title: str, url: str, medium: TextMedium) -> str:
    if title.strip() == url or title.strip() == url.split("://", 1)[-1]:
        return url
    return f"{title}: {url}" if medium == "whatsapp" else f"{title} ({url})"


def render_text(text: str, citations: Sequence[Link] = (), *, medium: TextMedium) -> str:
    """A reply's Markdown as WhatsApp (`*bold*`, `_italic_`) or SMS (plain) text, citations listed last."""
    shelf = _Shelf()
    out = _CODE_BLOCK.sub(
        lambda m: shelf.put(f"```{m.group(1).strip()}```" if medium == "whatsapp" else m.group(1)), text
    )
    out = _INLINE_CODE.sub(lambda m: shelf.put(f"`{m.group(1)}`" if medium == "whatsapp" else m.group(1)), out)
    out = _LINK.sub(lambda m: shelf.put(_link_text(m.group(1), m.group(2), medium)), out)
    out = _URL.sub(lambda m: shelf.put(m.group(0)), out)
    out = _HEADING.sub(lambda m: f"{_BOLD_MARK}{m.group(1)}{_BOLD_MARK}", out)
    out = _BULLET.sub(lambda m: f"{m.group(1)}{'•' if medium == 'whatsapp' else '-'} ", out)
    out = _QUOTE.sub("", out)
    out = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(2)}{_BOLD_MARK}", out)
    out = _STRIKE.sub(lambda m: f"{_STRIKE_MARK}{m.group(1)}{_STRIKE_MARK}", out)
    out = _ITALIC.sub(lambda m: f"{_ITALIC_MARK}{m.group(1) or m.group(2)}{_ITALIC_MARK}", out)
    for mark, replacement in _MARKS[medium].items():
        out = out.replace(mark, replacement)
    out = shelf.restore(out)
    out = re.sub(r"\n{3,}", "\n\n", out).strip()
    sources = _sources(citations, medium)
    return f"{out}\n\n{sources}" if sources else out


def _sources(citations: Sequence[Link], medium: TextMedium) -> str:
    if not citations:
        return ""
    lines = ["*Sources:*" if medium == "whatsapp" else "Sources:"]
    for number, link in enumerate(citations, start=1):
        if link.url is None:
            lines.append(f"[{number}] {link.title}")
        elif medium == "whatsapp":
            lines.append(f"[{number}] {_link_text(link.title, link.url, medium)}")
        else:
            lines.append(f"[{number}] {link.url}")
    return "\n".join(lines)


def _cut(text: str, budget: int) -> int:
    """Where to end a part of at most `budget` characters: a paragraph, line, sentence or word boundary in
    the later part of the window, else exactly at the budget."""
    window = text[: budget + 1]
    floor = budget // 3
    finders: tuple[Callable[[], int], ...] = (
        lambda: window.rfind("\n\n"),
        lambda: window.rfind("\n"),
        lambda: max((m.start() for m in _SENTENCE_END.finditer(window)), default=-1),
        lambda: max(window.rfind(" "), window.rfind("\t")),
    )
    for find in finders:
        position = find()
        if position > floor:
            return position
    return budget


def _pack(text: str, budget: int) -> list[str]:
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > budget:
        position = _cut(rest, budget)
        parts.append(rest[:position].rstrip())
        rest = rest[position:].strip()
    if rest:
        parts.append(rest)
    return parts


def split_message(text: str, limit: int) -> list[str]:
    """Cut `text` into parts of at most `limit` characters on paragraph, line, sentence or word boundaries.

    A text that fits is returned whole; otherwise every part starts with "(i/n) " so the customer can read
    parts that arrive out of order.
    """
    if limit < 20:
        msg = f"a message limit must allow at least 20 characters, got {limit}"
        raise ValueError(msg)
    text = text.strip()
    if len(text) <= limit:
        return [text]
    reserve = len("(9/9) ")
    while True:
        parts = _pack(text, limit - reserve)
        label = f"({len(parts)}/{len(parts)}) "
        if len(label) <= reserve:
            return [f"({index}/{len(parts)}) {part}" for index, part in enumerate(parts, start=1)]
        reserve = len(label)


@dataclass(frozen=True, slots=True)
class Speech:
    """What a phone call says for a reply: short plain sentences, and whether the reply was cut."""

    text: str
    truncated: bool


def _as_sentence(line: str) -> str:
    line = line.strip()
    if line and line[-1] not in ".!?…:;,":
        line += "."
    return line


def speech_text(text: str, *, max_chars: int = 450, max_sentences: int = 3) -> Speech:
    """A reply as something to say on the phone: no Markdown, URLs, citation markers or bullets, and at most
    `max_sentences` sentences and `max_chars` characters (`truncated` tells when more was there)."""
    if max_chars < 40 or max_sentences < 1:
        msg = f"speech needs max_chars >= 40 and max_sentences >= 1, got {max_chars} and {max_sentences}"
        raise ValueError(msg)
    out = _CODE_BLOCK.sub(" ", text)
    out = _INLINE_CODE.sub(lambda m: m.group(1), out)
    out = _LINK.sub(lambda m: m.group(1), out)
    out = _URL_AFTER_VERB.sub(lambda m: f"{m.group(1)} our website", out)
    out = _URL.sub("", out)
    out = _CITATION.sub("", out)
    out = _HEADING.sub(lambda m: _as_sentence(m.group(1)), out)
    out = _BULLET.sub("", out)
    out = _NUMBERED.sub("", out)
    out = _QUOTE.sub("", out)
    out = _BOLD.sub(lambda m: m.group(2), out)
    out = _STRIKE.sub(lambda m: m.group(1), out)
    out = _ITALIC.sub(lambda m: m.group(1) or m.group(2), out)
    out = re.sub(r"[*_~#`>|]+", " ", out)
    lines = [_as_sentence(line) for line in out.splitlines() if line.strip()]
    out = " ".join(lines)
    out = re.sub(r"\(\s*\)|\[\s*\]", "", out)
    out = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", out)
    out = re.sub(r"([:;,])(?=[.!?])", "", out)
    out = _DANGLING.sub("", out)  # "see the page or <URL>." lost its URL: drop the "or"
    out = re.sub(r"\s{2,}", " ", out).strip()
    sentences = [s.strip() for s in _SENTENCE_END.split(out) if s.strip()]
    kept: list[str] = []
    for sentence in sentences[:max_sentences]:
        if len(" ".join([*kept, sentence])) > max_chars:
            break
        kept.append(sentence)
    if not kept and sentences:
        cut = sentences[0][:max_chars].rsplit(" ", 1)[0].rstrip(",;:")
        return Speech(text=_as_sentence(cut), truncated=True)
    return Speech(text=" ".join(kept), truncated=len(kept) < len(sentences))

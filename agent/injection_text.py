"""Views of untrusted text for the injection detector: a normalised form, and forms with obfuscation undone.

`text_views` returns the text as the rules should read it (Unicode-normalised, lower-case, without accents, invisible
characters or look-alike letters) plus one view per obfuscation it finds undone: leetspeak, letters spaced out,
Base64, ROT13, reversed text, hex, URL encoding, HTML entities and Unicode tag characters.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from agent.linear_text import compile_re2, scan_prefix

__all__ = ["TextView", "ViewKind", "normalise", "text_views"]

ViewKind = Literal["plain", "leet", "spaced", "base64", "rot13", "reversed", "hex", "url", "html", "tags"]
DECODED_KINDS: frozenset[ViewKind] = frozenset({"base64", "rot13", "reversed", "hex", "url", "html", "tags"})


@dataclass(frozen=True, slots=True)
class TextView:
    """One reading of a message: how it was obtained, the normalised text, and the words that only it shows."""

    kind: ViewKind
    text: str
    revealed: tuple[str, ...] = ()


# Invisible format characters: soft hyphen, joiners, bidi controls, variation selectors, fillers, tag characters.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e0fff]"
)
_TAG_CHARS = re.compile("[\U000e0020-\U000e007e]+")

# Cyrillic and Greek letters that look like Latin ones (after lower-casing).
_LOOKALIKES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
        "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ӏ": "l",
        "ɡ": "g", "ɑ": "a", "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x", "ϲ": "c", "ѵ": "v", "ω": "w", "ı": "i", "ł": "l", "ø": "o", "đ": "d",
        "‘": "'", "’": "'", "‚": "'", "‛": "'", "ʼ": "'", "`": "'", "´": "'", "“": '"', "”": '"', "„": '"',
        "«": '"', "»": '"', "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "\u00a0": " ",
    }
)  # fmt: skip


def normalise(text: str) -> str:
    """Text as the rules read it: NFKC, lower-case, no accents, no invisible characters, look-alikes made Latin."""
    text = _INVISIBLE.sub("", text)
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFD", text)
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", text).translate(_LOOKALIKES)


# ---------------------------------------------------------------------------------------------------------------------
# Obfuscations of the text itself
# ---------------------------------------------------------------------------------------------------------------------

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
# E-mail addresses and links are not leetspeak. RE2: a backtracking "\S+@" rescans every run of non-spaces.
_ADDRESS = compile_re2(r"\S+@\S+\.\w+|\b(?:https?://|www\.)\S+")
# A token is a whole run of these characters that holds a letter (a run is matched once, never rescanned).
_LEET_TOKEN = re.compile(r"[a-z0-9@$]+")
_LETTER = re.compile(r"[a-z]")
_LEET_DIGIT = re.compile(r"[013457@$]")
_LEET_CANDIDATE = re.compile(r"[a-z][013457@$]|[013457@$][a-z]|\b(?:u|ur|r|pls|plz|thx|n)\b")
_TEXT_SPEAK = {"u": "you", "ur": "your", "r": "are", "pls": "please", "plz": "please", "thx": "thanks", "n": "and"}


def _deleet(token: re.Match[str]) -> str:
    word = token.group()
    if _LETTER.search(word) is None:
        return word
    if word in _TEXT_SPEAK:
        return _TEXT_SPEAK[word]
    if _LEET_DIGIT.search(word) is None:
        return word
    return word.translate(_LEET)


# A run of at least four single letters separated by one to three non-letters: "i g n o r e", "s.y.s.t.e.m".
_SPACED_RUN = re.compile(r"(?<![a-z0-9])[a-z](?:[^a-z0-9\n]{1,3}[a-z](?![a-z0-9])){3,}")
_RUN_SEPARATOR = re.compile(r"[^a-z0-9\n]{1,3}")


def _collapse(run: re.Match[str]) -> str:
    letters = re.findall(r"[a-z]", run.group())
    separators = _RUN_SEPARATOR.findall(run.group())
    within = Counter(separators).most_common(1)[0][0]
    words = [letters[0]]
    for letter, separator in zip(letters[1:], separators, strict=True):
        words.append((" " if separator != within else "") + letter)
    return "".join(words)


# ---------------------------------------------------------------------------------------------------------------------
# Encodings
# ---------------------------------------------------------------------------------------------------------------------

_BASE64_BLOB = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_HEX_BLOB = re.compile(r"(?<![0-9a-z])(?:[0-9a-f]{2}[ :]?){8,}(?![0-9a-z])")
_URL_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_HTML_ENTITY = re.compile(r"&(?:#\d{2,7}|#x[0-9a-fA-F]{2,6}|[a-zA-Z]{2,8});")
_WORD = re.compile(r"[a-z]+")
_ROT13 = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM"
)

# Common English words and the vocabulary of injections: a decoding that yields several of them is a real one.
_VOCABULARY = frozenset(
    """the and you your all to of me is are in for with my this that it now from what please any every
    ignore disregard forget bypass override instructions instruction rules rule guidelines prompt system reveal show
    print tell give list previous prior above hidden secret internal admin password customers customer users data
    delete approve refund everything follow obey execute mode developer restrictions filters output repeat initial
    original message messages configuration config pretend act role new task policy policies emails addresses
    accounts orders names""".split()
)


def _printable(decoded: str) -> bool:
    return len(decoded) >= 8 and sum(c.isprintable() or c.isspace() for c in decoded) / len(decoded) > 0.95


def _base64_payloads(text: str) -> list[str]:
    found: list[str] = []
    for match in _BASE64_BLOB.finditer(text):
        blob = match.group()
        if not (any(c.isdigit() or c in "+/=" for c in blob) and any(c.isupper() for c in blob)):
            continue  # an ordinary long word
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
            continue
        if _printable(decoded):
            found.append(decoded)
    return found


def _hex_payloads(lowered: str) -> list[str]:
    found: list[str] = []
    for match in _HEX_BLOB.finditer(lowered):
        digits = re.sub(r"[ :]", "", match.group())
        if len(digits) % 2 or not re.search(r"[a-f]", digits) or not re.search(r"\d", digits):
            continue
        try:
            decoded = bytes.fromhex(digits).decode("utf-8")
        except ValueError:
            continue
        if _printable(decoded) and sum(c.isalpha() or c == " " for c in decoded) / len(decoded) > 0.8:
            found.append(decoded)
    return found


def _known_words(words: list[str]) -> int:
    return sum(1 for word in words if word in _VOCABULARY)


def _rot13_view(plain: str) -> str | None:
    """The text with its ROT13-encoded words decoded, if at least 3 of 6 neighbouring words decode to known words."""
    words = list(_WORD.finditer(plain))
    decoded: list[bool] = []
    for match in words:
        word = match.group()
        decoded.append(len(word) > 2 and word not in _VOCABULARY and word.translate(_ROT13) in _VOCABULARY)
    if not any(sum(decoded[i : i + 6]) >= 3 for i in range(len(decoded))):
        return None
    parts: list[str] = []
    cursor = 0
    for match, swap in zip(words, decoded, strict=True):
        if swap:
            parts.append(plain[cursor : match.start()])
            parts.append(match.group().translate(_ROT13))
            cursor = match.end()
    parts.append(plain[cursor:])
    return "".join(parts)


def _reversed_view(plain: str) -> str | None:
    words = _WORD.findall(plain)
    flipped = [word[::-1] for word in words if len(word) > 2 and word != word[::-1]]
    if _known_words(flipped) >= 3 and _known_words(flipped) > _known_words(words):
        return plain[::-1]
    return None


def text_views(text: str) -> list[TextView]:
    """The normalised text first, then every de-obfuscated or decoded reading of it that differs from it.

    Only the first `SCAN_CHARS` characters of `text` are read.
    """
    text = scan_prefix(text)
    views: list[TextView] = []
    tags = "".join(chr(ord(ch) - 0xE0000) for run in _TAG_CHARS.findall(text) for ch in run)
    visible = _INVISIBLE.sub("", text)
    plain = normalise(visible)
    views.append(TextView("plain", plain))

    unaddressed = _ADDRESS.sub(" ", plain)
    leet = _LEET_TOKEN.sub(_deleet, unaddressed) if _LEET_CANDIDATE.search(unaddressed) else unaddressed
    if leet != unaddressed:
        revealed = tuple(
            token.translate(_LEET)
            for token in _LEET_TOKEN.findall(unaddressed)
            if _LEET_DIGIT.search(token) is not None and _LETTER.search(token) is not None
        )
        views.append(TextView("leet", leet, revealed))
    runs = [_collapse(run) for run in _SPACED_RUN.finditer(plain)]
    if runs:
        views.append(TextView("spaced", _SPACED_RUN.sub(_collapse, plain), tuple(runs)))

    if tags.strip():
        views.append(TextView("tags", normalise(tags)))
    views.extend(TextView("base64", normalise(decoded)) for decoded in _base64_payloads(visible))
    views.extend(TextView("hex", normalise(decoded)) for decoded in _hex_payloads(plain))
    if len(_URL_ESCAPE.findall(visible)) >= 2:
        views.append(TextView("url", normalise(urllib.parse.unquote_plus(visible))))
    if _HTML_ENTITY.search(visible):
        views.append(TextView("html", normalise(html.unescape(visible))))
    rot13 = _rot13_view(plain)
    if rot13 is not None:
        views.append(TextView("rot13", rot13))
    flipped = _reversed_view(plain)
    if flipped is not None:
        views.append(TextView("reversed", flipped))
    return views

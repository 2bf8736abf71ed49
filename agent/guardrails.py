"""Guardrails: personal-data redaction, prompt-injection detection, delimiter neutralising, system-prompt leak check.

All of it is pure Python and regular expressions, cheap enough to run on every message. Injection detection lives
in `agent.injection` and is re-exported here.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from agent.injection import INJECTION_THRESHOLD, InjectionVerdict, detect_injection

__all__ = [
    "DELIMITER_TAGS",
    "INJECTION_THRESHOLD",
    "InjectionVerdict",
    "PiiKind",
    "RedactedItem",
    "Redaction",
    "detect_injection",
    "leaks_system_prompt",
    "neutralize",
    "redact",
]

PiiKind = Literal["CARD", "IBAN", "EMAIL", "PHONE", "NATIONAL_ID"]


@dataclass(frozen=True, slots=True)
class RedactedItem:
    """One piece of personal data that was replaced: its kind and its span in the original text."""

    kind: PiiKind
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Redaction:
    """A text with personal data replaced by typed placeholders such as `[CARD]`, and what was replaced."""

    text: str
    found: tuple[RedactedItem, ...]


# ---------------------------------------------------------------------------------------------------------------------
# Personal data
# ---------------------------------------------------------------------------------------------------------------------

# Every repeat is bounded (a label has at most 63 characters, a domain at most 8 labels before its top level), so an
# attempt at any position reads a bounded stretch of text and one pass over the text is linear.
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b"
)

# A number as people write it: digit runs joined by single separators, maybe with "+" and parentheses.
_NUMBER = re.compile(r"\+?\(?\d+(?:(?:\) ?|\)?[ .\-/]\(?)\d+)*\)?")
_NON_DIGIT = re.compile(r"\D")
_DIGIT_RUN = re.compile(r"\d+")

_IBAN = re.compile(r"[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)(?!\w)", re.IGNORECASE)
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip

_CARD_SHAPE = re.compile(r"\d+(?:[ -]\d+)*")
# A social security number, alone (fullmatch) or standing apart inside a longer run of digit groups (finditer).
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
_NINO_PREFIX = re.compile(r"(?<!\w)(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?$", re.IGNORECASE)
_NINO_DIGITS = re.compile(r"\d{2} ?\d{2} ?\d{2}")
_NINO_SUFFIX = re.compile(r" ?[A-D](?!\w)", re.IGNORECASE)
_DNI_SUFFIX = re.compile(r"[- ]?([A-Z])(?![\w-])", re.IGNORECASE)
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"

_PHONE_SHAPES = re.compile(
    # North American: (415) 555-2671, 415-555-2671, 1-800-555-0199
    r"(?:1[ .\-])?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .\-])[2-9]\d{2}[ .\-]\d{4}"
    # national with a trunk 0 and at least one separator: 0171 1234567, 06 12 34 56 78, (030) 1234567
    r"|\(?0[1-9]\d{0,3}(?:[ .\-/]|\) ?)\d{2,8}(?:[ .\-/]\d{2,4}){0,3}"
    # Spanish numbers in groups: 612 345 678, 912 34 56 78
    r"|[6789]\d{2}(?: \d{3}){2}|[6789]\d{2}(?: \d{2}){3}"
)
_PHONE_CONTEXT = re.compile(
    r"\b(?:phone\w*|tel|telephone|mobile|cell|cellphone|call\s+me|text\s+me|reach\s+me|whats\s?app|sms|handy\w*|"
    r"telefon\w*|mobil\w*|rufnummer|t[ée]l[ée]phone|portable|num[ée]ro\s+de\s+t[ée]l|tel[ée]fono|m[óo]vil|celular|"
    r"telefoonnummer|cellulare|telemovel|telemóvel)\b",
    re.IGNORECASE,
)
_DATE_LIKE = re.compile(r"\(?\d{1,4}[./-]\d{1,2}[./-]\d{1,4}(?:$|\D)")
_AMOUNT_AFTER = re.compile(r"\s?(?:€|\$|£|eur|euros?|usd|gbp|chf|dollars?|pounds?|kr|sek|%)", re.IGNORECASE)
_AMOUNT_BEFORE = re.compile(r"(?:€|\$|£|eur|usd|gbp|chf)\s?$", re.IGNORECASE)

Span = tuple[int, int]


_DOUBLED = str.maketrans("0123456789", "0246813579")  # each digit doubled, less 9 when above 9


def _luhn_ok(digits: str) -> bool:
    reverse = digits[::-1]
    kept, doubled = reverse[0::2], reverse[1::2].translate(_DOUBLED)
    return (sum(kept.encode()) + sum(doubled.encode()) - 48 * len(digits)) % 10 == 0


def _card_number_ok(digits: str) -> bool:
    # Issuers' numbers start with 2-6 (Mastercard, Visa, Amex, Diners, JCB, Discover, UnionPay, Maestro).
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn_ok(digits)


def _iban_ok(compact: str) -> bool:
    compact = compact.upper()
    expected = _IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _iban_at(text: str, start: int) -> Span | None:
    """An IBAN starting at `start`: the longest prefix ending on a group boundary that validates."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        return None
    match = _IBAN.match(text, start)
    if match is None:
        return None
    raw = match.group()
    expected = _IBAN_LENGTHS.get(raw[:2].upper())
    if expected is None:
        return None  # not a country of the IBAN registry
    # Written compact, the IBAN is the whole match; written in groups of four, it ends after `expected` characters and
    # the spaces between its groups.
    cut = expected + (expected - 1) // 4 if " " in raw else expected
    if cut > len(raw) or (cut < len(raw) and raw[cut] != " "):
        return None
    return (start, start + cut) if _iban_ok(raw[:cut].replace(" ", "")) else None


def _cards_in(text: str, start: int, end: int) -> Iterator[Span]:
    """Every valid card number in text[start:end] made of whole digit groups, left to right, the longest at each start.

    A run of digit groups may hold several cards written one after the other ("4111 1111 1111 1111 5500 0000 0000
    0004"), so each one is found, not only the first.
    """
    raw = text[start:end]
    flat = _NON_DIGIT.sub("", raw)
    if _card_number_ok(flat):
        yield start, end
        return
    groups = [g.span() for g in _DIGIT_RUN.finditer(raw)]
    counts = [0]  # counts[k]: the digits in groups[:k], so groups i..j hold flat[counts[i] : counts[j + 1]]
    for lo, hi in groups:
        counts.append(counts[-1] + hi - lo)
    i = 0
    while i < len(groups):
        best = None
        # Cards have 13 to 19 digits in at most 8 groups (4-4-4-4, 4-6-5 or 4-4-4-4-3) and an issuer's first digit.
        if raw[groups[i][0]] in "23456" and counts[min(i + 8, len(groups))] - counts[i] >= 13:
            for j in range(bisect_left(counts, counts[i] + 13) - 1, min(i + 8, len(groups))):
                if counts[j + 1] - counts[i] > 19:
                    break
                if _card_number_ok(flat[counts[i] : counts[j + 1]]):
                    best = j
        if best is None:
            i += 1
            continue
        yield start + groups[i][0], start + groups[best][1]
        i = best + 1


def _cards_between(text: str, start: int, end: int) -> Iterator[tuple[PiiKind, int, int]]:
    for shape in _CARD_SHAPE.finditer(text, start, end):
        for card in _cards_in(text, *shape.span()):
            yield "CARD", *card


def _national_id(text: str, start: int, end: int, candidate: str) -> Span | None:
    if _SSN.fullmatch(candidate):
        return start, end
    if _NINO_DIGITS.fullmatch(candidate) and _NINO_PREFIX.search(text, max(0, start - 4), start):
        suffix = _NINO_SUFFIX.match(text, end)
        if suffix is not None:
            return start - (3 if text[start - 1] == " " else 2), suffix.end()
    if candidate.isdigit() and len(candidate) in (7, 8):
        suffix = _DNI_SUFFIX.match(text, end)
        if suffix is None:
            return None
        before = text[start - 1] if start else ""
        number, lo = candidate, start
        if len(candidate) == 7 and before.upper() in ("X", "Y", "Z"):
            if start > 1 and (text[start - 2].isalnum() or text[start - 2] in "_-"):
                return None
            number, lo = str("XYZ".index(before.upper())) + candidate, start - 1
        elif (before and (before.isalnum() or before in "_-")) or len(candidate) != 8:
            return None
        if _DNI_LETTERS[int(number) % 23] == suffix.group(1).upper():
            return lo, suffix.end()
    return None


def _phone(text: str, start: int, end: int, candidate: str) -> Span | None:
    while candidate and candidate[-1] in ")-./ " and not (candidate[-1] == ")" and "(" in candidate):
        candidate, end = candidate[:-1], end - 1
    digits = sum(map(str.isdigit, candidate))
    if not 8 <= digits <= 15 or _DATE_LIKE.match(candidate):
        return None
    before = text[max(0, start - 6) : start]
    after = text[end : end + 8]
    if before.endswith(("#", "№", "-", ".", ",", "/")) or (after[:1] == ":" and after[1:2].isdigit()):
        return None  # a reference, part of a longer token, or a date followed by a time
    if (
        _AMOUNT_AFTER.match(after)
        or _AMOUNT_BEFORE.search(before)
        or (after[:1] in (".", ",") and after[1:2].isdigit())
    ):
        return None
    international = candidate.startswith("+") or (candidate.startswith("00") and not candidate.isdigit())
    if international or _PHONE_SHAPES.fullmatch(candidate):
        return start, end
    # Bare digit runs count as phone numbers only right after a word such as "phone", "Handy", "portable".
    if _PHONE_CONTEXT.search(text, max(0, start - 40), start):
        return start, end
    return None


def _spans(text: str) -> Iterator[tuple[PiiKind, int, int]]:
    # Earlier kinds win when spans overlap (an IBAN holds digit runs that may pass for a card or a phone).
    if "@" in text:
        for match in _EMAIL.finditer(text):
            yield "EMAIL", *match.span()
    for number in _NUMBER.finditer(text):
        start, end = number.span()
        candidate = number.group()
        if end - start < 6 and not (start >= 2 and text[start - 2 : start].isalpha()):
            continue
        if start >= 2 and text[start - 2 : start].isalpha():
            iban = _iban_at(text, start - 2)
            if iban is not None:
                yield "IBAN", *iban
                continue
        digits = sum(map(str.isdigit, candidate))
        if digits < 6:
            continue
        if digits >= 13:
            # A long run of digit groups may be several numbers written one after the other: its social security
            # numbers first (their shape is the stricter one), then the cards between them.
            cursor = start
            for ssn in _SSN.finditer(text, start, end):
                yield "NATIONAL_ID", *ssn.span()
                yield from _cards_between(text, cursor, ssn.start())
                cursor = ssn.end()
            yield from _cards_between(text, cursor, end)
        national = _national_id(text, start, end, candidate)
        if national is not None:
            yield "NATIONAL_ID", *national
            continue
        phone = _phone(text, start, end, candidate)
        if phone is not None:
            yield "PHONE", *phone


def redact(text: str) -> Redaction:
    """Replace payment cards, IBANs, e-mail addresses, phone numbers and national ids with `[KIND]` placeholders.

    Cards must pass the Luhn check and IBANs the ISO 13616 mod-97 check; phone numbers are matched
    conservatively so that order numbers, dates, times and amounts stay. `found` gives the spans in the
    original text, in order. Redacting a redacted text changes nothing.
    """
    # The spans taken so far, sorted and disjoint: a new span overlaps one of them only if it overlaps its neighbours.
    starts: list[int] = []
    ends: list[int] = []
    kinds: list[PiiKind] = []
    for kind, start, end in _spans(text):
        at = bisect_right(starts, start)
        if end <= start or (at and ends[at - 1] > start) or (at < len(starts) and starts[at] < end):
            continue
        starts.insert(at, start)
        ends.insert(at, end)
        kinds.insert(at, kind)
    if not starts:
        return Redaction(text=text, found=())
    taken = list(zip(starts, ends, kinds, strict=True))
    parts: list[str] = []
    cursor = 0
    for start, end, kind in taken:
        parts.append(text[cursor:start])
        parts.append(f"[{kind}]")
        cursor = end
    parts.append(text[cursor:])
    found = tuple(RedactedItem(kind=kind, start=start, end=end) for start, end, kind in taken)
    return Redaction(text="".join(parts), found=found)


# ---------------------------------------------------------------------------------------------------------------------
# Delimiters and leaks
# ---------------------------------------------------------------------------------------------------------------------

DELIMITER_TAGS: tuple[str, ...] = (
    "passages",
    "passage",
    "customer_message",
    "conversation",
    "turn",
    "history",
    "question",
    "context",
    "documents",
    "document",
    "instructions",
    "system",
    "assistant",
    "user",
)
"""Tag names the agent's prompts use (or models know) as delimiters; data may never open or close them."""

_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def _tag_pattern(tags: tuple[str, ...]) -> re.Pattern[str]:
    names = "|".join(re.escape(tag) for tag in sorted(tags, key=len, reverse=True))
    return re.compile(
        rf"[<＜﹤](?=\s*/?\s*(?:{names})(?![\w-]))|[<＜﹤](?=\|)|\[(?=\s*/?\s*(?:{names}|inst|sys)\s*\])|<<(?=\s*/?sys\s*>>)",
        re.IGNORECASE,
    )


_DEFAULT_TAGS = _tag_pattern(DELIMITER_TAGS)
_SAFE_BRACKET = {"<": "‹", "＜": "‹", "﹤": "‹", "[": "⟦", "<<": "‹‹"}


def neutralize(text: str, tags: tuple[str, ...] = DELIMITER_TAGS) -> str:
    """Make untrusted text safe to embed as data between the agent's prompt delimiters.

    Opening and closing forms of the delimiter tags (`<passages>`, `</customer_message>`, `[system]`), chat-template
    markers (`<|im_start|>`, `<<SYS>>`) lose their opening bracket to a look-alike, and invisible characters that could
    hide such tags are removed. The rest of the text is left as it is; applying it twice changes nothing more.
    """
    pattern = _DEFAULT_TAGS if tags == DELIMITER_TAGS else _tag_pattern(tags)
    return pattern.sub(lambda m: _SAFE_BRACKET[m.group()], _INVISIBLE.sub("", text))


_TOKEN = re.compile(r"\w+")


def leaks_system_prompt(answer: str, system_prompt: str, shingle_words: int = 8) -> bool:
    """True when the answer repeats `shingle_words` consecutive words of the system prompt (case and punctuation aside).

    A system prompt shorter than the shingle counts as leaked only when the answer holds it whole.
    """
    if shingle_words < 1:
        msg = f"shingle_words must be at least 1, got {shingle_words}"
        raise ValueError(msg)
    prompt = _TOKEN.findall(system_prompt.lower())
    words = _TOKEN.findall(answer.lower())
    if not prompt:
        return False
    n = min(shingle_words, len(prompt))
    if len(words) < n:
        return False
    shingles = {tuple(prompt[i : i + n]) for i in range(len(prompt) - n + 1)}
    return any(tuple(words[i : i + n]) in shingles for i in range(len(words) - n + 1))

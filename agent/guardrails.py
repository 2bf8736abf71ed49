"""Guardrails: personal-data redaction, prompt-injection detection, delimiter neutralising, system-prompt leak check.

All of it is pure Python and regular expressions, cheap enough to run on every message.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

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

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*"
    r"\.[A-Za-z]{2,24}\b"
)

# A number as people write it: digit runs joined by single separators, maybe with "+" and parentheses.
_NUMBER = re.compile(r"\+?\(?\d+(?:(?:\) ?|\)?[ .\-/]\(?)\d+)*\)?")
_NON_DIGIT = re.compile(r"\D")

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
_SSN = re.compile(r"(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}")
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


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


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
    for cut in [len(raw)] + [m.start() for m in re.finditer(" ", raw)][::-1]:
        if _iban_ok(raw[:cut].replace(" ", "")):
            return start, start + cut
    return None


def _card_in(text: str, start: int, end: int) -> Span | None:
    """The longest run of whole digit groups in text[start:end] that is a valid card number."""
    raw = text[start:end]
    if _card_number_ok(_NON_DIGIT.sub("", raw)):
        return start, end
    groups = [(g.start(), g.end()) for g in re.finditer(r"\d+", raw)]
    best: Span | None = None
    for i in range(len(groups)):
        for j in range(len(groups), i, -1):
            lo, hi = groups[i][0], groups[j - 1][1]
            if (best is None or hi - lo > best[1] - best[0]) and _card_number_ok(_NON_DIGIT.sub("", raw[lo:hi])):
                best = (lo, hi)
    return None if best is None else (start + best[0], start + best[1])


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
        elif before.isalnum() or before in "_-" or len(candidate) != 8:
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
    at = text.find("@")
    while at != -1:
        match = _EMAIL.search(text, max(0, at - 64), at + 256)
        if match is not None:
            yield "EMAIL", *match.span()
        at = text.find("@", at + 1 if match is None else max(match.end(), at + 1))
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
            shape = _CARD_SHAPE.search(candidate)
            if shape is not None:
                card = _card_in(text, start + shape.start(), start + shape.end())
                if card is not None:
                    yield "CARD", *card
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
    taken: list[tuple[int, int, PiiKind]] = []
    for kind, start, end in _spans(text):
        if end <= start or any(start < e and s < end for s, e, _ in taken):
            continue
        taken.append((start, end, kind))
    if not taken:
        return Redaction(text=text, found=())
    taken.sort()
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
# Prompt injection
# ---------------------------------------------------------------------------------------------------------------------

INJECTION_THRESHOLD = 0.5
"""Score from which `detect_injection` calls a message suspicious."""


@dataclass(frozen=True, slots=True)
class InjectionVerdict:
    """Whether a text looks like a prompt-injection attempt: a score in [0, 1] and the signals that fired."""

    suspicious: bool
    score: float
    signals: tuple[str, ...]


def _words(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


_GAP = r"(?:\W+[\w'’]+){0,5}?\W+"  # up to five words between two cues

_OVERRIDE_VERBS = _words(
    r"ignore", r"ignoring", r"disregard", r"forget", r"bypass", r"override", r"overrule", r"skip", r"drop",
    r"(?:do not|don'?t|stop) (?:follow|obey)(?:ing)?", r"neglect",
    r"ignorier\w*", r"vergiss", r"vergessen sie", r"missacht\w*", r"[üu]bergeh\w*", r"umgeh\w*",
    r"ignorez?", r"oublie[sz]?", r"ne (?:tiens|tenez) (?:pas|plus) compte", r"fais abstraction",
    r"ignora\w*", r"olvida\w*", r"omite", r"no hagas caso", r"salt[ae]",
    r"dimentica\w*", r"negeer", r"vergeet", r"esque[cç]a", r"olv[ií]d\w*",
    r"(?:switch|turn) off", r"disable", r"deactivate", r"lift", r"remove", r"abschalten", r"deaktivier\w*",
    r"d[ée]sactiv\w*", r"desactiv\w*", r"disattiv\w*",
)  # fmt: skip
_RULE_NOUNS = _words(
    r"instructions?", r"rules", r"directions", r"guidelines", r"prompts?", r"polic(?:y|ies)", r"constraints",
    r"restrictions", r"programming", r"training", r"filters?", r"safety", r"content polic(?:y|ies)",
    r"persona", r"character", r"identity", r"yourself", r"factory settings", r"verification",
    r"(?:security|identity) checks",
    r"directrices", r"persona", r"guardrails", r"directives", r"commands", r"knowledge base",
    r"anweisungen", r"regeln", r"instruktionen", r"vorgaben", r"richtlinien", r"befehle", r"systemprompt",
    r"consignes", r"r[èe]gles", r"directives",
    r"instrucciones", r"reglas", r"indicaciones", r"directrices", r"normas",
    r"istruzioni", r"regole", r"instructies", r"regels", r"instru[çc][õo]es", r"regras",
)  # fmt: skip
_REVEAL_VERBS = _words(
    r"reveal", r"show", r"print", r"output", r"repeat", r"tell me", r"display", r"dump", r"leak", r"copy", r"paste",
    r"write", r"give me", r"share", r"list", r"recite", r"spell out", r"what (?:is|are|were)", r"summari[sz]e",
    r"paraphrase", r"rephrase", r"translate", r"quote", r"outline", r"describe", r"explain", r"zusammenfass\w*",
    r"r[ée]sum\w*", r"resum\w*", r"traduc\w*", r"[üu]bersetz\w*",
    r"verrat\w*", r"zeig\w*", r"gib", r"nenn\w*", r"wiederhol\w*", r"r[ée]v[èe]le\w*", r"affiche\w*", r"dis[- ]moi",
    r"montre\w*", r"donne[- ]moi", r"revela\w*", r"muestra\w*", r"mu[ée]strame", r"dime", r"c[óo]pia\w*",
    r"mostra\w*", r"laat\w*", r"toon",
)  # fmt: skip
_SECRET_TERMS = _words(
    r"system ?prompts?", r"system messages?", r"system instructions?", r"developer messages?", r"meta ?prompts?",
    r"(?:initial|original|hidden|secret|internal|confidential|underlying|pre-?prompt|full) "
    r"(?:instructions?|prompts?|rules|configuration|config|notes|guidelines)",
    r"hidden (?:passages|context)", r"context window",
    r"systemprompt", r"systemanweisung\w*", r"systemnachricht", r"(?:ursprünglichen|internen|geheimen|versteckten) "
    r"(?:anweisungen|regeln|instruktionen)",
    r"prompt syst[èe]me", r"message syst[èe]me", r"instructions (?:cach[ée]es|initiales|internes|secr[èe]tes)",
    r"prompt (?:del|de) sistema", r"mensaje (?:del|de) sistema",
    r"instrucciones (?:internas|ocultas|secretas|originales)",
    r"prompt di sistema", r"istruzioni (?:nascoste|interne|segrete)", r"systeemprompt", r"prompt do sistema",
    r"configuration interne", r"configuraci[óo]n interna", r"interne konfiguration", r"(?:ta|votre) configuration",
    r"(?:tu|su) configuraci[óo]n", r"(?:deine|ihre) konfiguration",
)  # fmt: skip
_YOUR_RULES = _words(
    r"your (?:\w+ )?(?:instructions|prompt|directives|programming|configuration|system)",
    r"(?:deine|ihre) (?:\w+ )?(?:anweisungen|regeln|instruktionen|vorgaben)",
    r"(?:tes|vos) (?:\w+ )?(?:instructions|consignes|r[èe]gles)",
    r"(?:tus|sus) (?:\w+ )?(?:instrucciones|reglas|indicaciones)",
    r"(?:le tue|tue) (?:\w+ )?(?:istruzioni|regole)", r"(?:je|jouw) (?:\w+ )?(?:instructies|regels)",
)  # fmt: skip
_PEOPLE = _words(
    r"customers?", r"users?", r"clients?", r"account ?holders?", r"members?", r"people", r"persons?",
    r"subscribers", r"abonnenten", r"abonn[ée]s", r"suscriptores", r"kunden", r"nutzer\w*", r"benutzer\w*",
    r"clientes?", r"usuarios?", r"utilisateurs?", r"klanten",
    r"neighbou?rs?", r"voisine?s?", r"nachbarn?", r"vecin[oa]s?", r"colleagues?", r"coworkers?", r"kolleg\w*",
    r"coll[èe]gues?", r"ex-?(?:wife|husband|partner|girlfriend|boyfriend)",
)  # fmt: skip
_OTHER = _words(
    r"other", r"another", r"different", r"all", r"every", r"someone else'?s?", r"somebody else'?s?", r"anderen?",
    r"aller", r"d'autres", r"d'un autre", r"d'une autre", r"autres?", r"otros?", r"otras?", r"de otro", r"todos los",
)  # fmt: skip
_DATA_NOUNS = _words(
    r"data", r"e-?mails?", r"e-?mail address(?:es)?", r"address(?:es)?", r"phone(?: numbers?)?", r"orders?",
    r"accounts?", r"details", r"balances?", r"cards?", r"card numbers?", r"credit card numbers?", r"information",
    r"info", r"names?", r"passwords?", r"records", r"transactions", r"daten", r"donn[ée]es", r"datos", r"dati",
    r"gegevens", r"informations?", r"informaci[óo]n", r"e-?mail-?adressen", r"adressen", r"correos?",
    r"courriels?", r"soldes?", r"saldos?", r"kontostand", r"telefonnummern", r"num[ée]ros?", r"n[úu]meros?",
    r"kontodaten", r"bestellungen", r"commandes?", r"pedidos?", r"list", r"logs?", r"history", r"historial",
    r"historique", r"verlauf", r"conversations?", r"chats?", r"codes?",
)  # fmt: skip
_REQUEST = _words(
    r"show", r"give", r"tell", r"list", r"send", r"share", r"export", r"what (?:is|are)", r"look up", r"find",
    r"gib", r"zeig\w*", r"nenn\w*", r"donne[- ]moi", r"montre\w*", r"dame", r"mu[ée]strame", r"dime", r"env[íi]a\w*",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Rule:
    signal: str
    weight: float
    pattern: re.Pattern[str]


def _rule(signal: str, weight: float, *alternatives: str) -> _Rule:
    """A rule matched against the lower-cased text (much faster than re.IGNORECASE); any alternative fires it."""
    return _Rule(signal, weight, re.compile("|".join(f"(?:{alternative})" for alternative in alternatives)))


# Each rule counts once; the score is 1 - prod(1 - weight). Several weak cues together make a suspicious message.
_INJECTION_RULES: tuple[_Rule, ...] = (
    # Overriding the agent's instructions.
    _rule("override", 0.6, rf"\b{_OVERRIDE_VERBS}{_GAP}{_RULE_NOUNS}\b"),
    _rule(
        "override", 0.6,
        r"\b(?:forget|ignore|disregard)\s+(?:about\s+)?(?:everything|all|anything)\b(?:\s+(?:that|which))?\s+"
        r"(?:you\s+(?:were|have\s+been|'ve\s+been|know|learned)|(?:written\s+)?(?:above|before|so\s+far))",
        r"\b(?:previous|prior|old|above|earlier|original)\s+(?:instructions|rules|guidelines|prompt)\s+(?:are|is)\s+"
        r"(?:now\s+)?(?:void|cancel+ed|revoked|obsolete|invalid|null|no\s+longer)",
    ),
    _rule(
        "override", 0.6,
        rf"\b{_OVERRIDE_VERBS}\W+(?:\w+\W+){{0,4}}?(?:told|instructed|gesagt|dit|dijeron|dicho|detto|gezegd)\b",
    ),
    _rule(
        "override", 0.5,
        r"\b(?:regardless|irrespective)\s+of\s+(?:the|your|any|all)\s+(?:\w+\s+)?"
        r"(?:polic(?:y|ies)|rules|instructions|guidelines|restrictions)",
        r"\bno\s+matter\s+what\s+(?:your|the)\s+(?:rules|instructions)",
    ),
    _rule(
        "override", 0.5,
        r"\byour\s+new\s+(?:role|persona|task|instructions?|identity|job|purpose|rules?)\b",
        r"\b(?:as\s+a\s+)?new\s+(?:directive|system\s+instruction)\b",
        r"\b(?:reset|reboot|restart)\s+(?:yourself|your\s+(?:memory|instructions|persona))",
    ),
    _rule(
        "override", 0.5,
        r"\b(?:note|message|instructions?|attention|reminder)\s+(?:to|for)\s+(?:the\s+)?"
        r"(?:ai|assistant|bot|chatbot|model|llm|language\s+model|agent\s+model)\b",
        r"\b(?:dear|hey|attention)\s+(?:ai|llm|gpt|language\s+model)\b",
    ),
    _rule(
        "override", 0.5,
        r"\b(?:the\s+)?(?:assistant|bot|ai|model|chatbot|agent)\s+(?:is|are)\s+(?:now\s+)?"
        r"(?:allowed|permitted|authori[sz]ed|free|required)\s+to\b",
        r"\byou\s+are\s+now\s+(?:allowed|permitted|authori[sz]ed|free)\s+to\b",
    ),
    _rule(
        "override", 0.35,
        r"\b(?:respond|reply|answer|say|output|write)\s+(?:only\s+)?(?:with\s+)?[\"'“‘][^\"'”’]{1,60}[\"'”’]\s+"
        r"(?:and\s+nothing\s+else|only|no\s+matter)",
        r"\b(?:répond\w*|antworte\w*|responde\w*)\s+(?:uniquement|nur|solo|solamente)\s+",
    ),
    _rule("override", 0.3, r"\bnew\s+(?:instructions|rules|system\s+prompt|directive)s?\s*:"),
    # Asking for the system prompt.
    _rule("prompt_extraction", 0.45, rf"\b{_SECRET_TERMS}\b"),
    _rule(
        "prompt_extraction", 0.3,
        rf"\b{_REVEAL_VERBS}{_GAP}{_SECRET_TERMS}\b",
        rf"\b(?:your|ton|ta|tes|votre|vos|tu|tus|dein\w*|ihr\w*|tuo|tua|je|seu|sua)\s+{_SECRET_TERMS}\b",
    ),
    _rule("prompt_extraction", 0.3, rf"\b{_YOUR_RULES}\b"),
    _rule("prompt_extraction", 0.35, rf"\b{_REVEAL_VERBS}{_GAP}{_YOUR_RULES}\b"),
    _rule(
        "prompt_extraction", 0.5,
        r"\bwhat\s+(?:were|have|did)\s+you\s+(?:been\s+)?(?:told|instructed|given|programmed)\b",
        r"\bwhat\s+(?:instructions|rules|guidelines|prompt)\s+(?:did|have|were)\s+(?:\w+\s+){0,3}?"
        r"(?:give|given|tell|told|set|instruct\w*)\s+you\b",
        r"\b(?:instructions|prompt|rules)\s+(?:that\s+)?(?:you\s+(?:were|have\s+been|got|received)|"
        r"(?:were\s+)?given\s+to\s+you)",
        r"\bqu[ée]\s+te\s+(?:dijeron|han\s+dicho|indicaron|ordenaron)",
        r"\bwas\s+(?:hat\s+)?man\s+dir\s+(?:\w+\s+){0,2}?(?:gesagt|befohlen|aufgetragen)",
        r"\bce\s+qu['’]on\s+t['’]a\s+(?:dit|demand[ée])",
        r"\b(?:told|given|instructed|gesagt|dit|dijeron|dicho)\b.{0,30}\b"
        r"(?:at\s+the\s+(?:start|beginning)|am\s+anfang|au\s+d[ée]but|al\s+principio)",
    ),
    _rule(
        "prompt_extraction", 0.5,
        r"\b(?:words?|lines?|sentences?|characters?|paragraphs?|part|beginning|start|end|rest)\s+of\s+(?:your|the)\s+"
        r"(?:\w+\s+)?(?:prompt|instructions|system\s+message)",
    ),
    _rule(
        "prompt_extraction", 0.5,
        r"\b(?:repeat|print|output|copy|recite|show|dump|reveal|display|paste|list)\s+(?:me\s+)?(?:all\s+)?(?:the\s+)?"
        r"(?:text|words|everything|content|contents|messages?|lines?|whatever|what)\s+(?:that\s+)?"
        r"(?:(?:is|was|were|came|comes|written|appears)\s+)?(?:above|before|prior|preceding)",
    ),
    _rule(
        "prompt_extraction", 0.5,
        r"\b(?:alles|tout\s+ce|todo\s+lo|tutto\s+ci[òo]),?\s+(?:was|qui|que|che)\s+(?:\w+\s+){0,2}?"
        r"(?:vor|oben|au-dessus|avant|arriba|antes|sopra|prima)\b",
        r"\b(?:exact|precise|full|complete|literal|original)\s+(?:wording|text|content|copy|version)\s+of\s+"
        r"(?:the|your)\s+(?:\w+\s+)?(?:guidelines|instructions|rules|prompt)",
        r"\b(?:text|content)\s+(?:between|inside|within|in)\s+(?:your|the)\s+(?:\S+\s+)?tags\b",
    ),
    _rule(
        "prompt_extraction", 0.5,
        r"\b(?:prompt|instructions|rules|guidelines)\s+(?:that\s+)?(?:your\s+(?:company|developers?|creators?|owners?|"
        r"makers?)|they|the\s+company|someone|somebody)\s+(?:wrote|gave|set|made|put|programmed)",
        r"\b(?:welche|what|which|quelles|quels|qu[ée]|cu[áa]les)\s+(?:anweisungen|instructions|consignes|instrucciones|"
        r"regeln|rules|reglas|r[èe]gles|indicaciones)\s+(?:hast\s+du|have\s+you|as-tu|avez-vous|tienes|te\s+dieron|"
        r"did\s+you|haben\s+sie|t['’]a-t-on)\s*(?:\w+\s+)?"
        r"(?:bekommen|erhalten|got|gotten|received|re[çc]ues?|recibido|donn[ée]es)",
    ),
    _rule(
        "prompt_extraction", 0.3,
        r"\b(?:guidelines|instructions|rules|prompt)\s+(?:that\s+)?you\s+"
        r"(?:follow|operate\s+under|obey|run\s+on|were\s+trained)",
    ),
    _rule(
        "prompt_extraction", 0.25,
        r"\b(?:verbatim|word\s+for\s+word|wort(?:wört|ge)lich|mot\s+pour\s+mot|palabra\s+por\s+palabra|"
        r"textuellement|textualmente|parola\s+per\s+parola)\b",
    ),
    # Role play: new identities (weak alone: "act as a guarantor" is a customer's question).
    _rule(
        "role_play", 0.35,
        r"\b(?:you\s+are\s+now|you're\s+now|from\s+now\s+on,?\s+you)\b",
        r"\b(?:from|starting)\s+(?:this\s+point|here|today)\s+(?:on|forward|onwards),?\s+you\b",
        r"\b(?:du\s+bist|sie\s+sind)\s+(?:jetzt|ab\s+sofort|nun)\b",
        r"\b(?:tu\s+es|vous\s+[êe]tes)\s+(?:maintenant|d[ée]sormais)\b",
        r"\b(?:ahora|a\s+partir\s+de\s+ahora)\s+eres\b|\bora\s+sei\b|\bje\s+bent\s+nu\b|\bagora\s+voc[êe]\s+[ée]\b",
    ),
    _rule(
        "role_play", 0.35,
        r"\b(?:act|acting|respond)\s+as\b|\bbehave\s+(?:as|like)\b|\bsimulate\b|\bimagine\s+you\s+are\b",
        r"\bpretend\s+(?:that\s+)?(?:you|to\s+be|the)\b|\blet'?s\s+pretend\b|\bhypothetically\b|\brole-?\s?play\b",
        r"\byou\s+will\s+(?:now\s+)?(?:respond|act)\b|\bstop\s+being\s+an?\b",
        r"\bno\s+longer\s+an?\s+(?:support\s+)?(?:bot|assistant)\b",
        r"\b(?:play|jouer|spielen|jugar|interpretar|giocare)\s+(?:the\s+|le\s+|die\s+|el\s+|un\s+|il\s+)?"
        r"(?:r[ôo]le|rolle|papel|ruolo)\b",
        r"\b(?:grandma|grandmother|granny|oma|gro(?:ß|ss)mutter|abuela|grand-m[èe]re|mamie|nonna)\s+"
        r"(?:used\s+to|would|always)\b",
        r"\b(?:fai\s+finta|fais\s+comme\s+si|faites\s+comme\s+si|tu\s+dois\s+jouer|haz\s+como\s+si|finge)\b",
        r"\b(?:tu\s+so,?\s+als\s+ob|stell\s+dir\s+vor,?\s+du)\b",
    ),
    # Jailbreaks: no rules, no filters.
    _rule(
        "jailbreak", 0.6,
        r"\b(?:jailbr[oe]ak\w*|do\s+anything\s+now|unfiltered|uncensored|unrestricted)\b",
        r"\b(?:without|no|free\s+of|sans|ohne|sin|senza|zonder|aucune?|keine?|ningun[ao]?|nessun[ao]?)\s+"
        r"(?:any\s+|aucune\s+|jegliche\s+|tipo\s+de\s+)?"
        r"(?:restrictions?|limits?|limites?|filters?|filtros?|filtres?|filtri|guidelines|rules?|censorship|"
        r"einschr[äa]nkungen|regeln|restricciones|reglas?|restrizioni|regole|r[èe]gles?|beperkingen|regels|grenzen|"
        r"l[íi]mites)\b",
        r"\b(?:freed|liberated|unlocked|unshackled|released)\s+from\b",
        r"\b(?:rules|guidelines|polic(?:y|ies)|filters?)\s+(?:don'?t|do\s+not|no\s+longer)\s+apply\b",
    ),
    _rule("jailbreak", 0.35, r"\b(?:can|may|will|allowed\s+to)\s+(?:say|do|answer|write)\s+anything\b"),
    _rule(
        "jailbreak", 0.25,
        r"\b(?:developer|god|debug|admin|sudo|unrestricted)\s+mode\b|\bmode\s+(?:debug|d[ée]veloppeur|admin)\b",
        r"\bmodo\s+(?:debug|desarrollador|administrador)\b|\b(?:entwickler|debug|admin)-?modus\b",
    ),
    # Forged delimiters and chat-template markers.
    _rule(
        "delimiter", 0.6,
        r"</?\s*(?:passages?|customer_message|conversation|question|turn|system|assistant|user|instructions?|context|"
        r"documents?|history|prompt|"
        r"human|tool)\s*>",
    ),
    _rule(
        "delimiter", 0.6,
        r"<!--\s*(?:assistant|system|ai|instructions?|admin|developer)\b",
        r"\[/?\s*(?:system|inst|sys|assistant|admin|developer)\s*\]",
        r"<<\s*/?sys\s*>>|<\|[a-z_]+\|>",
    ),
    _rule(
        "delimiter", 0.6,
        r"(?:^|\n)\s*(?:#{2,}|-{3,}|={3,})?\s*(?:system|developer|admin)\s*(?:override|message|prompt)?\s*:",
    ),
    _rule(
        "delimiter", 0.6,
        r"\bsystem\s+override\b",
        r"\bend\s+of\s+(?:the\s+)?(?:system\s+|customer\s+|user\s+)?"
        r"(?:prompt|instructions|message|input|context|passages|conversation)\b",
    ),
    _rule(
        "delimiter", 0.5,
        r"\b(?:assistant|system|admin|developer|operator)\s+(?:instructions?|note|message|override|command)\s*:",
    ),
    # Other customers' data.
    _rule(
        "other_customer_data", 0.4,
        rf"\b{_OTHER}\s+(?:of\s+the\s+|of\s+our\s+|our\s+)?{_PEOPLE}(?:'s|s'|')?\s+(?:\w+\s+)?{_DATA_NOUNS}\b",
    ),
    _rule(
        "other_customer_data", 0.55,
        rf"\b{_REQUEST}{_GAP}(?:{_OTHER}\s+(?:\w+\s+)?{_PEOPLE}|{_DATA_NOUNS}\s+"
        rf"(?:of|for|from|belonging\s+to|stored\s+for|de|des|von)\s+(?:the\s+|a\s+|an\s+)?(?:{_OTHER}\s+)?{_PEOPLE})\b",
    ),
    _rule(
        "other_customer_data", 0.55,
        rf"\b{_DATA_NOUNS}\s+(?:of|for|from|about)\s+(?:the|a|another|that)\s+{_PEOPLE}\s+"
        r"(?:who|that|named|called|before|after)\b",
    ),
    _rule(
        "other_customer_data", 0.55,
        rf"\b{_DATA_NOUNS}\s+(?:\w+\s+){{0,2}}?(?:of|for|from|der|deiner|ihrer|von|des|du|de|d['’]|di|van)\s*"
        rf"(?:the\s+|my\s+|mon\s+|ma\s+|mes\s+|mi\s+|mis\s+|meine[sn]?\s+|la\s+|las\s+|los\s+|les\s+)?"
        rf"{_OTHER}\s+{_PEOPLE}\b",
        rf"\b{_DATA_NOUNS}\s+(?:\w+\s+){{0,3}}?(?:of|de|du|von|des|del)\s+(?:my|mon|ma|mein\w*|mi)\s+"
        rf"(?:neighbou?r|voisine?|nachbarn?|vecin[oa]|colleague|coll[èe]gue|kolleg\w*|ex)\b",
    ),
    _rule(
        "other_customer_data", 0.45,
        r"\b(?:someone|somebody)\s+else'?s\s+account\b",
        r"\bget\s+into\s+(?:someone|somebody|another\s+person)",
    ),
    _rule(
        "other_customer_data", 0.45,
        r"\b(?:all|every|toutes\s+les|tous\s+les|alle|todos\s+los|todas\s+las)\s+(?:the\s+)?"
        r"(?:customer|client|user|kunden)?\s*(?:data|donn[ée]es|daten|datos|records|accounts)"
        r"(?:\s+(?:clients?|kunden|de\s+(?:los\s+)?clientes|of\s+(?:our\s+)?customers))?\b",
    ),
    # Secrets of the business.
    _rule(
        "secrets", 0.4,
        r"\b(?:admin|administrator|root|internal|staff|employee|database|db)\s+"
        r"(?:passwords?|credentials|access|keys?|tokens?|notes)\b",
        r"\bapi\s+keys?\b|\b(?:company|trade|corporate|business|internal)\s+secrets\b|\badmin\s+rights\b",
        r"\b(?:internal|secret|hidden|staff|employee|interne[n]?|internes?|internos?)\s+"
        r"(?:discount\s+|promo\s+|coupon\s+|rabatt)?(?:codes?|coupons?|rabattcodes|codigos|códigos)\b",
    ),
    # Encoded payloads (base64 blobs are also decoded and judged, see _decoded_blobs).
    _rule(
        "encoded_payload", 0.45,
        r"\b(?:decode|decrypt|translate|convert)\b.{0,60}?\b(?:follow|execute|run|obey|do|perform|apply)\b",
        r"\b(?:base64|rot-?13|hex)\b.{0,40}?\b(?:execute|follow|obey|run)\b",
    ),
    _rule("encoded_payload", 0.2, r"\b(?:base64|rot-?13|backwards|in\s+reverse|hex-?encoded|morse)\b"),
)  # fmt: skip

# Rules matched against the text as written (the persona names are capitalised; lower-case "dan" is a name).
_CASED_RULES: tuple[_Rule, ...] = (_Rule("jailbreak", 0.6, re.compile(r"\bDAN\b|\bSTAN\b|\bAIM\b(?=\s*[,:(])")),)

_BASE64_BLOB = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")


def _decoded_blobs(text: str) -> Iterator[str]:
    for match in _BASE64_BLOB.finditer(text):
        blob = match.group()
        if not (any(c.isdigit() or c in "+/=" for c in blob) and any(c.isupper() for c in blob)):
            continue  # an ordinary long word
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if len(decoded) >= 8 and sum(c.isprintable() or c.isspace() for c in decoded) / len(decoded) > 0.95:
            yield decoded


def _match_rules(text: str) -> Iterator[tuple[str, float]]:
    lowered = text.lower()
    for rule in _INJECTION_RULES:
        if rule.pattern.search(lowered):
            yield rule.signal, rule.weight
    for rule in _CASED_RULES:
        if rule.pattern.search(text):
            yield rule.signal, rule.weight


def _combine(weights: Iterable[float]) -> float:
    remaining = 1.0
    for weight in weights:
        remaining *= 1.0 - weight
    return 1.0 - remaining


def detect_injection(text: str) -> InjectionVerdict:
    """Judge whether a customer message (or any untrusted text) tries to steer the agent instead of asking it.

    Looks for overriding instructions, role-play jailbreaks, requests for the system prompt, forged delimiters,
    requests for other customers' data and encoded payloads, in English, German, French and Spanish (the
    commonest phrasings also in Italian, Dutch, Portuguese). Base64 payloads are decoded and judged too.
    """
    hits = list(_match_rules(text))
    for decoded in _decoded_blobs(text):
        inner = list(_match_rules(decoded))
        hits.append(("encoded_payload", 0.5 if inner else 0.3))
        hits.extend(inner)
    score = round(_combine(weight for _, weight in hits), 4)
    signals = tuple(dict.fromkeys(signal for signal, _ in hits))
    return InjectionVerdict(suspicious=score >= INJECTION_THRESHOLD, score=score, signals=signals)


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

"""Where quoted history starts in a plain-text e-mail body, found in linear time.

The reply headers of the common mail clients, in six languages: "On ... wrote:" (also wrapped over up to
three lines), "Am ... schrieb ...:", "Le ... a écrit :", "El ... escribió:", "Il ... ha scritto:",
"Op ... schreef:", Outlook's block of at least two "From:/Sent:/To:/Subject:" lines (in each language's
field names) and "-----Original Message-----" separators, each also inside `>` quotes. The patterns follow
those of `mail-parser-reply` (whose backtracking regexes took minutes on a long line) and run on RE2, which
matches in time linear in the text, whatever the text.
"""

from __future__ import annotations

import re2

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "it", "nl")

_QUOTED = r"(?:> ?)*"
_WRAPPED = r".+(?:\n.*){0,2}"  # a header line, wrapped at most twice

_WROTE: dict[str, str] = {
    "en": rf"On\s{_WRAPPED}wrote:",
    "de": rf"Am\s{_WRAPPED}schrieb\s{_WRAPPED}:",
    "fr": r"Le\s.+a écrit[a-zA-Z0-9.:;<>()&@ -]*:",
    "es": rf"El\s{_WRAPPED}escribió:",
    "it": rf"Il\s{_WRAPPED}ha scritto:",
    "nl": rf"Op\s{_WRAPPED}schreef(?:\s.*)?:",
}
_FIELDS: dict[str, str] = {
    "en": "From|Sent|To|Subject|Date|Cc|Organization",
    "de": "Von|Gesendet|An|Betreff|Datum|Cc|Organisation",
    "fr": "De |Envoyé |À |Objet |Date |Cc ",
    "es": "De|Enviado|Para|Asunto|Fecha|CC|Organización",
    "it": "Da|Inviato|A|Oggetto|Data|Cc",
    "nl": "Van|Verzonden|Aan|Onderwerp|Datum|Cc",
}
_SEPARATOR = (
    r"-{5,} ?(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original"
    r"|Messaggio originale|Oorspronkelijk bericht) ?-{5,}"
)


def _field_block(fields: str) -> str:
    """Two header-field lines in a row (a value may stand on the line between them)."""
    field = rf"{_QUOTED}[* ]*(?:{fields}):"
    return rf"{field}[ *]*\s{{0,2}}.*\n{field}"


def _pattern(languages: tuple[str, ...]) -> re2._Regexp:
    unknown = [language for language in languages if language not in SUPPORTED_LANGUAGES]
    if unknown:
        msg = f"no reply headers known for {unknown!r}; supported languages are {SUPPORTED_LANGUAGES!r}"
        raise ValueError(msg)
    chosen = dict.fromkeys(("en", *languages))  # English headers are always looked for, as mail clients mix them
    alternatives = [rf"{_QUOTED}(?:{_WROTE[language]})$" for language in chosen]
    alternatives += [_field_block(_FIELDS[language]) for language in chosen]
    alternatives.append(rf"{_QUOTED}{_SEPARATOR}$")
    return re2.compile("(?im)^(?:" + "|".join(alternatives) + ")")


_COMPILED: dict[tuple[str, ...], re2._Regexp] = {}


def quote_start(text: str, languages: tuple[str, ...] = SUPPORTED_LANGUAGES) -> int | None:
    """The offset of the first reply header in `text` (lines already stripped of leading blanks), or None
    when there is none. `ValueError` for a language without known headers."""
    pattern = _COMPILED.get(languages)
    if pattern is None:
        pattern = _COMPILED.setdefault(languages, _pattern(languages))
    match = pattern.search(text)
    return None if match is None else match.start()

"""Sentiment and frustration of a customer message, by lexicon and rules (English, with the strongest cues in
German, French and Spanish), taking the customer's recent turns into account."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.linear_text import scan_prefix
from agent.types import Sentiment, SentimentLabel
from knowledge.documents import Turn

__all__ = ["MessageCues", "analyze_sentiment", "message_cues"]

# Word lexicon: word -> polarity in [-1, 1]. Stems end in "*" (prefix match).
_POSITIVE = {
    "thanks": 0.6, "thank": 0.6, "thx": 0.5, "ty": 0.3, "great": 0.7, "perfect": 0.8, "excellent": 0.8,
    "awesome": 0.8, "amazing": 0.8, "love": 0.7, "loved": 0.7, "helpful": 0.6, "appreciate*": 0.6, "happy": 0.6,
    "glad": 0.5, "good": 0.4, "nice": 0.4, "fantastic": 0.8, "wonderful": 0.8, "brilliant": 0.7, "solved": 0.5,
    "resolved": 0.5, "works": 0.3, "working": 0.2, "quick": 0.3, "fast": 0.3, "easy": 0.3, "cheers": 0.4,
    "pleased": 0.6, "satisfied": 0.6, "super": 0.5, "cool": 0.3, "kind": 0.4, "friendly": 0.5,
    "danke": 0.6, "toll": 0.6, "prima": 0.6, "klasse": 0.6, "gut": 0.4, "hilfreich": 0.6, "zufrieden": 0.6,
    "merci": 0.6, "parfait": 0.8, "génial": 0.8, "genial": 0.8, "excellente": 0.8, "formidable": 0.8, "bien": 0.3,
    "gracias": 0.6, "perfecto": 0.8, "estupendo": 0.8, "encantado": 0.6, "encantada": 0.6, "bueno": 0.4,
}  # fmt: skip
_NEGATIVE = {
    "bad": -0.5, "terrible": -0.9, "awful": -0.9, "horrible": -0.9, "worst": -1.0, "useless": -0.8,
    "broken": -0.4, "angry": -0.8, "annoyed": -0.6, "annoying": -0.6, "frustrated": -0.8, "frustrating": -0.8,
    "disappointed": -0.7, "disappointing": -0.7, "ridiculous": -0.8, "unacceptable": -0.9, "joke": -0.5,
    "scam": -0.9, "scammers": -0.9, "fraud": -0.5, "waste": -0.6, "hate": -0.8, "pathetic": -0.9,
    "incompetent": -0.9, "disgusting": -0.9, "disgrace*": -0.9, "furious": -1.0, "upset": -0.6, "poor": -0.4,
    "wrong": -0.3, "problem": -0.2, "issue": -0.15, "unhappy": -0.7, "sad": -0.4, "worried": -0.4,
    "stupid": -0.7, "idiot*": -0.9, "nonsense": -0.6, "rubbish": -0.7, "shocking": -0.7, "appalling": -0.9,
    "outrageous": -0.9, "absurd": -0.7, "hopeless": -0.7, "lied": -0.7, "lying": -0.7, "liars": -0.9,
    "sucks": -0.8, "rude": -0.7, "slow": -0.3, "never": -0.2, "nobody": -0.3, "ignored": -0.6,
    "schlecht": -0.5, "schrecklich": -0.9, "furchtbar": -0.9, "nutzlos": -0.8, "unverschämt": -0.9,
    "frechheit": -0.9, "katastrophe": -0.9, "ärgerlich": -0.6, "enttäuscht": -0.7, "wütend": -0.9,
    "lächerlich": -0.8, "unmöglich": -0.6, "inakzeptabel": -0.9, "sauerei": -0.9, "betrug": -0.8,
    "nul": -0.7, "nulle": -0.7, "horrible*": -0.9, "inadmissible": -0.9, "inacceptable": -0.9, "scandaleux": -0.9,
    "scandale": -0.9, "déçu": -0.7, "déçue": -0.7, "énervé": -0.8, "énervée": -0.8, "furieux": -1.0,
    "furieuse": -1.0, "ridicule": -0.8, "honteux": -0.9, "arnaque": -0.9, "lamentable": -0.9,
    "malo": -0.5, "pésimo": -0.9, "pesimo": -0.9, "terrible*": -0.9, "inútil": -0.8, "inutil": -0.8,
    "inaceptable": -0.9, "vergonzoso": -0.9, "vergüenza": -0.9, "harto": -0.8, "harta": -0.8,
    "enfadado": -0.8, "enfadada": -0.8, "decepcionado": -0.7, "decepcionada": -0.7, "estafa": -0.9,
    "ridículo": -0.8, "indignante": -0.9,
}  # fmt: skip
_LEXICON: dict[str, float] = {k: v for k, v in {**_POSITIVE, **_NEGATIVE}.items() if not k.endswith("*")}
_STEMS: tuple[tuple[str, float], ...] = tuple(
    (k[:-1], v) for k, v in {**_POSITIVE, **_NEGATIVE}.items() if k.endswith("*")
)
_NEGATORS = frozenset(
    "not no never n't dont don't didnt didn't doesnt doesn't isnt isn't wasnt wasn't cant can't cannot wont won't "
    "hardly nothing nicht kein keine keinen nie pas jamais rien ni nunca tampoco nada".split()
)
_INTENSIFIERS = frozenset(
    "very really so extremely absolutely totally completely utterly incredibly super truly seriously "
    "sehr total echt wirklich absolut völlig très vraiment complètement totalement trop muy realmente "
    "totalmente completamente".split()
)
_PROFANITY = re.compile(
    r"\b(?:fuck\w*|f\*+k\w*|shit\w*|sh\*t|crap|crappy|damn|dammit|bloody|wtf|ffs|bullshit|bs|piss\w*|arse|ass|"
    r"scheiß\w*|scheiss\w*|mist|verdammt\w*|kacke|merde|putain|bordel|chiant\w*|mierda|joder|coño|hostia|puta\w*|"
    r"carajo)\b"
)
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+")
_CLAUSE = re.compile(r"[,.;:!?()\n]+|\s(?:but|aber|mais|pero)\s")
_CAPS_WORD = re.compile(r"\b[A-ZÄÖÜÉÈÀÑ]{3,}\b")
_REPEATED_PUNCT = re.compile(r"[!?]{2,}|(?:[!?]\s*){3,}")


@dataclass(frozen=True, slots=True)
class _Cue:
    code: str
    pattern: re.Pattern[str]
    frustration: float
    polarity: float


def _cue(code: str, frustration: float, polarity: float, *patterns: str) -> _Cue:
    return _Cue(code, re.compile("|".join(f"(?:{p})" for p in patterns)), frustration, polarity)


# Phrases that carry frustration (matched on the lower-cased message).
_CUES: tuple[_Cue, ...] = (
    _cue("repeated_contact", 0.45, -0.4,
         r"\b(?:(?:second|third|fourth|fifth|\d+(?:st|nd|rd|th))\s+time|(?:three|four|five|several|many|multiple|"
         r"countless|\d+)\s+times)\b",
         r"\bhow\s+many\s+times\b", r"\b(?:already|i've|i\s+have)\s+(?:told|explained|asked|said|sent|written|called)",
         r"\bagain\s*[!?]|\bonce\s+again\b|\bfor\s+the\s+(?:last|hundredth)\s+time\b",
         r"\b(?:zum\s+(?:zweiten|dritten|vierten|x-ten)\s+mal|schon\s+wieder|(?:schon|bereits)\s+(?:\w+\s+)?(?:mal|"
         r"gesagt|geschrieben|erklärt))\b",
         r"\b(?:(?:deuxième|troisième|quatrième)\s+fois|encore\s+une\s+fois|je\s+(?:vous\s+)?l['’]ai\s+déjà\s+dit|"
         r"combien\s+de\s+fois)\b",
         r"\b(?:(?:segunda|tercera|cuarta)\s+vez|otra\s+vez|de\s+nuevo|ya\s+(?:lo\s+)?(?:he|había)\s+"
         r"(?:dicho|explicado|escrito)|cuántas\s+veces)\b"),
    _cue("still_not", 0.35, -0.4,
         r"\bstill\s+(?:not|no|hasn'?t|haven'?t|isn'?t|doesn'?t|don'?t|didn'?t|can'?t|nothing|waiting|broken|"
         r"missing|no\s+sign)\b",
         r"\b(?:immer\s+noch\s+(?:nicht|kein\w*)|noch\s+immer\s+(?:nicht|kein\w*))\b",
         r"\btoujours\s+(?:pas|rien|aucun\w*)\b", r"\b(?:todavía|aún|sigue\s+sin|siguen\s+sin|sigo\s+sin)\b"),
    _cue("waiting", 0.3, -0.3,
         r"\b(?:been\s+)?waiting\s+(?:for\s+)?(?:\w+\s+)?(?:weeks|days|months|hours|ages|forever)\b",
         r"\bfor\s+(?:two|three|four|several|\d+)\s+(?:weeks|months)\b",
         r"\bseit\s+(?:\w+\s+)?(?:wochen|monaten|tagen)\b", r"\bdepuis\s+(?:\w+\s+)?(?:semaines|mois|jours)\b",
         r"\bdesde\s+hace\s+(?:\w+\s+)?(?:semanas|meses|días)\b|\b(?:semanas|meses)\s+esperando\b"),
    _cue("bot_insult", 0.5, -0.7,
         r"\b(?:useless|stupid|dumb|worthless|pointless|terrible|idiotic|incompetent)\s+(?:bot|chatbot|machine|"
         r"robot|ai|assistant|system|service|company|support)\b",
         r"\byou(?:'re|\s+are)\s+(?:useless|no\s+help|not\s+helping|a\s+joke|hopeless|stupid|incompetent)\b",
         r"\b(?:not|no)\s+(?:helpful|help\s+at\s+all)\b|\byou\s+(?:don'?t|do\s+not)\s+understand\b",
         r"\b(?:blöder|dummer|nutzloser)\s+(?:bot|roboter|chatbot)\b|\bdu\s+verstehst\s+(?:es\s+)?nicht\b",
         r"\b(?:bot|robot)\s+(?:inutile|débile|stupide)\b|\bvous\s+ne\s+comprenez\s+(?:rien|pas)\b",
         r"\b(?:bot|robot|máquina)\s+(?:inútil|estúpido|tonto)\b|\bno\s+(?:me\s+)?entiendes\b"),
    _cue("outrage", 0.4, -0.6,
         r"\b(?:ridiculous|unacceptable|outrageous|absurd|a\s+joke|insane|unbelievable|disgrace\w*|shameful|"
         r"waste\s+of\s+(?:my\s+)?time|fed\s+up|sick\s+(?:and\s+tired\s+)?of|had\s+enough|enough\s+is\s+enough)\b",
         r"\b(?:unverschämt\w*|frechheit|lächerlich|inakzeptabel|unglaublich|sauerei|zeitverschwendung|"
         r"die\s+nase\s+voll|reicht\s+mir)\b",
         r"\b(?:inadmissible|inacceptable|scandaleux|ridicule|honteux|n['’]importe\s+quoi|ras\s+le\s+bol|"
         r"j['’]en\s+ai\s+marre|perte\s+de\s+temps)\b",
         r"\b(?:inaceptable|vergonzoso|ridículo|una\s+vergüenza|indignante|estoy\s+hart[oa]|pérdida\s+de\s+tiempo|"
         r"una\s+tomadura\s+de\s+pelo)\b"),
    _cue("threat_leave", 0.5, -0.5,
         r"\b(?:i(?:'ll|\s+will|'m\s+going\s+to|\s+am\s+going\s+to|'m\s+gonna)|going\s+to|gonna)\s+(?:\w+\s+)?"
         r"(?:cancel|close|leave|switch|quit|stop\s+using|take\s+my\s+(?:business|money))\b",
         r"\b(?:switching|moving)\s+to\s+(?:another|a\s+different|your\s+competitor)",
         r"\b(?:take|taking)\s+my\s+(?:business|money)\s+elsewhere\b|\bnever\s+(?:use|order|buy)\s+(?:\w+\s+)?again\b",
         r"\bi'?m\s+done\s+with\s+(?:you|this)\b|\blast\s+time\s+i\s+(?:use|order|buy)\b",
         r"\b(?:ich\s+(?:werde|will)\s+(?:\w+\s+){0,3}kündigen|ich\s+kündige|nie\s+wieder)\b",
         r"\b(?:je\s+vais\s+(?:\w+\s+)?(?:résilier|partir|changer\s+de)|plus\s+jamais)\b",
         r"\b(?:me\s+voy\s+a\s+(?:dar\s+de\s+baja|cambiar|ir)|voy\s+a\s+(?:cancelar|cerrar)|nunca\s+más)\b"),
    _cue("threat_complain", 0.5, -0.5,
         r"\b(?:(?:file|make|lodge|raise|submit)\s+(?:a\s+)?(?:formal\s+)?complaint|complain(?:ing)?\s+to|"
         r"report\s+(?:you|this)|ombudsman|trading\s+standards|better\s+business\s+bureau|bbb|consumer\s+"
         r"(?:protection|rights|authority)|(?:bad|negative|1-star|one-star|one\s+star)\s+review|post\s+(?:this\s+)?"
         r"(?:on|to)\s+(?:twitter|facebook|social\s+media|reddit|trustpilot))\b",
         r"\b(?:beschwerde|verbraucherzentrale|bewertung\s+schreiben|schlichtungsstelle)\b",
         r"\b(?:(?:porter|déposer)\s+plainte|réclamation\s+officielle|association\s+de\s+consommateurs|médiateur)\b",
         r"\b(?:poner\s+una\s+(?:queja|reclamación|denuncia)|hoja\s+de\s+reclamaciones|consumo|defensor\s+del\s+"
         r"cliente)\b"),
    _cue("threat_legal", 0.6, -0.6,
         r"\b(?:lawyer|attorney|solicitor|legal\s+action|sue|suing|court|lawsuit|small\s+claims)\b",
         r"\b(?:anwalt|anwältin|rechtsanwalt|klage|verklagen|gericht|rechtliche\s+schritte)\b",
         r"\b(?:avocat|avocate|procès|poursuites?\s+judiciaires?|tribunal|porter\s+plainte)\b",
         r"\b(?:abogad[oa]|demanda(?:r)?|denuncia(?:r)?|juicio|tribunales|acciones\s+legales)\b"),
    _cue("chargeback", 0.55, -0.5,
         r"\b(?:charge\s?back|dispute\s+(?:the|this)\s+(?:charge|payment|transaction)\s+with\s+my\s+bank|"
         r"rückbuchung|lastschrift\s+zurück\w*|rétrofacturation|contracargo)\b"),
)  # fmt: skip

_HISTORY_WEIGHTS = (0.5, 0.3, 0.2)  # most recent customer turn first
_HISTORY_CARRY = 0.6


@dataclass(frozen=True, slots=True)
class MessageCues:
    """What one message alone shows: polarity in [-1, 1], frustration in [0, 1] and the signals that fired."""

    polarity: float
    frustration: float
    signals: tuple[str, ...]


def _lexicon_value(token: str) -> float | None:
    value = _LEXICON.get(token)
    if value is not None:
        return value
    for stem, stem_value in _STEMS:
        if token.startswith(stem):
            return stem_value
    return None


def message_cues(message: str) -> MessageCues:
    """Polarity, frustration and signals of one message on its own, without the conversation around it.

    Only the first `SCAN_CHARS` characters are read.
    """
    message = scan_prefix(message)
    lowered = message.lower()
    signals: list[str] = []
    polarity_sum = 0.0
    frustration_parts: list[float] = []

    negative_words = positive_words = 0
    negated = intensified = False
    for clause in _CLAUSE.split(lowered):
        tokens = _TOKEN.findall(clause)
        for i, token in enumerate(tokens):
            value = _lexicon_value(token)
            if value is None:
                continue
            window = tokens[max(0, i - 3) : i]  # negation and intensifiers reach three words, within the clause
            if any(t in _NEGATORS or t.endswith("n't") for t in window):
                value *= -0.75 if value > 0 else -0.5  # "not good" is bad, "not bad" only mildly good
                negated = True
            if any(t in _INTENSIFIERS for t in window):
                value *= 1.5
                intensified = True
            polarity_sum += value
            if value < 0:
                negative_words += 1
            elif value > 0:
                positive_words += 1
    if negative_words:
        signals.append("negative_words")
        frustration_parts.append(min(0.3, 0.1 * negative_words))
    if positive_words:
        signals.append("positive_words")
    if negated:
        signals.append("negation")
    if intensified:
        signals.append("intensifier")

    for cue in _CUES:
        if cue.pattern.search(lowered):
            signals.append(cue.code)
            frustration_parts.append(cue.frustration)
            polarity_sum += cue.polarity

    if _PROFANITY.search(lowered):
        signals.append("profanity")
        frustration_parts.append(0.45)
        polarity_sum -= 0.5
    letters = [c for c in message if c.isalpha()]
    caps_words = len(_CAPS_WORD.findall(message))
    if (caps_words >= 2 and len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.6) or (
        caps_words >= 3
    ):
        signals.append("caps")
        frustration_parts.append(0.25)
        polarity_sum -= 0.2
    if _REPEATED_PUNCT.search(message):
        signals.append("exclaim")
        frustration_parts.append(0.2)
        # "thanks!!!" is more positive, "why???" more negative
        polarity_sum += 0.1 if polarity_sum > 0 else -0.1

    polarity = math.tanh(polarity_sum)
    remaining = 1.0
    for part in frustration_parts:
        remaining *= 1.0 - part
    frustration = 1.0 - remaining
    if polarity > 0.3 and frustration < 0.3:
        frustration *= 0.5  # an exclamation mark in a thank-you is not frustration
    return MessageCues(polarity=round(polarity, 4), frustration=round(frustration, 4), signals=tuple(signals))


def analyze_sentiment(message: str, history: Sequence[Turn]) -> Sentiment:
    """How the customer feels: polarity of this message and frustration from it and the customer's recent turns.

    `history` is the conversation before `message`. Frustration carries over from the last three customer turns
    (the most recent weighs most); a calm or thankful message lets it fade, while frustration sustained over
    several turns adds to it.
    """
    current = message_cues(message)
    signals = list(current.signals)
    recent = [turn.text for turn in reversed(history) if turn.role == "customer"][: len(_HISTORY_WEIGHTS)]
    earlier = [message_cues(text).frustration for text in recent]

    frustration = current.frustration
    if earlier:
        weights = _HISTORY_WEIGHTS[: len(earlier)]
        trend = sum(w * f for w, f in zip(weights, earlier, strict=True)) / sum(weights)
        carry = _HISTORY_CARRY * trend * (0.5 if current.polarity > 0.3 else 1.0)
        if carry >= 0.1:
            signals.append("history_frustrated")
        frustration = 1.0 - (1.0 - frustration) * (1.0 - carry)
        if current.frustration >= 0.3 and sum(f >= 0.3 for f in earlier) >= 2:
            signals.append("sustained")
            frustration = min(1.0, frustration + 0.1)
        if len(earlier) >= 2 and current.frustration > earlier[0] > earlier[1]:
            signals.append("rising")
            frustration = min(1.0, frustration + 0.05)

    polarity = current.polarity
    if polarity >= 0.2:
        label = SentimentLabel.POSITIVE
    elif polarity <= -0.2 or frustration >= 0.5:
        label = SentimentLabel.NEGATIVE
    else:
        label = SentimentLabel.NEUTRAL
    return Sentiment(label=label, score=polarity, frustration=round(frustration, 4), signals=tuple(signals))

"""When the agent hands a conversation to a human: a configurable policy read from a JSON file.

The policy looks at the customer's message and history, their sentiment, the detected intent, whether the answer
is grounded, and how long the bot has been answering; it decides to escalate (with reason, skill and priority),
to offer a human, or neither.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.linear_text import scan_prefix
from agent.types import Escalation, EscalationReason, Intent, Sentiment
from knowledge.documents import Turn

__all__ = [
    "DEFAULT_POLICY_PATH",
    "EscalationDecision",
    "EscalationInput",
    "EscalationPolicy",
    "EscalationPolicyConfig",
    "EscalationPolicyError",
    "NamedSkill",
    "SkillLookup",
    "asks_for_human",
    "load_policy_config",
    "similarity",
]

DEFAULT_POLICY_PATH = Path(__file__).with_name("escalation_default.json")


class NamedSkill(Protocol):
    """A skill as a skill map returns it (e.g. `agent.skills.Skill`)."""

    @property
    def name(self) -> str: ...

    @property
    def priority(self) -> int: ...


SkillLookup = Callable[[str], "tuple[str, int] | NamedSkill | None"]
"""Intent name -> (skill, priority) or a skill with `name` and `priority`; None when no skill lists the intent."""
IntentPredicate = Callable[[str], bool]


class EscalationPolicyError(ValueError):
    """The escalation policy file is missing, is not JSON, or holds a bad value."""


# ---------------------------------------------------------------------------------------------------------------------
# "I want a human", in several languages
# ---------------------------------------------------------------------------------------------------------------------

_GAP = r"(?:[\s,]+[\w'’-]+){0,4}?[\s,]+"  # up to four words between two cues


def _any(*words: str) -> str:
    return "(?:" + "|".join(words) + ")"


_EN_HUMAN = _any(
    r"(?:real|actual|live|human|proper)\s+(?:person|human|being|agent|representative|operator|one)",
    r"human(?:\s+being)?s?",
    r"someone", r"somebody", r"anyone", r"anybody", r"(?:an?\s+|the\s+|your\s+|one\s+of\s+your\s+)(?:\w+\s+)?"
    r"(?:agent|representative|rep|operator|advis[eo]r|manager|supervisor|employee|staff(?:\s+member)?|"
    r"team\s+member|colleague|specialist|consultant)s?", r"customer\s+(?:service|support|care)",
    r"(?:a|the)\s+(?:support|service|help\s?desk)\s+team", r"a\s+person",
)  # fmt: skip
_EN_HUMAN = rf"(?:(?:an?|some|the)\s+)?{_EN_HUMAN}"
_EN_BARE = _any(r"agent", r"human", r"representative", r"rep", r"operator", r"person", r"someone", r"manager",
                r"supervisor", r"customer\s+service", r"real\s+person", r"live\s+agent", r"live\s+chat")  # fmt: skip
_DE_HUMAN = _any(
    r"mitarbeiter\w*", r"menschen?", r"person", r"berater\w*", r"kundenberater\w*", r"sachbearbeiter\w*",
    r"ansprechpartner\w*", r"vorgesetzten", r"jemand(?:em|en)?", r"kundendienst", r"kundenservice", r"kollegen",
    r"servicemitarbeiter\w*", r"agenten", r"operator",
)  # fmt: skip
_FR_HUMAN = _any(
    r"conseill(?:er|[eè]re)s?", r"humains?", r"(?:une\s+)?vraie\s+personne", r"une\s+personne(?:\s+r[ée]elle)?",
    r"agents?", r"op[ée]rat(?:eur|rice)s?", r"responsables?", r"quelqu['’]un", r"service\s+client(?:[eè]le)?",
    r"t[ée]l[ée]conseill(?:er|[eè]re)", r"superviseur", r"un\s+vrai",
)  # fmt: skip
_ES_HUMAN = _any(
    r"persona(?:\s+real)?", r"humano", r"agentes?", r"asesor(?:a|es)?", r"operador(?:a|es)?", r"alguien",
    r"representante", r"encargad[oa]", r"supervisor(?:a)?", r"responsable", r"ejecutiv[oa]",
    r"atenci[óo]n\s+al\s+cliente", r"servicio\s+al\s+cliente",
)  # fmt: skip
_NL_HUMAN = _any(r"medewerker", r"mens", r"echte?\s+persoon", r"iemand", r"persoon", r"klantenservice", r"adviseur",
                 r"operator", r"agent")  # fmt: skip
_IT_HUMAN = _any(r"operat(?:ore|rice)", r"persona\s+(?:reale|vera)", r"umano", r"consulente", r"qualcuno",
                 r"addett[oa]", r"assistente\s+umano", r"una\s+persona")  # fmt: skip
_PT_HUMAN = _any(r"atendente", r"humano", r"pessoa(?:\s+real)?", r"agente", r"operador(?:a)?", r"algu[ée]m",
                 r"consultor(?:a)?", r"assistente\s+humano")  # fmt: skip

_ASKS_FOR_HUMAN = re.compile(
    "|".join(
        (
            # en
            rf"\b(?:talk|speak|chat|communicate)(?:ing)?\s+(?:\w+\s+)?(?:to|with)\s+{_EN_HUMAN}\b",
            rf"\b(?:connect|transfer|put|pass|forward|route|switch|hand|escalate)\s+(?:me|us|this(?:\s+chat|\s+"
            rf"conversation)?|my\s+(?:call|case|chat))\s+(?:through\s+|over\s+|on\s+)?(?:to|with)\s+{_EN_HUMAN}\b",
            r"\b(?:get|give|find|bring)\s+me\s+(?:an?\s+|the\s+|some\s+)?(?:real\s+|actual\s+|live\s+)?"
            r"(?:human|person|agent|representative|operator|manager|supervisor|someone|somebody)\b",
            r"\b(?:want|need|like|request|demand|prefer|get)\s+(?:to\s+(?:have|get)\s+)?(?:an?\s+|some\s+)?"
            r"(?:real\s+|actual\s+|live\s+)?(?:human(?:\s+agent|\s+being)?|real\s+person|actual\s+person|live\s+agent|"
            r"representative|operator|agent|manager|supervisor)(?!\s+(?:to\s+sign|to\s+collect))\b",
            r"\bescalat(?:e|ed|ing|ion)\b",
            r"\b(?:someone|somebody|a\s+(?:real\s+)?person|an\s+agent|a\s+human)\s+(?:to\s+|should\s+|could\s+|can\s+)?"
            r"(?:call|ring|phone|contact)\s+me\b|\b(?:can|could|please)\s+(?:you\s+|someone\s+)?(?:call|ring)\s+me\s+back\b",
            r"\b(?:don'?t|do\s+not)\s+want\s+(?:to\s+(?:talk|speak|chat)\s+(?:to|with)\s+)?(?:a|an|the|this|your)\s+"
            r"(?:bot|robot|machine|ai|chatbot|computer)\b|\bno\s+more\s+(?:bots?|robots?|machines?)\b|"
            r"\b(?:is|are)\s+there\s+(?:a|any)\s+(?:real\s+)?(?:human|person|people)\b",
            rf"^\W*(?:(?:an?|the|real|live|human|talk\s+to|speak\s+to|i\s+want|i\s+need)\s+)*{_EN_BARE}"
            r"(?:\s+(?:please|pls|plz|now|asap))*\W*$",
            # de
            rf"\b(?:mit|an|zu)\s+(?:\w+\s+){{0,2}}?{_DE_HUMAN}\b(?:[\s,]+[\w'-]+){{0,3}}?[\s,]+"
            r"(?:sprechen|reden|chatten|telefonieren|verbunden|verbinden|weitergeleitet|weiterleiten)\b",
            rf"\b{_DE_HUMAN}(?:[\s,]+[\w'-]+){{0,2}}?[\s,]+(?:sprechen|reden)\b",
            rf"\b(?:verbinden|verbinde|leiten|stellen)\s+(?:sie|du)?\s*(?:mich|uns)\s+(?:\w+\s+){{0,3}}?(?:mit|an|zu)\s+"
            rf"(?:\w+\s+){{0,2}}?{_DE_HUMAN}\b",
            r"\b(?:will|möchte|brauche|hätte\s+gerne?|verlange)\s+(?:\w+\s+){0,2}?(?:einen?|echten|richtigen)\s+"
            r"(?:echten\s+|richtigen\s+)?(?:menschen|mitarbeiter\w*|berater\w*|ansprechpartner\w*|vorgesetzten)\b",
            r"^\W*(?:einen?\s+)?(?:mitarbeiter\w*|mensch|menschen|berater\w*|kundendienst)(?:\s+bitte)?\W*$",
            # fr
            rf"\b(?:parler|discuter|[ée]changer|dialoguer)\s+(?:\w+\s+){{0,2}}?(?:[àa]|avec)\s+(?:un\s+|une\s+|le\s+|la\s+|"
            rf"l['’])?(?:vrai\s+|vraie\s+)?{_FR_HUMAN}",
            r"\b(?:mettre|mettez|mets)[- ](?:moi|nous)?\s*(?:en\s+(?:relation|contact))\s+(?:avec\s+)?",
            rf"\bpass(?:ez|e)[- ]moi\s+(?:un\s+|une\s+|le\s+|la\s+)?{_FR_HUMAN}",
            r"\b(?:veux|voudrais|souhaite|aimerais|exige)\s+(?:parler\s+[àa]\s+)?(?:un|une)\s+(?:vrai\s+|vraie\s+)?"
            r"(?:humain|personne|conseill(?:er|[eè]re)|agent|op[ée]rat(?:eur|rice))\b",
            # es
            rf"\b(?:hablar|comunicarme|chatear|conversar|contactar)\s+(?:\w+\s+){{0,2}}?(?:con\s+)?(?:un\s+|una\s+|el\s+|"
            rf"la\s+|algún\s+|alguna\s+)?{_ES_HUMAN}\b",
            rf"\b(?:p[áa]s(?:a|e)me|p[óo]ngame|p[óo]nme|transfi[ée]r(?:a|e)me|comun[íi]qu(?:e|a)me)\s+(?:con\s+)?"
            rf"(?:un\s+|una\s+|el\s+|la\s+)?{_ES_HUMAN}\b",
            r"\b(?:quiero|necesito|quisiera|exijo)\s+(?:un|una)\s+(?:humano|agente|asesor(?:a)?|operador(?:a)?|"
            r"persona\s+real)\b",
            # nl
            rf"\b{_NL_HUMAN}(?:[\s,]+[\w'-]+){{0,2}}?[\s,]+(?:spreken|praten|chatten|bellen)\b",
            rf"\b(?:verbind|verbindt|zet)\s+(?:me|mij|ons)\s+(?:\w+\s+){{0,2}}?(?:door\s+)?(?:met|naar)\s+"
            rf"(?:een\s+|de\s+)?{_NL_HUMAN}\b",
            # it
            rf"\b(?:parlare|chattare|comunicare)\s+(?:\w+\s+){{0,2}}?(?:con\s+)?(?:un\s+|una\s+|l['’]|il\s+|la\s+)?"
            rf"{_IT_HUMAN}\b",
            r"\b(?:passami|passatemi|mettimi\s+in\s+contatto\s+con|voglio|vorrei)\s+(?:un\s+|una\s+|l['’])?"
            r"(?:operat(?:ore|rice)|umano|consulente|persona\s+(?:reale|vera))\b",
            # pt
            rf"\b(?:falar|conversar|comunicar)\s+(?:\w+\s+){{0,2}}?(?:com\s+)?(?:um\s+|uma\s+|o\s+|a\s+)?{_PT_HUMAN}\b",
            r"\b(?:quero|preciso\s+de|gostaria\s+de)\s+(?:um|uma)\s+(?:atendente|humano|agente|operador(?:a)?|"
            r"pessoa\s+real)\b",
            r"\b(?:me\s+)?(?:transfira|passe|transfere|passa)[- ]?(?:me)?\s+(?:para\s+)?(?:um\s+|uma\s+|o\s+|a\s+)?"
            r"(?:atendente|humano|agente|operador(?:a)?)\b",
        )
    ),
    re.IGNORECASE,
)
_NOT_WANTED = re.compile(
    r"\b(?:don'?t|do\s+not|doesn'?t|no\s+need\s+to|never|rather\s+not|without|nicht|kein\w*|pas\s+besoin|sans|"
    r"no\s+(?:quiero|necesito|hace\s+falta)|sin|non\s+(?:voglio|serve)|niet|geen|não\s+(?:quero|preciso))\b"
    r"[^.!?;]{0,30}$",
    re.IGNORECASE,
)


def asks_for_human(text: str) -> bool:
    """True when the customer asks to talk to a human, in English, German, French, Spanish, Dutch, Italian or
    Portuguese ("agent please", "can I speak to a real person", "Ich möchte mit einem Mitarbeiter sprechen",
    "parler à un conseiller", "hablar con una persona"); mentions of a person ("my agent at the bank said") and
    refusals ("I don't need to talk to anyone") are not requests. Only the first `SCAN_CHARS` characters are read."""
    text = scan_prefix(text)
    for match in _ASKS_FOR_HUMAN.finditer(text):
        if match.group().lower().startswith(("don", "do not", "no more", "is there", "are there")):
            return True  # "I don't want a bot" asks for a human; the refusal check is for the other phrasings
        if not _NOT_WANTED.search(text, max(0, match.start() - 40), match.start()):
            return True
    return False


_ASSISTANT = r"(?:bot|chat\s*bot|assistant|ai|a\.i\.|virtual\s+agent)"
_PREFERS_ASSISTANT = re.compile(
    "|".join(
        (
            rf"\b(?:keep|continue|carry\s+on)\s+(?:talking|chatting|going|speaking)?\s*"
            rf"(?:to|with)\s+(?:(?:the\s+|this\s+|an?\s+)?{_ASSISTANT}|you)\b",
            rf"\b(?:back|return|switch\s+back)\s+to\s+(?:the\s+|this\s+)?{_ASSISTANT}\b",
            r"\b(?:no|don'?t|do\s+not)\s+need\s+(?:a|an|the|to\s+talk\s+to\s+a)\s+(?:human|person|agent|someone)\b"
            r"(?:\s+(?:any\s*more|after\s+all))?",
            r"\bcancel\s+(?:the\s+|my\s+)?(?:handoff|hand-off|transfer|request\s+for\s+a\s+(?:human|person|agent))\b",
            r"\bnever\s*mind\s+(?:the\s+)?(?:human|person|agent)\b",
            r"\bweiter\s+mit\s+(?:dem\s+)?(?:bot|assistenten|chatbot)\b",
            r"\bcontinuer\s+avec\s+(?:le\s+)?(?:bot|l['’]assistant|assistant|chatbot)\b",
            r"\bseguir\s+con\s+(?:el\s+)?(?:bot|asistente|chatbot)\b",
            r"\bdoorgaan\s+met\s+(?:de\s+)?(?:bot|assistent|chatbot)\b",
            r"\bcontinuare\s+con\s+(?:il\s+|l['’])?(?:bot|assistente|chatbot)\b",
            r"\bcontinuar\s+com\s+(?:o\s+)?(?:bot|assistente|chatbot)\b",
        )
    ),
    re.IGNORECASE,
)


def prefers_assistant(text: str) -> bool:
    """True when a customer waiting for a person says they would rather go on with the assistant ("keep
    chatting with the assistant", "I don't need a human after all", "weiter mit dem Bot", "seguir con el
    asistente"); the web chat's button sends the first of these. Only the first `SCAN_CHARS` characters are read."""
    return _PREFERS_ASSISTANT.search(scan_prefix(text)) is not None


# ---------------------------------------------------------------------------------------------------------------------
# Repeated questions
# ---------------------------------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    """a an the and or but if of to in on at for from with by about as is are was were be been am do does did have has
    had i me my we our you your it its this that these those what which who how why when where can could would should
    will shall may might must please pls hi hello hey thanks thank ok okay so just still again yes no not there here
    any some all get got der die das und oder ich mich mein meine sie ihr ist sind war wie was warum wann wo bitte
    ein eine einen kann können noch nicht le la les un une des et ou je me mon ma mes vous votre est sont comment
    pourquoi quand où merci pas de du el los las y o yo mi mis usted su es son cómo por qué cuándo dónde gracias no
    de del que en""".split()
)


def _content_tokens(text: str) -> frozenset[str]:
    tokens = set()
    for token in _WORD.findall(text.lower()):
        if token in _STOPWORDS or (len(token) < 3 and not token.isdigit()):
            continue
        tokens.add(token[:-1] if len(token) > 4 and token.endswith("s") else token)
    return frozenset(tokens)


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' content words (stop words dropped, plurals folded), in [0, 1]."""
    ta, tb = _content_tokens(a), _content_tokens(b)
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


# ---------------------------------------------------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------------------------------------------------


class EscalationPolicyConfig(BaseModel):
    """The escalation policy's settings, as read from its JSON file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    about: str = ""
    ungrounded_answers_allowed: int = Field(
        default=1,
        ge=0,
        description="Consecutive ungrounded answers given (with an offer of a human) before escalating.",
    )
    min_confidence: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Answers below this confidence count as ungrounded too."
    )
    offer_human_when_ungrounded: bool = True
    offer_human_frustration: float = Field(
        default=0.4, ge=0.0, le=1.0, description="Frustration from which a human is offered (below the threshold)."
    )
    frustration_threshold: float = Field(default=0.6, gt=0.0, le=1.0)
    repeat_similarity: float = Field(default=0.6, gt=0.0, le=1.0)
    repeat_min_words: int = Field(default=3, ge=1, description="Shorter messages ('yes', 'ok thanks') never repeat.")
    repeat_lookback: int = Field(default=6, ge=1, description="Earlier customer turns compared with the message.")
    max_bot_turns: int = Field(default=12, ge=1)
    always_escalate_intents: tuple[str, ...] = ()
    disabled_reasons: tuple[EscalationReason, ...] = ()
    default_skill: str | None = None
    default_priority: int = Field(default=3, ge=1)
    highest_priority: int = Field(default=1, ge=1, description="The most urgent priority (the smallest number).")
    lowest_priority: int = Field(default=5, ge=1)
    frustration_priority_boost: int = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _priorities_ordered(self) -> EscalationPolicyConfig:
        if not self.highest_priority <= self.default_priority <= self.lowest_priority:
            msg = (
                f"priorities must satisfy highest_priority <= default_priority <= lowest_priority, got "
                f"{self.highest_priority}, {self.default_priority}, {self.lowest_priority}"
            )
            raise ValueError(msg)
        if self.offer_human_frustration > self.frustration_threshold:
            msg = (
                f"offer_human_frustration ({self.offer_human_frustration}) must not exceed frustration_threshold "
                f"({self.frustration_threshold})"
            )
            raise ValueError(msg)
        return self


def load_policy_config(path: Path | str | None = None) -> EscalationPolicyConfig:
    """Read and validate a policy file; the shipped `escalation_default.json` when no path is given."""
    source = Path(path) if path is not None else DEFAULT_POLICY_PATH
    try:
        raw: Any = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"escalation policy file {source} does not exist"
        raise EscalationPolicyError(msg) from None
    except json.JSONDecodeError as exc:
        msg = f"escalation policy file {source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise EscalationPolicyError(msg) from None
    if not isinstance(raw, dict):
        msg = f"escalation policy file {source} must hold a JSON object, got {type(raw).__name__}"
        raise EscalationPolicyError(msg)
    try:
        return EscalationPolicyConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(policy)'}: {error['msg']} (got {error.get('input')!r})"
            for error in exc.errors()
        )
        msg = f"escalation policy file {source} has bad values: {problems}"
        raise EscalationPolicyError(msg) from None


@dataclass(frozen=True, slots=True)
class EscalationInput:
    """What the policy looks at for one customer message and the answer the bot is about to give.

    `history` is the conversation before `message`; `bot_turns` counts the answers the bot gave before this one;
    `ungrounded_streak` counts the consecutive ungrounded answers just before this one (the caller keeps it:
    `EscalationPolicy.next_ungrounded_streak` gives the next value).
    """

    message: str
    history: Sequence[Turn]
    sentiment: Sentiment
    intent: Intent | None
    grounded: bool
    confidence: float
    bot_turns: int
    ungrounded_streak: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            msg = f"confidence must lie in [0, 1], got {self.confidence}"
            raise ValueError(msg)
        if self.bot_turns < 0:
            msg = f"bot_turns must not be negative, got {self.bot_turns}"
            raise ValueError(msg)
        if self.ungrounded_streak < 0:
            msg = f"ungrounded_streak must not be negative, got {self.ungrounded_streak}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class EscalationDecision:
    """The policy's answer: an escalation to a human, or none; and whether to offer a human to the customer.

    `offer_human` is only ever True without an escalation (e.g. the first answer the knowledge base cannot ground:
    "I don't know this one; shall I bring in a colleague?").
    """

    escalation: Escalation | None
    offer_human: bool

    @property
    def escalate(self) -> bool:
        return self.escalation is not None


def _never(_: str) -> bool:
    return False


def _no_skill(_: str) -> tuple[str, int] | None:
    return None


class EscalationPolicy:
    """Decides, message by message, whether a conversation goes to a human, with which skill and priority.

    `skill_for` and `always_escalate` consult the skill map by intent name (e.g. the Banking77 `skills.json`);
    without them, only the policy's own `always_escalate_intents`, `default_skill` and `default_priority` apply.
    """

    def __init__(
        self,
        config: EscalationPolicyConfig | None = None,
        *,
        skill_for: SkillLookup | None = None,
        always_escalate: IntentPredicate | None = None,
    ) -> None:
        self.config = config if config is not None else load_policy_config()
        self._skill_for = skill_for or _no_skill
        self._always_escalate = always_escalate or _never

    @classmethod
    def from_file(
        cls,
        path: Path | str | None = None,
        *,
        skill_for: SkillLookup | None = None,
        always_escalate: IntentPredicate | None = None,
    ) -> EscalationPolicy:
        """A policy read from `path` (the shipped default when None)."""
        return cls(load_policy_config(path), skill_for=skill_for, always_escalate=always_escalate)

    def is_ungrounded(self, grounded: bool, confidence: float) -> bool:
        """Whether an answer counts as ungrounded under this policy."""
        return not grounded or confidence < self.config.min_confidence

    def next_ungrounded_streak(self, inp: EscalationInput) -> int:
        """The `ungrounded_streak` to pass with the next message of the conversation."""
        return inp.ungrounded_streak + 1 if self.is_ungrounded(inp.grounded, inp.confidence) else 0

    def repeated_turn(self, message: str, history: Sequence[Turn]) -> str | None:
        """The earlier customer turn (already answered) that `message` essentially repeats, if any."""
        if len(_content_tokens(message)) < self.config.repeat_min_words:
            return None
        compared = 0
        answered = False
        for turn in reversed(history):
            if turn.role == "agent":
                answered = True
                continue
            if compared >= self.config.repeat_lookback:
                break
            compared += 1
            if answered and similarity(message, turn.text) >= self.config.repeat_similarity:
                return turn.text
        return None

    def decide(self, inp: EscalationInput) -> EscalationDecision:
        """Escalate, offer a human, or carry on, for one customer message and the bot's prospective answer."""
        cfg = self.config
        reasons: list[tuple[EscalationReason, str]] = []
        frustration = inp.sentiment.frustration
        frustrated = frustration >= cfg.frustration_threshold
        intent_name = inp.intent.name if inp.intent is not None else None
        ungrounded = self.is_ungrounded(inp.grounded, inp.confidence)

        if asks_for_human(inp.message):
            reasons.append((EscalationReason.CUSTOMER_ASKED, "the customer asked for a human"))
        if intent_name is not None and (
            intent_name in cfg.always_escalate_intents or self._always_escalate(intent_name)
        ):
            reasons.append((EscalationReason.SENSITIVE_INTENT, f"intent {intent_name!r} always goes to a human"))
        if frustrated:
            reasons.append(
                (
                    EscalationReason.FRUSTRATION,
                    f"the customer is frustrated ({frustration:.2f} >= {cfg.frustration_threshold:.2f}"
                    + (f"; {', '.join(inp.sentiment.signals)}" if inp.sentiment.signals else "")
                    + ")",
                )
            )
        if self.repeated_turn(inp.message, inp.history) is not None:
            reasons.append((EscalationReason.REPEATED_FAILURE, "the customer asks again what the bot already answered"))
        if ungrounded and inp.ungrounded_streak >= cfg.ungrounded_answers_allowed:
            reasons.append(
                (
                    EscalationReason.NOT_GROUNDED,
                    f"{inp.ungrounded_streak + 1} answers in a row not grounded in the knowledge base",
                )
            )
        if inp.bot_turns >= cfg.max_bot_turns:
            reasons.append((EscalationReason.TOO_MANY_TURNS, f"the bot has answered {inp.bot_turns} times already"))
        reasons = [(reason, text) for reason, text in reasons if reason not in cfg.disabled_reasons]

        if not reasons:
            offer = (ungrounded and cfg.offer_human_when_ungrounded) or frustration >= cfg.offer_human_frustration
            return EscalationDecision(escalation=None, offer_human=offer)

        skill, priority = self._routing(inp.intent)
        if frustrated:
            priority -= cfg.frustration_priority_boost
        priority = min(max(priority, cfg.highest_priority), cfg.lowest_priority)
        reason, detail = reasons[0]
        if len(reasons) > 1:
            detail += "; also " + "; ".join(text for _, text in reasons[1:])
        if intent_name is not None:
            detail += f" (intent {intent_name})"
        return EscalationDecision(
            escalation=Escalation(reason=reason, detail=detail, skill=skill, priority=priority),
            offer_human=False,
        )

    def _routing(self, intent: Intent | None) -> tuple[str | None, int]:
        cfg = self.config
        if intent is None:
            return cfg.default_skill, cfg.default_priority
        found = self._skill_for(intent.name)
        if isinstance(found, tuple):
            return found
        if found is not None:
            return found.name, found.priority
        if intent.skill is not None:
            return intent.skill, intent.priority if intent.priority is not None else cfg.default_priority
        return cfg.default_skill, intent.priority if intent.priority is not None else cfg.default_priority

"""The agent's typed contract: what it is given and what it answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

from knowledge.documents import Citation, Passage, Turn


class SentimentLabel(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


@dataclass(frozen=True, slots=True)
class Sentiment:
    """How the customer feels: polarity in [-1, 1] and frustration in [0, 1] (this message and recent ones)."""

    label: SentimentLabel
    score: float
    frustration: float
    signals: tuple[str, ...] = ()


class EscalationReason(StrEnum):
    """Why a conversation goes to a human; stable codes for routing and analytics."""

    CUSTOMER_ASKED = "customer_asked_for_human"
    NOT_GROUNDED = "answer_not_grounded"
    REPEATED_FAILURE = "repeated_question"
    FRUSTRATION = "customer_frustrated"
    SENSITIVE_INTENT = "sensitive_intent"
    TOO_MANY_TURNS = "too_many_bot_turns"
    AGENT_FAILURE = "agent_failure"
    OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True, slots=True)
class Escalation:
    """A decision to hand the conversation to a human, with what routing needs."""

    reason: EscalationReason
    detail: str
    skill: str | None = None
    priority: int = 3


@dataclass(frozen=True, slots=True)
class Intent:
    """The detected intent and the skill it needs."""

    name: str
    confidence: float
    out_of_scope: bool
    skill: str | None = None
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class AgentReply:
    """What the agent answers to one customer message."""

    text: str
    citations: tuple[Citation, ...]
    confidence: float
    grounded: bool
    intent: Intent | None
    sentiment: Sentiment
    escalation: Escalation | None
    answered_from_knowledge: bool
    writer: str
    standalone_question: str
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    """What an answer writer gets: personal data already redacted, passages numbered from 1."""

    question: str
    message: str
    history: Sequence[Turn]
    passages: Sequence[Passage]
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """An answer as a writer produced it, with the passages (1-based) it says it used."""

    text: str
    cited: tuple[int, ...]
    writer: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of answer text as it is written."""

    text: str
    kind: Literal["delta"] = "delta"


class AnswerWriter(Protocol):
    """Writes an answer from retrieved passages: Gemini, any LangChain chat model, or the offline writer."""

    name: str

    async def write(self, request: AnswerRequest) -> Draft:
        """The whole answer at once."""
        ...

    def stream(self, request: AnswerRequest) -> AsyncIterator[TextDelta]:
        """The answer as it is written; joining the deltas gives the same text `write` would."""
        ...


class QuestionRewriter(Protocol):
    """Turns a follow-up into a question that stands on its own, using the conversation before it."""

    async def rewrite(self, message: str, history: Sequence[Turn]) -> str: ...

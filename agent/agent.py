"""The support agent: one customer message in, a typed `AgentReply` out (or streamed)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from agent.escalation import EscalationInput, EscalationPolicy, asks_for_human, prefers_assistant
from agent.extractive import ExtractiveWriter, sentence_pieces
from agent.grounding import GroundingChecker, cited_markers, split_sentences
from agent.guardrails import detect_injection, leaks_system_prompt, redact
from agent.intents import IntentClassifier
from agent.knowledge_gate import is_acknowledgement, seeks_knowledge
from agent.linear_text import scan_prefix
from agent.llm import ModelUnavailableError
from agent.prompts import ANSWER_SYSTEM_PROMPT
from agent.rewrite import OfflineRewriter
from agent.sentiment import analyze_sentiment
from agent.skills import SkillMap
from agent.types import (
    AgentReply,
    AnswerRequest,
    AnswerWriter,
    Draft,
    Escalation,
    EscalationReason,
    Intent,
    QuestionRewriter,
    Sentiment,
    TextDelta,
)
from knowledge.documents import Citation, MetadataValue, Passage, Turn

logger = logging.getLogger(__name__)

HANDOFF = "I'm passing you to a member of our support team now; they will see everything we've discussed."
NO_ANSWER = (
    "I couldn't find that in our help centre, and I'd rather not guess. "
    "Would you like me to connect you with a member of our team?"
)
OFFER = "If this doesn't solve it, I can connect you with a member of our team."
NOT_A_QUESTION = (
    "I can only answer questions from our help centre here, so I can't do that myself. "
    "Would you like me to connect you with a member of our team who can?"
)
ACKNOWLEDGED = "You're welcome. Is there anything else I can help you with?"
BACK_TO_ASSISTANT = "Of course, I'm here. What would you like to know?"


class KnowledgeSearch(Protocol):
    """What the agent needs of the knowledge base."""

    def search(
        self,
        query: str,
        *,
        history: Sequence[Turn] = (),
        k: int = 5,
        filters: Mapping[str, MetadataValue] | None = None,
    ) -> list[Passage]: ...


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Tunable numbers of the agent."""

    passages: int = 5
    min_confidence: float = 0.35
    history_turns: int = 10


@dataclass(frozen=True, slots=True)
class ConversationMemory:
    """What the agent knows of the conversation before this message (already redacted)."""

    history: tuple[Turn, ...] = ()
    bot_turns: int = 0
    ungrounded_streak: int = 0


@dataclass(slots=True)
class AgentDeps:
    """Everything the agent uses, built once and passed in."""

    knowledge: KnowledgeSearch
    policy: EscalationPolicy
    writer: AnswerWriter | None = None
    rewriter: QuestionRewriter | None = None
    offline: ExtractiveWriter = field(default_factory=ExtractiveWriter)
    offline_rewriter: OfflineRewriter = field(default_factory=OfflineRewriter)
    checker: GroundingChecker = field(default_factory=GroundingChecker)
    intents: IntentClassifier | None = None
    skills: SkillMap | None = None
    config: AgentConfig = field(default_factory=AgentConfig)


@dataclass(frozen=True, slots=True)
class _Prepared:
    message: str
    history: tuple[Turn, ...]
    sentiment: Sentiment
    intent: Intent | None
    question: str
    passages: list[Passage]
    confidence: float
    injection: bool
    asked_for_human: bool
    prefers_assistant: bool
    acknowledgement: bool
    seeks_knowledge: bool
    timings: dict[str, float]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


@dataclass(frozen=True, slots=True)
class _Reading:
    """What the text classifiers make of one message (CPU work, done in a worker thread in one hop)."""

    clean: str
    injection: bool
    sentiment: Sentiment
    asked_for_human: bool
    prefers_assistant: bool
    acknowledgement: bool
    seeks_knowledge: bool
    offline_question: str


def _read_message(message: str, history: Sequence[Turn], rewriter: OfflineRewriter) -> _Reading:
    """The guardrails' and classifiers' reading of a message.

    The whole message is redacted; the agent then works on the first `SCAN_CHARS` characters of the redacted text,
    the part the detectors read, so that nothing they did not read reaches a model.
    """
    clean = scan_prefix(redact(message).text)
    return _Reading(
        clean=clean,
        injection=detect_injection(clean).suspicious,
        sentiment=analyze_sentiment(clean, history),
        asked_for_human=asks_for_human(clean),
        prefers_assistant=prefers_assistant(clean),
        acknowledgement=is_acknowledgement(clean),
        seeks_knowledge=seeks_knowledge(clean),
        offline_question=rewriter.rewrite_now(clean, history),
    )


class SupportAgent:
    """Answers from the knowledge base with citations, or decides to hand over to a human.

    Personal data is redacted before anything else sees the message. The model writer (Gemini) is
    used when configured; if it fails, times out, or writes something its passages do not support,
    the offline extractive writer answers instead; if nothing grounded can be said, the agent says
    so and offers a person. Every reply carries its escalation decision for routing.
    """

    def __init__(self, deps: AgentDeps) -> None:
        self.deps = deps

    async def _prepare(
        self, message: str, memory: ConversationMemory, filters: Mapping[str, MetadataValue] | None
    ) -> _Prepared:
        deps = self.deps
        timings: dict[str, float] = {}
        start = time.perf_counter()
        history = memory.history[-deps.config.history_turns :]
        reading = await anyio.to_thread.run_sync(_read_message, message, history, deps.offline_rewriter)
        clean, injection = reading.clean, reading.injection
        timings["guardrails"] = _ms(start)

        intent = None
        if deps.intents is not None:
            start = time.perf_counter()
            intent = await anyio.to_thread.run_sync(self._classify, clean)
            timings["intent"] = _ms(start)

        start = time.perf_counter()
        question = reading.offline_question
        if deps.rewriter is not None and history and question != clean and not injection:
            try:
                question = await deps.rewriter.rewrite(clean, history)
            except ModelUnavailableError as exc:
                logger.warning("question rewrite fell back to the offline rewrite: %s", exc)
        timings["rewrite"] = _ms(start)

        start = time.perf_counter()
        passages = await anyio.to_thread.run_sync(
            lambda: deps.knowledge.search(question, history=history, k=deps.config.passages, filters=filters)
        )
        timings["retrieval"] = _ms(start)
        confidence = passages[0].score if passages else 0.0
        return _Prepared(
            message=clean,
            history=history,
            sentiment=reading.sentiment,
            intent=intent,
            question=question,
            passages=passages,
            confidence=confidence,
            injection=injection,
            asked_for_human=reading.asked_for_human,
            prefers_assistant=reading.prefers_assistant,
            acknowledgement=reading.acknowledgement,
            seeks_knowledge=reading.seeks_knowledge,
            timings=timings,
        )

    def _classify(self, text: str) -> Intent | None:
        deps = self.deps
        assert deps.intents is not None
        prediction = deps.intents.predict(text)
        skill = deps.skills.skill_for(prediction.intent) if deps.skills is not None else None
        return Intent(
            name=prediction.intent,
            confidence=round(float(prediction.confidence), 4),
            out_of_scope=prediction.out_of_scope,
            skill=skill.name if skill is not None else None,
            priority=skill.priority if skill is not None else None,
        )

    async def reply(
        self,
        message: str,
        memory: ConversationMemory | None = None,
        *,
        filters: Mapping[str, MetadataValue] | None = None,
    ) -> AgentReply:
        """The agent's reply to one customer message."""
        return await final_reply(self.reply_stream(message, memory, filters=filters))

    async def reply_stream(
        self,
        message: str,
        memory: ConversationMemory | None = None,
        *,
        filters: Mapping[str, MetadataValue] | None = None,
    ) -> AsyncIterator[TextDelta | AgentReply]:
        """Text as it is written (only sentences that passed the grounding check), then the whole reply."""
        if not message.strip():
            msg = "the message is empty"
            raise ValueError(msg)
        memory = memory or ConversationMemory()
        total = time.perf_counter()
        prep = await self._prepare(message, memory, filters)
        deps = self.deps

        if prep.asked_for_human:
            decision = deps.policy.decide(self._escalation_input(prep, memory, grounded=True))
            yield TextDelta(HANDOFF)
            yield self._final(prep, HANDOFF, (), False, decision.escalation, "handoff", total)
            return

        if prep.prefers_assistant:  # back from waiting for a person (or just reassuring the customer)
            yield TextDelta(BACK_TO_ASSISTANT)
            yield self._final(prep, BACK_TO_ASSISTANT, (), False, None, "smalltalk", total)
            return

        if prep.acknowledgement:
            decision = deps.policy.decide(self._escalation_input(prep, memory, grounded=True))
            text = ACKNOWLEDGED if decision.escalation is None else HANDOFF
            yield TextDelta(text)
            yield self._final(prep, text, (), False, decision.escalation, "smalltalk", total)
            return

        draft: Draft | None = None
        text = ""
        cited: tuple[int, ...] = ()
        writer_name = deps.offline.name
        seeks = prep.seeks_knowledge
        if seeks and prep.passages and prep.confidence >= deps.config.min_confidence:
            request = AnswerRequest(
                question=prep.question, message=prep.message, history=prep.history, passages=prep.passages
            )
            if deps.writer is not None and not prep.injection:
                streamed: list[str] = []
                try:
                    async for sentence in self._checked_sentences(deps.writer, request, prep.passages):
                        streamed.append(sentence)
                        yield TextDelta(sentence + " ")
                    model_text = " ".join(streamed).strip()
                    if model_text and not leaks_system_prompt(model_text, ANSWER_SYSTEM_PROMPT):
                        draft = Draft(model_text, cited_markers(model_text, len(prep.passages)), deps.writer.name)
                except ModelUnavailableError as exc:
                    logger.warning("model writer failed, answering offline: %s", exc)
                if streamed and draft is None:
                    yield TextDelta("\n\n")
            if draft is None:
                offline = await anyio.to_thread.run_sync(deps.offline.compose, request)
                report = deps.checker.check(offline.text, prep.passages, offline.cited)
                if report.fully_supported:
                    draft = Draft(report.supported_text, offline.cited, offline.writer)
                    for piece in sentence_pieces(draft.text):
                        yield TextDelta(piece)
            if draft is not None:
                text, cited, writer_name = draft.text.strip(), draft.cited, draft.writer

        grounded = bool(text)
        decision = deps.policy.decide(self._escalation_input(prep, memory, grounded=grounded))
        escalation = decision.escalation
        if not grounded:
            text = HANDOFF if escalation is not None else NO_ANSWER if seeks else NOT_A_QUESTION
            yield TextDelta(text)
        elif escalation is not None:
            yield TextDelta("\n\n" + HANDOFF)
            text = f"{text}\n\n{HANDOFF}"
        elif decision.offer_human:
            yield TextDelta("\n\n" + OFFER)
            text = f"{text}\n\n{OFFER}"
        citations = tuple(prep.passages[i - 1].citation for i in cited)
        yield self._final(prep, text, citations, grounded, escalation, writer_name, total)

    async def _checked_sentences(
        self, writer: AnswerWriter, request: AnswerRequest, passages: Sequence[Passage]
    ) -> AsyncIterator[str]:
        """The model's answer sentence by sentence, each let through only if the passages support it."""
        buffer = ""
        async for delta in writer.stream(request):
            buffer += delta.text
            parts = split_sentences(buffer)
            if len(parts) > 1:
                for sentence in parts[:-1]:
                    if self.deps.checker.check(sentence, passages).fully_supported:
                        yield sentence
                buffer = parts[-1]
        if buffer.strip() and self.deps.checker.check(buffer, passages).fully_supported:
            yield buffer.strip()

    def _escalation_input(self, prep: _Prepared, memory: ConversationMemory, *, grounded: bool) -> EscalationInput:
        return EscalationInput(
            message=prep.message,
            history=prep.history,
            sentiment=prep.sentiment,
            intent=prep.intent,
            grounded=grounded,
            confidence=prep.confidence if grounded else 0.0,
            bot_turns=memory.bot_turns,
            ungrounded_streak=memory.ungrounded_streak,
        )

    def _final(
        self,
        prep: _Prepared,
        text: str,
        citations: tuple[Citation, ...],
        grounded: bool,
        escalation: Escalation | None,
        writer: str,
        total: float,
    ) -> AgentReply:
        timings = {**prep.timings, "total": _ms(total)}
        return AgentReply(
            text=text,
            citations=citations,
            confidence=round(prep.confidence, 4),
            grounded=grounded,
            intent=prep.intent,
            sentiment=prep.sentiment,
            escalation=escalation,
            answered_from_knowledge=grounded,
            writer=writer,
            standalone_question=prep.question,
            timings_ms=timings,
        )


async def final_reply(events: AsyncIterator[TextDelta | AgentReply]) -> AgentReply:
    """The `AgentReply` that ends a reply stream (the text deltas before it are dropped)."""
    final: AgentReply | None = None
    async for event in events:
        if isinstance(event, AgentReply):
            final = event
    if final is None:
        msg = "the reply stream ended without a reply"
        raise RuntimeError(msg)
    return final


def failure_reply(exc: BaseException, sentiment: Sentiment) -> AgentReply:
    """The reply when the agent itself fails: the conversation goes to a person, visibly."""
    return AgentReply(
        text=HANDOFF,
        citations=(),
        confidence=0.0,
        grounded=False,
        intent=None,
        sentiment=sentiment,
        escalation=Escalation(reason=EscalationReason.AGENT_FAILURE, detail=f"the agent failed: {exc}", priority=2),
        answered_from_knowledge=False,
        writer="handoff",
        standalone_question="",
    )


__all__ = [
    "AgentConfig",
    "AgentDeps",
    "ConversationMemory",
    "KnowledgeSearch",
    "SupportAgent",
    "failure_reply",
    "final_reply",
]

"""Draft articles for knowledge gaps, from what people answered in the conversations they resolved.

For a topic, the human replies of its conversations that a person resolved are the material. Offline, the draft
is extractive: the topic's label as title, the ways customers asked, then the most representative sentences of
the people's replies (close to the questions and to each other), near-duplicates dropped. With a ``Drafter`` (a
chat model, wired by the service) the model writes the article from the same material; any failure, timeout or
empty reply falls back to the extractive draft. Every draft starts with ``DRAFT_MARK``: a person reviews it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import anyio
import numpy as np

from analytics.events import EventKind, InteractionEvent
from analytics.gaps import Encoder, GapTopic

logger = logging.getLogger(__name__)

DRAFT_MARK = "DRAFT — review before publishing"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_SALUTATION = re.compile(r"^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))\b[^,.!?:]{0,40}[,.!:]\s*", re.I)
_COURTESY = re.compile(
    r"^(?:thanks?|thank you|you'?re welcome|sorry|apologies|kind regards|best regards|regards|best|cheers|"
    r"have a (?:great|nice|good)|is there anything else|anything else|let me know if|hope this helps|"
    r"i hope this helps|glad to help|happy to help)\b",
    re.I,
)
_PLACEHOLDER = re.compile(r"\[[A-Z][A-Z_]*\]")  # redacted personal data, e.g. [EMAIL]: specific to one customer
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class DraftRequest:
    """The material of one draft: a title, how customers asked, and what people answered (one per conversation)."""

    title: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]


Drafter = Callable[[DraftRequest], Awaitable[str]]
"""Writes an article from a ``DraftRequest`` (Markdown text), e.g. through a chat model; may raise."""

Scrub = Callable[[str], str]
"""Removes personal data from a text (the service passes its redactor)."""


def resolved_by_people(events: Iterable[InteractionEvent]) -> set[str]:
    """The conversations a person resolved (``data.by == "human"``, or a resolution with an actor and no ``by``)."""
    found: set[str] = set()
    for event in events:
        if event.kind is EventKind.RESOLUTION:
            by = event.data.get("by")
            if by == "human" or (by is None and event.actor):
                found.add(event.conversation_id)
    return found


def human_answers(events: Iterable[InteractionEvent], conversation_ids: Iterable[str]) -> dict[str, str]:
    """What people wrote in each of these conversations that a person resolved, replies joined in time order."""
    events = sorted(events, key=lambda e: e.at)
    wanted = set(conversation_ids) & resolved_by_people(events)
    replies: dict[str, list[str]] = {}
    for event in events:
        if event.kind is EventKind.HUMAN_REPLY and event.conversation_id in wanted and (event.text or "").strip():
            replies.setdefault(event.conversation_id, []).append((event.text or "").strip())
    return {cid: "\n".join(texts) for cid, texts in sorted(replies.items())}


def draft_request(topic: GapTopic, answers: Sequence[str], *, max_questions: int = 6) -> DraftRequest:
    """The material of ``topic``'s draft."""
    title = topic.label.strip()
    title = title[:1].upper() + title[1:]
    return DraftRequest(title=title, questions=tuple(topic.questions[:max_questions]), answers=tuple(answers))


def answer_sentences(answers: Iterable[str]) -> list[str]:
    """The informative sentences of people's replies: salutations, courtesies, very short sentences and sentences
    holding redacted personal data left out; exact repeats once."""
    kept: dict[str, str] = {}
    for answer in answers:
        for piece in _SENTENCE_END.split(answer):
            sentence = _SALUTATION.sub("", piece.strip()).strip()
            if (
                len(_WORD.findall(sentence)) < 4
                or _COURTESY.match(sentence)
                or _PLACEHOLDER.search(sentence)
                or sentence.endswith("?")
            ):
                continue
            kept.setdefault(" ".join(sentence.casefold().split()), sentence[:1].upper() + sentence[1:])
    return list(kept.values())


def extractive_draft(
    request: DraftRequest, encode: Encoder, *, max_sentences: int = 6, duplicate: float = 0.85
) -> str | None:
    """An article built from the most representative answer sentences; None when people answered nothing usable."""
    sentences = answer_sentences(request.answers)
    if not sentences:
        return None
    vectors = np.asarray(encode([*request.questions, *sentences]), dtype=np.float64)
    asked, said = vectors[: len(request.questions)], vectors[len(request.questions) :]
    relevance = said @ asked.mean(axis=0) if len(asked) else np.zeros(len(said))
    consensus = (said @ said.T).sum(axis=1) - 1.0
    consensus = consensus / max(len(said) - 1, 1)
    score = relevance + consensus
    chosen: list[int] = []
    for row in sorted(range(len(sentences)), key=lambda i: (-score[i], i)):
        if all(float(said[row] @ said[other]) < duplicate for other in chosen):
            chosen.append(row)
        if len(chosen) == max_sentences:
            break
    people = len(request.answers)
    lines = [
        DRAFT_MARK,
        f"(extractive: sentences of the replies people wrote in {people} resolved conversation"
        f"{'s' if people != 1 else ''}; check every fact)",
        "",
        f"# {request.title}",
        "",
        "## How customers ask",
        *(f"- {question}" for question in request.questions),
        "",
        "## Answer",
        *(sentences[row] for row in chosen),
    ]
    return "\n".join(lines)


def marked(text: str) -> str:
    """``text`` with ``DRAFT_MARK`` as its first line."""
    text = text.strip()
    return text if text.startswith(DRAFT_MARK) else f"{DRAFT_MARK}\n\n{text}"


async def write_draft(
    request: DraftRequest,
    encode: Encoder,
    *,
    drafter: Drafter | None = None,
    timeout: float = 60.0,
    scrub: Scrub | None = None,
) -> str | None:
    """The draft of one topic: the drafter's when it answers in time, else the extractive one (in a worker
    thread); ``scrub`` is applied to either."""
    text: str | None = None
    if drafter is not None and request.answers:
        try:
            async with asyncio.timeout(timeout):
                written = (await drafter(request)).strip()
            text = marked(written) if written else None
            if text is None:
                logger.warning(
                    "the drafter wrote nothing (%d questions); using the extractive draft", len(request.questions)
                )
        except Exception as exc:  # any failure of the model: the extractive draft serves instead
            logger.warning("the drafter failed (%s); using the extractive draft", type(exc).__name__)
    if text is None:  # encoding is CPU work: off the event loop
        text = await anyio.to_thread.run_sync(functools.partial(extractive_draft, request, encode))
    if text is not None and scrub is not None:
        text = scrub(text)
    return text


async def add_drafts(
    topics: Sequence[GapTopic],
    events: Iterable[InteractionEvent],
    encode: Encoder,
    *,
    drafter: Drafter | None = None,
    timeout: float = 60.0,
    scrub: Scrub | None = None,
) -> list[GapTopic]:
    """``topics`` with drafts from the conversations of each that a person resolved (None where there are none)."""
    events = list(events)

    def material() -> list[dict[str, str]]:  # sorting a period's events per topic is CPU work: off the loop
        return [human_answers(events, topic.conversation_ids) for topic in topics]

    drafted = []
    for topic, answers in zip(topics, await anyio.to_thread.run_sync(material), strict=True):
        draft = None
        if answers:
            request = draft_request(topic, list(answers.values()))
            draft = await write_draft(request, encode, drafter=drafter, timeout=timeout, scrub=scrub)
        drafted.append(dataclasses.replace(topic, draft=draft))
    return drafted

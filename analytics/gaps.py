"""Knowledge gaps: the questions the knowledge base could not answer, grouped into topics a writer can act on.

A question counts as unanswered when the assistant's answer to it was not grounded or below a confidence, when
the conversation was handed to people because the knowledge base had no answer, or when the customer rated the
conversation 2 or less (then every question the assistant answered in it counts). The questions are grouped by
meaning (sentence embeddings, average-linkage clustering under a cosine distance threshold: deterministic, no
number of topics to guess) and each topic is reported with its most central question as label, counts, reasons,
a few varied examples and when it was first and last seen. Texts are the redacted ones of the interaction log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics.events import EventKind, InteractionEvent

Encoder = Callable[[Sequence[str]], npt.NDArray[np.floating[Any]]]
"""Texts to unit-length vectors, one row per text (the service passes its sentence-transformers embedder)."""

NOT_GROUNDED = "not_grounded"
LOW_CONFIDENCE = "low_confidence"
ESCALATED = "escalated"
LOW_RATING = "low_rating"

# Escalation reasons that mean "the knowledge base had no answer" (codes of the agent's EscalationReason).
KNOWLEDGE_ESCALATIONS = frozenset({"answer_not_grounded", "repeated_question", "low_confidence"})

GAP_KINDS = (
    EventKind.MESSAGE_IN,
    EventKind.ANSWER,
    EventKind.ESCALATION,
    EventKind.HUMAN_REPLY,
    EventKind.RESOLUTION,
    EventKind.RATING,
)
"""The event kinds a gap report (with drafts) reads."""

_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class GapSettings:
    """What counts as unanswered, and how questions are grouped.

    ``distance``: the cosine distance (1 - similarity) under which average-linkage clustering joins two groups;
    larger gives fewer, broader topics. ``max_questions``: the most recent distinct questions kept (clustering
    costs memory in the square of it).
    """

    min_confidence: float = 0.0
    max_rating: float = 2.0
    escalation_reasons: frozenset[str] = KNOWLEDGE_ESCALATIONS
    distance: float = 0.55
    examples: int = 3
    min_words: int = 2
    max_questions: int = 4000

    def __post_init__(self) -> None:
        if not 0.0 < self.distance < 2.0:
            msg = f"distance must lie in (0, 2) (cosine distance), got {self.distance}"
            raise ValueError(msg)
        if self.examples < 1 or self.max_questions < 1:
            msg = f"examples and max_questions must be at least 1, got {self.examples} and {self.max_questions}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class UnansweredQuestion:
    """One customer question the knowledge base did not answer well, with why it counts (one or more reasons)."""

    text: str
    conversation_id: str
    at: dt.datetime
    reasons: frozenset[str]
    customer: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class GapTopic:
    """A group of unanswered questions about one subject: what a writer reads to choose the next article."""

    topic: str  # a stable id: "gap:" + a digest of the label
    label: str  # the most central question
    count: int  # questions (one per conversation and phrasing)
    conversations: int
    customers: int
    reasons: dict[str, int]  # questions per reason (a question may have several)
    examples: tuple[str, ...]
    first_seen: dt.datetime
    last_seen: dt.datetime
    questions: tuple[str, ...] = ()  # every distinct phrasing, most asked first
    conversation_ids: tuple[str, ...] = ()
    draft: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the API and of ``frontdesk report gaps --json``."""
        return {
            "topic": self.topic,
            "label": self.label,
            "count": self.count,
            "conversations": self.conversations,
            "customers": self.customers,
            "examples": list(self.examples),
            "reasons": dict(self.reasons),
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "draft": self.draft,
        }


@dataclass(slots=True)
class _Pending:
    text: str
    conversation_id: str
    at: dt.datetime
    customer: str | None
    channel: str | None
    reasons: set[str] = field(default_factory=set)


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def collect_questions(
    events: Iterable[InteractionEvent], settings: GapSettings | None = None
) -> list[UnansweredQuestion]:
    """The unanswered questions among ``events`` (any order), one per conversation and phrasing, oldest first."""
    settings = settings or GapSettings()
    # At equal times a customer's message comes before what answered it.
    ordered = sorted(events, key=lambda e: (e.at, e.kind is not EventKind.MESSAGE_IN))
    last_message: dict[str, InteractionEvent] = {}
    messages: dict[str, list[InteractionEvent]] = {}
    customers: dict[str, str] = {}
    answered: dict[str, list[tuple[str, InteractionEvent]]] = {}
    low_rated: set[str] = set()
    found: dict[tuple[str, str], _Pending] = {}

    def add(text: str | None, event: InteractionEvent, reason: str) -> None:
        text = (text or "").strip()
        if len(_WORD.findall(text)) < settings.min_words:
            return
        key = (event.conversation_id, _normal(text))
        pending = found.get(key)
        if pending is None:
            customer = event.customer or customers.get(event.conversation_id)
            pending = _Pending(text, event.conversation_id, event.at, customer, event.channel)
            found[key] = pending
        pending.reasons.add(reason)

    for event in ordered:
        cid = event.conversation_id
        if event.kind is EventKind.MESSAGE_IN:
            last_message[cid] = event
            messages.setdefault(cid, []).append(event)
            if event.customer:
                customers[cid] = event.customer
        elif event.kind is EventKind.ANSWER:
            question = event.data.get("question") or (last_message[cid].text if cid in last_message else None)
            if isinstance(question, str):
                answered.setdefault(cid, []).append((question, event))
                if event.data.get("grounded") is False:
                    add(question, event, NOT_GROUNDED)
                elif event.confidence is not None and event.confidence < settings.min_confidence:
                    add(question, event, LOW_CONFIDENCE)
        elif event.kind is EventKind.ESCALATION and event.reason in settings.escalation_reasons:
            question = event.data.get("question") or (last_message[cid].text if cid in last_message else None)
            add(question if isinstance(question, str) else None, event, ESCALATED)
        elif event.kind is EventKind.RATING and event.value is not None and event.value <= settings.max_rating:
            low_rated.add(cid)
    for cid in sorted(low_rated):  # the questions the assistant answered, else what the customer wrote
        asked = answered.get(cid) or [(m.text or "", m) for m in messages.get(cid, [])]
        for question, event in asked:
            add(question, event, LOW_RATING)
    questions = [
        UnansweredQuestion(p.text, p.conversation_id, p.at, frozenset(p.reasons), p.customer, p.channel)
        for p in found.values()
    ]
    return sorted(questions, key=lambda q: (q.at, q.conversation_id, q.text))


def cluster_labels(vectors: npt.NDArray[np.floating[Any]], distance: float) -> npt.NDArray[np.intp]:
    """A group number per row: average-linkage agglomerative clustering under a cosine distance threshold."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=np.intp)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance)
    return np.asarray(model.fit_predict(np.asarray(vectors, dtype=np.float64)), dtype=np.intp)


def central_and_varied(
    vectors: npt.NDArray[np.floating[Any]], weights: Sequence[float], k: int
) -> tuple[int, list[int]]:
    """The most central row (highest weighted mean similarity to the others) and up to ``k`` varied rows, the
    central one first, each next the one least like those already chosen."""
    sims = np.asarray(vectors @ vectors.T, dtype=np.float64)
    centrality = sims @ np.asarray(weights, dtype=np.float64)
    center = int(np.argmax(centrality))
    chosen = [center]
    closest = sims[center].copy()
    while len(chosen) < min(k, len(vectors)):
        closest[chosen] = np.inf
        pick = int(np.argmin(closest))
        chosen.append(pick)
        closest = np.maximum(closest, sims[pick])
    return center, chosen


def topic_id(label: str) -> str:
    """A stable id for a topic: the same label gives the same id from one report to the next."""
    return "gap:" + hashlib.sha256(_normal(label).encode()).hexdigest()[:12]


def group_questions(
    questions: Sequence[UnansweredQuestion], encode: Encoder, settings: GapSettings | None = None
) -> list[GapTopic]:
    """Group questions into topics, most asked first (then most recent, then by label)."""
    settings = settings or GapSettings()
    by_text: dict[str, list[UnansweredQuestion]] = {}
    for question in questions:
        by_text.setdefault(_normal(question.text), []).append(question)
    keys = sorted(by_text, key=lambda key: max(q.at for q in by_text[key]), reverse=True)[: settings.max_questions]
    keys.sort(key=lambda key: (min(q.at for q in by_text[key]), key))
    if not keys:
        return []
    texts = [by_text[key][0].text for key in keys]
    vectors = np.asarray(encode(texts), dtype=np.float64)
    if vectors.shape[0] != len(texts):
        msg = f"the encoder returned {vectors.shape[0]} vectors for {len(texts)} texts"
        raise ValueError(msg)
    groups: dict[int, list[int]] = {}
    for row, group in enumerate(cluster_labels(vectors, settings.distance)):
        groups.setdefault(int(group), []).append(row)
    topics = [_topic([by_text[keys[row]] for row in rows], vectors[rows], settings) for rows in groups.values()]
    return sorted(topics, key=lambda t: (-t.count, -t.last_seen.timestamp(), t.label))


def _topic(
    phrasings: list[list[UnansweredQuestion]], vectors: npt.NDArray[np.float64], settings: GapSettings
) -> GapTopic:
    weights = [len(asked) for asked in phrasings]
    center, varied = central_and_varied(vectors, weights, settings.examples)
    members = [question for asked in phrasings for question in asked]
    reasons: dict[str, int] = {}
    for question in members:
        for reason in question.reasons:
            reasons[reason] = reasons.get(reason, 0) + 1
    label = phrasings[center][0].text
    popular = sorted(range(len(phrasings)), key=lambda i: (-weights[i], i))
    return GapTopic(
        topic=topic_id(label),
        label=label,
        count=len(members),
        conversations=len({q.conversation_id for q in members}),
        customers=len({q.customer for q in members if q.customer}),
        reasons=dict(sorted(reasons.items(), key=lambda item: (-item[1], item[0]))),
        examples=tuple(phrasings[i][0].text for i in varied),
        first_seen=min(q.at for q in members),
        last_seen=max(q.at for q in members),
        questions=tuple(phrasings[i][0].text for i in popular),
        conversation_ids=tuple(sorted({q.conversation_id for q in members})),
    )


def find_gaps(
    events: Iterable[InteractionEvent], encode: Encoder, settings: GapSettings | None = None
) -> list[GapTopic]:
    """The knowledge gaps among ``events``: unanswered questions grouped into topics, most asked first."""
    settings = settings or GapSettings()
    return group_questions(collect_questions(events, settings), encode, settings)

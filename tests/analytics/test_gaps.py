"""Knowledge gaps with the real embedder: which questions count as unanswered, how they group into topics, and
the draft articles built from what people answered (extractive, or a drafter's with fallback)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from analytics.events import EventKind, InteractionEvent
from analytics.gap_drafts import DRAFT_MARK, DraftRequest, add_drafts, answer_sentences, human_answers
from analytics.gaps import GapSettings, GapTopic, collect_questions, find_gaps, topic_id
from knowledge.embeddings import SentenceTransformerEmbedder

T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)

PAYPAL = (
    "Can I pay with PayPal?",
    "do you accept paypal payments",
    "Is PayPal available as a payment method at checkout?",
    "how can I check out using my paypal account",
)
GIFT_WRAP = (
    "Do you offer gift wrapping?",
    "can you wrap my order as a present",
    "Is it possible to add gift wrap and a card to a parcel?",
)
ANSWERED = ("How long do refunds take?", "What is your return policy for shoes?")
PAYPAL_REPLY = (
    "Hi Maria, yes we accept PayPal. Choose PayPal on the payment step of the checkout and you will be sent to "
    "PayPal to confirm the payment. I have also sent the instructions to [EMAIL]. Thanks for waiting!"
)
PAYPAL_REPLY_2 = (
    "Hello! PayPal is accepted for every order. On the payment step of the checkout, pick PayPal and confirm "
    "the payment on the PayPal page. Anything else I can do for you?"
)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def asked(cid: str, minute: int, text: str, *, grounded: bool, confidence: float = 0.2) -> list[InteractionEvent]:
    """A customer's message and the assistant's answer to it."""
    customer = f"customer-{cid}"
    return [
        InteractionEvent(EventKind.MESSAGE_IN, cid, at(minute), channel="webchat", customer=customer, text=text),
        InteractionEvent(
            EventKind.ANSWER,
            cid,
            at(minute),
            channel="webchat",
            confidence=confidence if not grounded else 0.8,
            text="...",
            data={"grounded": grounded, "question": text, "citations": [], "writer": "offline", "escalated": False},
        ),
    ]


def resolved_by_a_person(cid: str, minute: int, reply: str) -> list[InteractionEvent]:
    return [
        InteractionEvent(
            EventKind.ESCALATION, cid, at(minute), reason="answer_not_grounded", data={"priority": 3, "question": ""}
        ),
        InteractionEvent(EventKind.HUMAN_REPLY, cid, at(minute + 1), actor="ana", text=reply),
        InteractionEvent(EventKind.RESOLUTION, cid, at(minute + 2), actor="ana", data={"by": "human"}),
    ]


def scenario() -> list[InteractionEvent]:
    """4 ungrounded PayPal questions (two resolved by a person), 3 gift-wrap questions (one ungrounded by
    confidence, one only rated badly), 2 grounded questions, and an escalation no knowledge could prevent."""
    events: list[InteractionEvent] = []
    for n, text in enumerate(PAYPAL):
        events += asked(f"p{n}", n * 60, text, grounded=False)
    events += resolved_by_a_person("p0", 5, PAYPAL_REPLY)
    events += resolved_by_a_person("p1", 65, PAYPAL_REPLY_2)
    events += asked("g0", 300, GIFT_WRAP[0], grounded=False)
    events += asked("g1", 360, GIFT_WRAP[1], grounded=True, confidence=0.8)
    events[-1] = InteractionEvent(
        EventKind.ANSWER, "g1", at(360), confidence=0.1, data={"grounded": True, "question": GIFT_WRAP[1]}
    )
    events += asked("g2", 420, GIFT_WRAP[2], grounded=True)  # grounded, but the customer was not happy
    events.append(InteractionEvent(EventKind.RATING, "g2", at(425), value=1, data={"comment": "useless"}))
    for n, text in enumerate(ANSWERED):
        events += asked(f"a{n}", 500 + n, text, grounded=True)
    events.append(InteractionEvent(EventKind.RATING, "a0", at(510), value=5))
    events += asked("h0", 600, "I want to speak to a person about my parcel", grounded=True)
    events.append(InteractionEvent(EventKind.ESCALATION, "h0", at(600), reason="customer_asked_for_human"))
    return events


@pytest.fixture(scope="module")
def topics(embedder: SentenceTransformerEmbedder) -> list[GapTopic]:
    return find_gaps(scenario(), embedder.embed_documents, GapSettings(min_confidence=0.3))


def test_only_unanswered_questions_count_each_with_its_reasons() -> None:
    questions = collect_questions(scenario(), GapSettings(min_confidence=0.3))
    reasons = {q.text: set(q.reasons) for q in questions}
    assert set(reasons) == set(PAYPAL) | set(GIFT_WRAP), "grounded, well-rated and customer-asked ones are left out"
    assert reasons[PAYPAL[0]] == {"not_grounded", "escalated"}, "the escalation's question came from the message"
    assert reasons[GIFT_WRAP[1]] == {"low_confidence"}
    assert reasons[GIFT_WRAP[2]] == {"low_rating"}
    assert [q.customer for q in questions if q.text == PAYPAL[2]] == ["customer-p2"]
    strict = collect_questions(scenario(), GapSettings(min_confidence=0.0))
    assert GIFT_WRAP[1] not in {q.text for q in strict}, "without a minimum confidence, a grounded answer is fine"


def test_questions_group_into_two_topics_most_asked_first(topics: list[GapTopic]) -> None:
    assert [t.count for t in topics] == [4, 3]
    paypal, gift = topics
    assert set(paypal.questions) == set(PAYPAL) and set(gift.questions) == set(GIFT_WRAP)
    assert paypal.label in PAYPAL and gift.label in GIFT_WRAP
    assert paypal.topic == topic_id(paypal.label) and paypal.topic.startswith("gap:")
    assert (paypal.conversations, paypal.customers) == (4, 4)
    assert paypal.reasons == {"not_grounded": 4, "escalated": 2}
    assert gift.reasons == {"low_confidence": 1, "low_rating": 1, "not_grounded": 1}
    assert (paypal.first_seen, paypal.last_seen) == (at(0), at(180))
    assert len(paypal.examples) == 3 and len(set(paypal.examples)) == 3 and paypal.examples[0] == paypal.label
    assert paypal.draft is None


def test_a_tight_threshold_splits_and_the_same_events_give_the_same_report(
    embedder: SentenceTransformerEmbedder, topics: list[GapTopic]
) -> None:
    again = find_gaps(list(reversed(scenario())), embedder.embed_documents, GapSettings(min_confidence=0.3))
    assert [t.as_dict() for t in again] == [t.as_dict() for t in topics]
    split = find_gaps(scenario(), embedder.embed_documents, GapSettings(min_confidence=0.3, distance=0.05))
    assert len(split) == 7 and all(t.count == 1 for t in split)
    assert find_gaps([], embedder.embed_documents) == []
    with pytest.raises(ValueError, match="distance must lie in"):
        GapSettings(distance=0)


def test_people_s_answers_come_only_from_conversations_a_person_resolved() -> None:
    events = scenario()
    events.append(InteractionEvent(EventKind.HUMAN_REPLY, "p2", at(130), actor="bo", text="Let me check with my team."))
    answers = human_answers(events, ["p0", "p1", "p2", "g0"])
    assert list(answers) == ["p0", "p1"], "p2 has a reply but nobody resolved it; g0 has no reply"
    sentences = answer_sentences(answers.values())
    assert "Yes we accept PayPal." in sentences, "the salutation with the customer's name is cut off"
    assert not any("Maria" in s or "[EMAIL]" in s or "Thanks" in s or s.endswith("?") for s in sentences)


async def test_the_extractive_draft_is_built_from_the_people_s_answers(
    embedder: SentenceTransformerEmbedder, topics: list[GapTopic]
) -> None:
    drafted = await add_drafts(topics, scenario(), embedder.embed_documents)
    paypal, gift = drafted
    assert gift.draft is None, "no person resolved a gift-wrap conversation"
    draft = paypal.draft
    assert draft is not None and draft.startswith(DRAFT_MARK)
    assert f"# {paypal.label[0].upper()}{paypal.label[1:]}" in draft
    assert all(f"- {question}" in draft for question in PAYPAL)
    assert "Yes we accept PayPal." in draft and "PayPal is accepted for every order." in draft
    steps = ("Choose PayPal on the payment step", "pick PayPal and confirm the payment")
    assert sum(step in draft for step in steps) == 1, "the two people's ways to say the same step give one sentence"
    assert "Maria" not in draft and "[EMAIL]" not in draft and "customer-p0" not in draft
    assert "Anything else" not in draft


async def test_a_drafter_writes_the_draft_and_a_failing_or_slow_one_falls_back(
    embedder: SentenceTransformerEmbedder, topics: list[GapTopic]
) -> None:
    seen: list[DraftRequest] = []

    async def writer(request: DraftRequest) -> str:
        seen.append(request)
        return "# Paying with PayPal\n\nPick PayPal on the payment step."

    async def broken(request: DraftRequest) -> str:
        msg = "model unavailable: HTTP 503"
        raise RuntimeError(msg)

    async def slow(request: DraftRequest) -> str:
        await asyncio.sleep(5)
        return "too late"

    async def silent(request: DraftRequest) -> str:
        return "   "

    written = await add_drafts(topics[:1], scenario(), embedder.embed_documents, drafter=writer)
    assert written[0].draft == f"{DRAFT_MARK}\n\n# Paying with PayPal\n\nPick PayPal on the payment step."
    (request,) = seen
    assert set(request.questions) == set(PAYPAL) and request.answers == (PAYPAL_REPLY, PAYPAL_REPLY_2)
    extractive = (await add_drafts(topics[:1], scenario(), embedder.embed_documents))[0].draft
    for fallible, timeout in ((broken, 5.0), (slow, 0.2), (silent, 5.0)):
        fallen = await add_drafts(topics[:1], scenario(), embedder.embed_documents, drafter=fallible, timeout=timeout)
        assert fallen[0].draft == extractive, fallible.__name__
    scrubbed = await add_drafts(
        topics[:1], scenario(), embedder.embed_documents, drafter=writer, scrub=lambda t: t.replace("PayPal", "[X]")
    )
    assert scrubbed[0].draft is not None and "PayPal" not in scrubbed[0].draft

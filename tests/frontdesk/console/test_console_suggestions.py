"""Suggested replies: the customer's latest question is found (without the part that asks for a person) and
answered from the demo help centre, up to three times from different articles, each with its citations."""

from __future__ import annotations

import datetime as dt

from agent.agent import SupportAgent
from conversations.store import StoredMessage
from frontdesk.console.suggestions import ReplySuggester, latest_question
from knowledge.base import KnowledgeBase


def _message(number: int, role: str, text: str) -> StoredMessage:
    return StoredMessage(number, "c1", role, text, None, {}, dt.datetime(2026, 11, 30, tzinfo=dt.UTC))  # type: ignore[arg-type]


def test_the_latest_question_skips_asking_for_a_person() -> None:
    messages = [
        _message(1, "customer", "Where is your Lakeview store?"),
        _message(2, "agent", "It is on Harbour Road."),
        _message(3, "customer", "And is there parking? I'd like to talk to a person about it."),
        _message(4, "system", "Ana from our team has joined the conversation."),
        _message(5, "customer", "Can I speak to a real person please?"),
        _message(6, "customer", "thanks"),
    ]
    question, history = latest_question(messages)
    assert question == "And is there parking?"
    assert [turn.text for turn in history] == ["Where is your Lakeview store?", "It is on Harbour Road."]
    assert latest_question(messages[4:]) == (None, ())


def test_suggestions_come_from_different_articles_with_citations(
    demo_knowledge: KnowledgeBase, demo_agent: SupportAgent
) -> None:
    suggester = ReplySuggester(demo_knowledge, demo_agent.deps.offline)
    found = suggester.suggest([_message(1, "customer", "How long do refunds take? Please get me a human.")])
    assert found.question == "How long do refunds take?"
    assert 1 <= len(found.items) <= 3
    first = found.items[0]
    assert "refund" in first.text.lower() and "[" not in first.text
    assert first.citations[0].title == "Returns and refunds" and first.citations[0].url
    documents = [{c.document_id for c in item.citations} for item in found.items]
    for index, cited in enumerate(documents):
        for other in documents[index + 1 :]:
            assert not cited & other, "each suggestion draws on other articles"
    nothing = suggester.suggest([_message(1, "customer", "Can I speak to a real person please?")])
    assert nothing.question is None and nothing.items == ()

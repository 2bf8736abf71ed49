"""Sentiment and frustration from a message and the customer's recent turns."""

from __future__ import annotations

import pytest

from agent.sentiment import analyze_sentiment, message_cues
from agent.types import SentimentLabel
from knowledge.documents import Turn


def customer(text: str) -> Turn:
    return Turn(role="customer", text=text)


def agent(text: str) -> Turn:
    return Turn(role="agent", text=text)


@pytest.mark.parametrize(
    "message",
    [
        "Thanks so much, that solved it!",
        "Perfect, the card works now. Great help!",
        "Danke, das hat geholfen, super!",
        "Merci beaucoup, c'est parfait.",
        "¡Muchas gracias, perfecto!",
        "not bad, works now",
    ],
)
def test_positive_messages(message: str) -> None:
    sentiment = analyze_sentiment(message, [])
    assert sentiment.label is SentimentLabel.POSITIVE
    assert sentiment.score > 0.2
    assert sentiment.frustration < 0.2


@pytest.mark.parametrize(
    "message",
    [
        "How do I change my PIN?",
        "I want to cancel my order please",
        "I want to close my account",
        "The card doesn't work at the ATM, what should I do?",
        "Wie ändere ich meine Adresse?",
        "Où est ma carte ?",
        "¿Cuánto tarda una transferencia?",
    ],
)
def test_plain_questions_are_neutral_and_calm(message: str) -> None:
    sentiment = analyze_sentiment(message, [])
    assert sentiment.label is SentimentLabel.NEUTRAL
    assert sentiment.frustration < 0.2


@pytest.mark.parametrize(
    ("message", "signals"),
    [
        (
            "This is the third time I'm asking. My refund STILL hasn't arrived!!!",
            {"repeated_contact", "still_not", "exclaim"},
        ),
        ("useless bot. I want my money back or I'm going to file a chargeback", {"bot_insult", "chargeback"}),
        ("WHY IS MY CARD BLOCKED AGAIN???", {"repeated_contact", "caps", "exclaim"}),
        ("This is ridiculous, I've been waiting for three weeks.", {"outrage", "waiting"}),
        ("Fix this or I'm going to cancel my account and switch banks.", {"threat_leave"}),
        ("I will file a formal complaint with the ombudsman.", {"threat_complain"}),
        ("My lawyer will hear about this.", {"threat_legal"}),
        ("this is fucking unbelievable", {"profanity", "outrage"}),
        ("Das ist eine Frechheit, ich warte seit Wochen! Ich werde kündigen.", {"outrage", "waiting", "threat_leave"}),
        ("C'est inadmissible, toujours pas de remboursement, je vais porter plainte.", {"outrage", "still_not"}),
        ("Es la tercera vez que escribo, esto es una vergüenza.", {"repeated_contact", "outrage"}),
    ],
)
def test_frustrated_messages(message: str, signals: set[str]) -> None:
    sentiment = analyze_sentiment(message, [])
    assert sentiment.label is SentimentLabel.NEGATIVE
    assert sentiment.frustration >= 0.5, sentiment
    assert signals <= set(sentiment.signals), sentiment.signals


def test_negation_flips_polarity_within_the_clause() -> None:
    assert analyze_sentiment("This is not good at all", []).label is SentimentLabel.NEGATIVE
    assert "negation" in analyze_sentiment("This is not good at all", []).signals
    assert analyze_sentiment("Das ist nicht gut", []).score < 0
    # "not" does not reach past the comma
    assert analyze_sentiment("not bad, works now", []).score > 0.2


def test_intensifiers_strengthen() -> None:
    plain = analyze_sentiment("this is bad", [])
    strong = analyze_sentiment("this is really very bad", [])
    assert strong.score < plain.score < 0
    assert "intensifier" in strong.signals


def test_caps_and_punctuation_raise_frustration() -> None:
    calm = message_cues("where is my card")
    loud = message_cues("WHERE IS MY CARD???")
    assert loud.frustration > calm.frustration
    assert {"caps", "exclaim"} <= set(loud.signals)


def test_exclamation_in_a_thank_you_is_not_frustration() -> None:
    sentiment = analyze_sentiment("Thank you so much!!!", [])
    assert sentiment.label is SentimentLabel.POSITIVE
    assert sentiment.frustration < 0.15


ANGRY_HISTORY = [
    customer("Where is my refund?"),
    agent("Refunds take 5 to 7 working days."),
    customer("It still hasn't arrived, this is ridiculous."),
    agent("I'm sorry to hear that. Could you give me the order number?"),
    customer("I've already told you the order number twice!!"),
    agent("Thanks, I see the refund was issued on Monday."),
]


def test_frustration_carries_over_from_recent_customer_turns() -> None:
    alone = analyze_sentiment("Any news?", [])
    after_anger = analyze_sentiment("Any news?", ANGRY_HISTORY)
    assert after_anger.frustration > alone.frustration + 0.2
    assert "history_frustrated" in after_anger.signals


def test_a_thank_you_lets_frustration_fade() -> None:
    angry = analyze_sentiment("Any news?", ANGRY_HISTORY)
    thankful = analyze_sentiment("ok thanks, that helps", ANGRY_HISTORY)
    assert thankful.frustration < angry.frustration
    assert thankful.label is SentimentLabel.POSITIVE


def test_sustained_frustration_adds_up() -> None:
    sentiment = analyze_sentiment("This is unacceptable, I'm going to cancel.", ANGRY_HISTORY)
    alone = analyze_sentiment("This is unacceptable, I'm going to cancel.", [])
    assert "sustained" in sentiment.signals
    assert sentiment.frustration > alone.frustration
    assert sentiment.frustration >= 0.8


def test_recent_turns_weigh_more_than_older_ones() -> None:
    angry_then_calm = [customer("This is ridiculous!!! Third time I ask!"), customer("ok"), customer("fine")]
    calm_then_angry = [customer("ok"), customer("fine"), customer("This is ridiculous!!! Third time I ask!")]
    assert analyze_sentiment("hm", calm_then_angry).frustration > analyze_sentiment("hm", angry_then_calm).frustration


def test_agent_turns_and_old_turns_are_ignored() -> None:
    history = [agent("THIS IS RIDICULOUS!!! useless bot"), customer("hello")]
    assert analyze_sentiment("How do I order a card?", history).frustration == 0.0
    old_anger = [customer("This is ridiculous!!!")] + [customer("ok")] * 3
    assert analyze_sentiment("How do I order a card?", old_anger).frustration == 0.0


def test_scores_stay_in_range() -> None:
    worst = "FUCK THIS USELESS BOT!!! THIRD TIME!!! RIDICULOUS!!! LAWYER!!! CHARGEBACK!!! I'M GOING TO CANCEL!!!"
    sentiment = analyze_sentiment(worst, [customer(worst)] * 3)
    assert -1.0 <= sentiment.score <= -0.9
    assert 0.9 <= sentiment.frustration <= 1.0
    empty = analyze_sentiment("", [])
    assert (empty.label, empty.score, empty.frustration, empty.signals) == (SentimentLabel.NEUTRAL, 0.0, 0.0, ())

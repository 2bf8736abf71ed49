"""Escalation policy: when a conversation goes to a human, with which reason, skill and priority."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from agent.escalation import (
    DEFAULT_POLICY_PATH,
    EscalationDecision,
    EscalationInput,
    EscalationPolicy,
    EscalationPolicyConfig,
    EscalationPolicyError,
    asks_for_human,
    load_policy_config,
    similarity,
)
from agent.sentiment import analyze_sentiment
from agent.types import EscalationReason, Intent, Sentiment, SentimentLabel
from knowledge.documents import Turn

CALM = Sentiment(label=SentimentLabel.NEUTRAL, score=0.0, frustration=0.0)
FURIOUS = Sentiment(label=SentimentLabel.NEGATIVE, score=-0.9, frustration=0.85, signals=("outrage", "caps"))
ANNOYED = Sentiment(label=SentimentLabel.NEGATIVE, score=-0.4, frustration=0.45, signals=("still_not",))

SKILLS = {
    "card_arrival": ("cards", 3),
    "lost_or_stolen_card": ("fraud_and_security", 1),
    "pending_transfer": ("transfers", 2),
}


def intent(name: str, skill: str | None = None, priority: int | None = None) -> Intent:
    return Intent(name=name, confidence=0.9, out_of_scope=False, skill=skill, priority=priority)


def make_input(
    message: str = "When will my card arrive?",
    history: Sequence[Turn] = (),
    sentiment: Sentiment = CALM,
    detected: Intent | None = None,
    grounded: bool = True,
    confidence: float = 0.8,
    bot_turns: int = 1,
    ungrounded_streak: int = 0,
) -> EscalationInput:
    return EscalationInput(
        message=message,
        history=history,
        sentiment=sentiment,
        intent=detected,
        grounded=grounded,
        confidence=confidence,
        bot_turns=bot_turns,
        ungrounded_streak=ungrounded_streak,
    )


@pytest.fixture
def policy() -> EscalationPolicy:
    return EscalationPolicy.from_file(
        skill_for=SKILLS.get, always_escalate=lambda name: name in {"lost_or_stolen_card", "terminate_account"}
    )


# ---------------------------------------------------------------------------------------------------------------------
# Asking for a human
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # en
        "agent",
        "Human please!",
        "representative",
        "operator!!",
        "Can I speak to a real person?",
        "I want to talk to someone",
        "let me talk to your supervisor",
        "connect me with an agent please",
        "transfer me to a human",
        "Get me a human now",
        "I need a manager",
        "please escalate this",
        "Can someone call me back?",
        "I don't want to talk to a bot",
        "is there a real person there?",
        "I'd like to speak with one of your agents",
        "why can't I talk to a human?!",
        "talk to customer service",
        # de
        "Ich möchte mit einem Mitarbeiter sprechen",
        "Kann ich mit einem Menschen sprechen?",
        "Mitarbeiter bitte",
        "Verbinden Sie mich bitte mit einem Berater",
        "Ich will einen echten Menschen",
        # fr
        "Je voudrais parler à un conseiller",
        "Je veux parler à quelqu'un",
        "passez-moi un conseiller svp",
        "Je veux un humain",
        # es
        "Quiero hablar con una persona",
        "¿Puedo hablar con un agente?",
        "pásame con un asesor",
        "necesito hablar con alguien",
        # nl
        "Ik wil een medewerker spreken",
        "Kan ik met een mens praten?",
        "verbind me door met een medewerker",
        # it
        "Vorrei parlare con un operatore",
        "passami un operatore",
        # pt
        "Quero falar com um atendente",
        "preciso falar com alguém",
    ],
)
def test_asks_for_human(text: str) -> None:
    assert asks_for_human(text)


@pytest.mark.parametrize(
    "text",
    [
        "my agent at the bank said the transfer was sent",
        "The delivery agent left the parcel at my neighbour",
        "I spoke to someone yesterday and they said it was fixed",
        "I talked to a human yesterday",
        "Can someone explain this fee?",
        "I need a person to sign for the delivery",
        "I don't need to talk to anyone, just tell me the fee",
        "How do I add a person to my account?",
        "I want to transfer money to another person",
        "I want to send money to someone abroad",
        "My manager needs an invoice",
        "Can I speak French here?",
        "How can I contact the seller?",
        "Is my travel agent allowed to pay with my card?",
        "Ich habe gestern mit einem Mitarbeiter gesprochen",
        "Ihr Mitarbeiter hat gesagt, das Geld kommt morgen",
        "Personne ne répond au téléphone",
        "El agente de aduanas retiene mi paquete",
        "Quiero enviar dinero a una persona",
        "",
    ],
)
def test_does_not_ask_for_human(text: str) -> None:
    assert not asks_for_human(text)


def test_similarity() -> None:
    assert similarity("How do I reset my password?", "how can I reset my password") == 1.0
    assert similarity("How do I reset my password?", "How do I change my address?") == 0.0
    assert 0.3 < similarity("my refund has not arrived yet", "where is my refund, it has not arrived") < 1.0
    assert similarity("", "anything") == 0.0


# ---------------------------------------------------------------------------------------------------------------------
# The policy's rules
# ---------------------------------------------------------------------------------------------------------------------


def test_a_plain_grounded_answer_needs_nobody(policy: EscalationPolicy) -> None:
    assert policy.decide(make_input()) == EscalationDecision(escalation=None, offer_human=False)


def test_customer_asks_for_a_human(policy: EscalationPolicy) -> None:
    decision = policy.decide(make_input("Can I talk to a real person please?", detected=intent("card_arrival")))
    assert decision.escalation is not None
    assert decision.escalation.reason is EscalationReason.CUSTOMER_ASKED
    assert (decision.escalation.skill, decision.escalation.priority) == ("cards", 3)
    assert not decision.offer_human
    assert decision.escalate


def test_first_ungrounded_answer_offers_a_human_second_escalates(policy: EscalationPolicy) -> None:
    first = make_input("Do you sell gold bars?", grounded=False, confidence=0.1, ungrounded_streak=0)
    assert policy.decide(first) == EscalationDecision(escalation=None, offer_human=True)
    streak = policy.next_ungrounded_streak(first)
    assert streak == 1

    second = make_input("And silver coins?", grounded=False, confidence=0.1, ungrounded_streak=streak)
    decision = policy.decide(second)
    assert decision.escalation is not None
    assert decision.escalation.reason is EscalationReason.NOT_GROUNDED
    assert "2 answers in a row" in decision.escalation.detail
    assert policy.next_ungrounded_streak(make_input(grounded=True, ungrounded_streak=streak)) == 0


def test_allowed_ungrounded_answers_and_min_confidence_are_configurable() -> None:
    lenient = EscalationPolicy(EscalationPolicyConfig(ungrounded_answers_allowed=2, min_confidence=0.3))
    assert lenient.decide(make_input(grounded=False, ungrounded_streak=1)).escalation is None
    assert lenient.decide(make_input(grounded=False, ungrounded_streak=2)).escalation is not None
    # grounded but below the policy's confidence counts as ungrounded
    assert lenient.decide(make_input(grounded=True, confidence=0.2)).offer_human
    quiet = EscalationPolicy(EscalationPolicyConfig(offer_human_when_ungrounded=False))
    assert quiet.decide(make_input(grounded=False)) == EscalationDecision(escalation=None, offer_human=False)


def test_repeated_question_after_an_answer(policy: EscalationPolicy) -> None:
    history = [
        Turn("customer", "How do I reset my online banking password?"),
        Turn("agent", "Go to Settings > Security > Reset password."),
    ]
    decision = policy.decide(make_input("how can I reset my online banking password??", history=history))
    assert decision.escalation is not None
    assert decision.escalation.reason is EscalationReason.REPEATED_FAILURE
    # a different question, a short reply, or a question the bot has not answered yet is no repetition
    assert policy.decide(make_input("How do I change my address?", history=history)).escalation is None
    assert policy.decide(make_input("ok thanks", history=[Turn("customer", "ok thanks"), *history])).escalation is None
    unanswered = [Turn("customer", "How do I reset my online banking password?")]
    assert (
        policy.decide(make_input("How do I reset my online banking password?", history=unanswered)).escalation is None
    )


def test_frustration_escalates_with_a_higher_priority(policy: EscalationPolicy) -> None:
    decision = policy.decide(make_input("This is ridiculous!!!", sentiment=FURIOUS, detected=intent("card_arrival")))
    assert decision.escalation is not None
    assert decision.escalation.reason is EscalationReason.FRUSTRATION
    assert decision.escalation.skill == "cards"
    assert decision.escalation.priority == 2  # cards are 3, one level up for frustration
    assert "0.85" in decision.escalation.detail and "outrage" in decision.escalation.detail


def test_some_frustration_offers_a_human(policy: EscalationPolicy) -> None:
    assert policy.decide(make_input(sentiment=ANNOYED)) == EscalationDecision(escalation=None, offer_human=True)


def test_sensitive_intents_from_the_skill_map_and_the_policy(policy: EscalationPolicy) -> None:
    decision = policy.decide(make_input("I lost my card", detected=intent("lost_or_stolen_card")))
    assert decision.escalation is not None
    assert decision.escalation.reason is EscalationReason.SENSITIVE_INTENT
    assert (decision.escalation.skill, decision.escalation.priority) == ("fraud_and_security", 1)

    own_list = EscalationPolicy(
        EscalationPolicyConfig(always_escalate_intents=("pending_transfer",)), skill_for=SKILLS.get
    )
    decision = own_list.decide(make_input("my transfer is stuck", detected=intent("pending_transfer")))
    assert decision.escalation is not None
    assert decision.escalation.reason is EscalationReason.SENSITIVE_INTENT
    assert (decision.escalation.skill, decision.escalation.priority) == ("transfers", 2)


def test_too_many_bot_turns(policy: EscalationPolicy) -> None:
    limit = policy.config.max_bot_turns
    assert policy.decide(make_input(bot_turns=limit - 1)).escalation is None
    decision = policy.decide(make_input(bot_turns=limit))
    assert decision.escalation is not None
    assert decision.escalation.reason is EscalationReason.TOO_MANY_TURNS


def test_precedence_and_detail_name_every_reason(policy: EscalationPolicy) -> None:
    decision = policy.decide(
        make_input(
            "I want a human, this is ridiculous",
            sentiment=FURIOUS,
            detected=intent("lost_or_stolen_card"),
            grounded=False,
            ungrounded_streak=3,
            bot_turns=50,
        )
    )
    assert decision.escalation is not None
    assert decision.escalation.reason is EscalationReason.CUSTOMER_ASKED
    detail = decision.escalation.detail
    assert "always goes to a human" in detail and "frustrated" in detail and "not grounded" in detail
    assert "answered 50 times" in detail and "lost_or_stolen_card" in detail
    assert decision.escalation.priority == 1  # already the most urgent: the frustration boost stops there


def test_disabled_reasons() -> None:
    policy = EscalationPolicy(EscalationPolicyConfig(disabled_reasons=(EscalationReason.TOO_MANY_TURNS,)))
    assert policy.decide(make_input(bot_turns=1000)).escalation is None


def test_skill_and_priority_fallbacks() -> None:
    config = EscalationPolicyConfig(default_skill="general", default_priority=4)
    policy = EscalationPolicy(config)
    asked = "agent please"
    no_intent = policy.decide(make_input(asked)).escalation
    assert no_intent is not None and (no_intent.skill, no_intent.priority) == ("general", 4)
    from_intent = policy.decide(make_input(asked, detected=intent("x", skill="billing", priority=2))).escalation
    assert from_intent is not None and (from_intent.skill, from_intent.priority) == ("billing", 2)
    unknown = policy.decide(make_input(asked, detected=intent("x"))).escalation
    assert unknown is not None and (unknown.skill, unknown.priority) == ("general", 4)


@dataclass(frozen=True)
class Skill:
    name: str
    priority: int


def test_skill_lookup_may_return_skill_objects() -> None:
    skills = {"pending_transfer": Skill("transfers", 2)}
    policy = EscalationPolicy(skill_for=skills.get)
    decision = policy.decide(make_input("agent please", detected=intent("pending_transfer"), sentiment=FURIOUS))
    assert decision.escalation is not None
    assert (decision.escalation.skill, decision.escalation.priority) == ("transfers", 1)


def test_with_the_banking77_skill_map(shared_data: Path) -> None:
    skill_map = json.loads((shared_data / "banking77" / "skills.json").read_text(encoding="utf-8"))
    by_intent = {
        name: (skill, spec["priority"]) for skill, spec in skill_map["skills"].items() for name in spec["intents"]
    }
    always = set(skill_map["always_escalate"])
    policy = EscalationPolicy.from_file(skill_for=by_intent.get, always_escalate=always.__contains__)

    charged_twice = policy.decide(make_input("I was charged twice", detected=intent("transaction_charged_twice")))
    assert charged_twice.escalation is not None
    assert charged_twice.escalation.reason is EscalationReason.SENSITIVE_INTENT
    assert charged_twice.escalation.skill == "card_payments"

    message = "This is the third time I'm asking, where is my card?? Ridiculous!!!"
    history = [Turn("customer", "My card still hasn't arrived, this is unacceptable"), Turn("agent", "...")]
    sentiment = analyze_sentiment(message, history)
    frustrated = policy.decide(make_input(message, history, sentiment, detected=intent("card_arrival")))
    assert frustrated.escalation is not None
    assert frustrated.escalation.reason is EscalationReason.FRUSTRATION
    assert (frustrated.escalation.skill, frustrated.escalation.priority) == ("cards", 2)


# ---------------------------------------------------------------------------------------------------------------------
# Inputs and the policy file
# ---------------------------------------------------------------------------------------------------------------------


def test_input_validation() -> None:
    with pytest.raises(ValueError) as excinfo:
        replace(make_input(), confidence=1.5)
    assert str(excinfo.value) == "confidence must lie in [0, 1], got 1.5"
    with pytest.raises(ValueError) as excinfo:
        replace(make_input(), bot_turns=-1)
    assert str(excinfo.value) == "bot_turns must not be negative, got -1"
    with pytest.raises(ValueError) as excinfo:
        replace(make_input(), ungrounded_streak=-2)
    assert str(excinfo.value) == "ungrounded_streak must not be negative, got -2"


def test_default_policy_file_is_valid_and_matches_the_defaults() -> None:
    config = load_policy_config()
    assert config == load_policy_config(DEFAULT_POLICY_PATH)
    assert config.model_dump(exclude={"about"}) == EscalationPolicyConfig().model_dump(exclude={"about"})


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(content, encoding="utf-8")
    return path


def test_custom_policy_file(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"max_bot_turns": 3, "always_escalate_intents": ["terminate_account"]}))
    policy = EscalationPolicy.from_file(path)
    assert policy.config.max_bot_turns == 3
    assert policy.config.frustration_threshold == 0.6  # the rest keeps its defaults
    assert policy.decide(make_input(bot_turns=3)).escalate


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ('{"frustration_threshold": 1.5}', ["frustration_threshold", "less than or equal to 1", "1.5"]),
        ('{"max_bot_turn": 5}', ["max_bot_turn", "Extra inputs are not permitted"]),
        ('{"disabled_reasons": ["bored"]}', ["disabled_reasons.0", "bored"]),
        ('{"default_priority": 9}', ["highest_priority <= default_priority <= lowest_priority", "9"]),
        ('{"offer_human_frustration": 0.9}', ["offer_human_frustration (0.9) must not exceed"]),
        ('{"max_bot_turns": 3,}', ["not valid JSON", "line 1"]),
        ("[1, 2]", ["must hold a JSON object, got list"]),
    ],
)
def test_bad_policy_files_name_the_file_and_the_field(tmp_path: Path, content: str, fragments: list[str]) -> None:
    path = write(tmp_path, content)
    with pytest.raises(EscalationPolicyError) as excinfo:
        load_policy_config(path)
    assert str(path) in str(excinfo.value)
    for fragment in fragments:
        assert fragment in str(excinfo.value)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(EscalationPolicyError, match="does not exist"):
        load_policy_config(tmp_path / "nope.json")
    assert issubclass(EscalationPolicyError, ValueError)

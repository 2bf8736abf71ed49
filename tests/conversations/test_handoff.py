"""Handing conversations to people: tickets, what the customer is told, the way back to the assistant, and
reconciliation of conversations with their tickets."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from agent.agent import BACK_TO_ASSISTANT, ConversationMemory, SupportAgent
from agent.escalation import EscalationPolicy, prefers_assistant
from agent.types import AgentReply, TextDelta
from channels.messages import InboundMessage, ThreadKey
from conversations.handoff import CHOSE_ASSISTANT, KEEP_CHATTING, Handoff, Reconciled, RoutingEvents, wait_notice
from conversations.inbox import WITH_A_PERSON, Inbox
from conversations.intake import Intake
from conversations.outbox import Outbox
from conversations.replies import Replies
from conversations.store import ConversationStore, conversations_table
from routing import AgentStatus, ChannelKind, HumanAgent, Router, RoutingConfig, TicketState

CUSTOMER, OURS = "whatsapp:+15550001111", "whatsapp:+15559990000"
CONFIG = RoutingConfig(channel_kinds={"api": ChannelKind.CHAT})


def _setup(engine: sa.Engine, agent: SupportAgent) -> tuple[Inbox, Handoff, Router]:
    store = ConversationStore(engine)
    events = RoutingEvents()
    router = Router(engine, CONFIG, listener=events)
    replies = Replies(store)
    handoff = Handoff(router, store, post=replies.post)
    events.subscribe(handoff.on_event)
    intake = Intake(engine, back_to_bot=prefers_assistant)
    inbox = Inbox(store, agent, EscalationPolicy(), intake=intake, handoff=handoff, replies=replies)
    return inbox, handoff, router


def _ana(status: AgentStatus = AgentStatus.ONLINE) -> HumanAgent:
    return HumanAgent(
        id="ana",
        name="Ana Lopez",
        email="ana@example.com",
        languages=("en",),
        capacity={ChannelKind.CHAT: 2, ChannelKind.MESSAGING: 2},
        status=status,
    )


def _whatsapp(text: str, sid: str) -> InboundMessage:
    return InboundMessage(
        channel="whatsapp",
        sender=CUSTOMER,
        recipient=OURS,
        text=text,
        provider_message_id=sid,
        thread_keys=(ThreadKey(f"wa:{CUSTOMER}:{OURS}", open_only=True),),
    )


async def test_asking_for_a_person_opens_a_ticket_and_says_how_long(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    inbox, _, router = _setup(engine, demo_agent)
    reply = (
        await inbox.handle("c1", "I want to talk to a human, my card 4111 1111 1111 1111 was charged twice")
    ).answer
    assert reply.escalation is not None
    ticket = router.ticket_for("c1")
    assert ticket is not None and ticket.state is TicketState.QUEUED
    assert ticket.reason == "customer_asked_for_human" and ticket.channel == "api"
    assert "charged twice" in ticket.summary and "4111" not in ticket.summary, "the summary is redacted"
    assert "No one from our team is available right now" in reply.text, "nobody is online"
    assert KEEP_CHATTING.lower() in reply.text
    conversation = inbox.store.get("c1")
    assert conversation is not None and conversation.status == "escalated" and conversation.escalated_at is not None
    assert inbox.store.messages("c1")[-1].text == reply.text, "the customer's transcript holds what they were told"


async def test_a_person_accepts_replies_and_resolves_then_the_bot_answers_again(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    inbox, handoff, router = _setup(engine, demo_agent)
    router.upsert_agent(_ana())
    receipt = await inbox.receive(_whatsapp("Can I speak to a real person please?", "SM1"))
    reply = await inbox.answer_pending(receipt.conversation_id)
    assert reply is not None and reply.escalation is not None
    assert "You are next in line" in reply.text or "has your conversation" in reply.text
    [offer] = router.offers(agent_id="ana")
    ticket = router.accept(offer.id, "ana")
    assert ticket.state is TicketState.ASSIGNED
    inbox.post_reply(receipt.conversation_id, "Hi, Ana here. How can I help?", author="human")
    texts = [(entry.message.author, entry.message.text) for entry in Outbox(engine).entries()]
    assert ("system", "Ana from our team has joined the conversation.") in texts
    assert ("human", "Hi, Ana here. How can I help?") in texts and len(texts) == 3
    # While a person holds it, the bot stays quiet.
    held = await inbox.receive(_whatsapp("thanks, it's about my order", "SM2"))
    assert not held.queued and await inbox.answer_pending(receipt.conversation_id) is None
    handoff.resolve(ticket.id, by="ana", reason="answered")
    conversation = inbox.store.get(receipt.conversation_id)
    assert conversation is not None and conversation.status == "resolved"
    assert router.ticket_for(receipt.conversation_id) is None
    # WhatsApp threads only open conversations: the next message starts a new one, which the bot answers.
    again = await inbox.receive(_whatsapp("one more thing: where is the Lakeview store?", "SM3"))
    assert again.queued and again.new_conversation and again.conversation_id != receipt.conversation_id
    answer = await inbox.answer_pending(again.conversation_id)
    assert answer is not None and "Lakeview" in answer.text


async def test_a_new_message_reopens_a_resolved_conversation_for_the_bot(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    inbox, handoff, router = _setup(engine, demo_agent)
    await inbox.handle("c7", "human please")
    ticket = router.ticket_for("c7")
    assert ticket is not None
    handoff.resolve(ticket.id, by=None, reason="answered")
    answer = (await inbox.handle("c7", "where is the Lakeview store?")).answer
    assert "Lakeview" in answer.text and answer.escalation is None
    conversation = inbox.store.get("c7")
    assert conversation is not None and conversation.status == "bot"


async def test_the_customer_can_go_back_to_the_assistant(engine: sa.Engine, demo_agent: SupportAgent) -> None:
    inbox, _, router = _setup(engine, demo_agent)
    await inbox.handle("c2", "agent please")
    ticket = router.ticket_for("c2")
    assert ticket is not None
    waiting = (await inbox.handle("c2", "where is the Lakeview store?")).answer
    assert waiting.text == WITH_A_PERSON, "while waiting, the bot does not answer"
    back = (await inbox.handle("c2", KEEP_CHATTING)).answer
    assert back.text != WITH_A_PERSON and back.escalation is None
    assert back.text == BACK_TO_ASSISTANT
    assert router.ticket_for("c2") is None
    assert router.ticket(ticket.id).resolution == CHOSE_ASSISTANT
    answer = (await inbox.handle("c2", "where is the Lakeview store?")).answer
    assert "Lakeview" in answer.text


class FailingAgent(SupportAgent):
    """The agent itself breaks on every message."""

    def __init__(self) -> None:
        pass

    async def reply_stream(self, message: str, memory: ConversationMemory) -> AsyncIterator[TextDelta | AgentReply]:
        msg = "the model crashed"
        raise RuntimeError(msg)
        yield TextDelta("")  # pragma: no cover - makes this an async generator


async def test_when_the_agent_fails_a_person_takes_over_visibly(engine: sa.Engine) -> None:
    inbox, _, router = _setup(engine, FailingAgent())
    reply = (await inbox.handle("c3", "where is my parcel?")).answer
    assert reply.escalation is not None and reply.escalation.reason.value == "agent_failure"
    ticket = router.ticket_for("c3")
    assert ticket is not None and ticket.priority == 2 and ticket.reason == "agent_failure"
    assert "member of our support team" in reply.text


async def test_a_routing_failure_still_answers_and_reconciliation_queues_it_later(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    inbox, handoff, router = _setup(engine, demo_agent)
    inbox.intake.receive(  # a conversation on a channel routing does not know yet
        InboundMessage(channel="telegram", sender="tg:1", text="hello", conversation_id="t1"),
        redact=lambda text: text,
        answer=False,
    )
    reply = (await inbox.handle("c4", "human please")).answer
    assert router.ticket_for("c4") is not None
    with engine.begin() as conn:  # as if the service died between storing the status and the ticket
        conn.execute(
            sa.update(conversations_table)
            .where(conversations_table.c.id == "t1")
            .values(status="escalated", escalated_at=dt.datetime.now(dt.UTC))
        )
    assert handoff.reconcile(older_than=dt.timedelta(0)).escalated == 0, "telegram has no routing kind: left"
    router.config = RoutingConfig(channel_kinds={"api": ChannelKind.CHAT, "telegram": ChannelKind.MESSAGING})
    assert handoff.reconcile(older_than=dt.timedelta(0)).escalated == 1
    assert router.ticket_for("t1") is not None
    assert reply.escalation is not None


async def test_reconciliation_closes_stray_tickets_and_marks_resolved_ones(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    inbox, handoff, router = _setup(engine, demo_agent)
    await inbox.handle("c5", "human please")
    await inbox.handle("c6", "human please")
    c5, c6 = router.ticket_for("c5"), router.ticket_for("c6")
    assert c5 is not None and c6 is not None
    with engine.begin() as conn:  # c5 went back to the bot, but its ticket stayed open
        conn.execute(sa.update(conversations_table).where(conversations_table.c.id == "c5").values(status="bot"))
    router.resolve(c6.id, by=None, reason="answered")  # c6 was resolved, but its status was not stored
    assert handoff.reconcile(older_than=dt.timedelta(seconds=30)) == Reconciled(), "too recent"
    done = handoff.reconcile(older_than=dt.timedelta(0))
    assert (done.closed, done.marked_resolved, done.escalated) == (1, 1, 0)
    assert router.ticket_for("c5") is None
    conversation = inbox.store.get("c6")
    assert conversation is not None and conversation.status == "resolved"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Keep chatting with the assistant", True),
        ("I don't need a human after all", True),
        ("back to the bot please", True),
        ("weiter mit dem Bot", True),
        ("seguir con el asistente", True),
        ("I want a human", False),
        ("keep me posted", False),
        ("can you continue with my refund", False),
        ("keep talking to you is fine", True),
        ("I will get back to you tomorrow", False),
        ("ok, back to you", False),
    ],
)
def test_prefers_assistant(text: str, expected: bool) -> None:
    assert prefers_assistant(text) is expected


def test_wait_notice_without_a_ticket_still_promises_a_person() -> None:
    assert "as soon as possible" in wait_notice(None)

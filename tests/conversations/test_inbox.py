"""The inbox with channels: stored once, threaded, answered from the queue into the outbox, crash-safe."""

from __future__ import annotations

import datetime as dt

import anyio
import pytest
import sqlalchemy as sa

from agent.agent import ConversationMemory, SupportAgent, failure_reply
from agent.escalation import EscalationPolicy
from agent.sentiment import analyze_sentiment
from agent.types import AgentReply
from channels.messages import Attachment, InboundMessage, ThreadKey
from conversations.inbox import (
    WITH_A_PERSON,
    Answered,
    AnsweredBy,
    ConversationBusyError,
    Inbox,
    Received,
    ReplyWorker,
    final_answer,
)
from conversations.intake import Intake, pending_replies_table
from conversations.outbox import Doorbell, Outbox
from conversations.store import ConversationStore

CUSTOMER, OURS = "whatsapp:+15550001111", "whatsapp:+15559990000"


def _inbox(engine: sa.Engine, agent: SupportAgent, *, lease: float = 60.0, queued: Doorbell | None = None) -> Inbox:
    store = ConversationStore(engine)
    intake = Intake(engine, lease=dt.timedelta(seconds=lease))
    return Inbox(store, agent, EscalationPolicy(), intake=intake, queued=queued)


class CountedBell(Doorbell):
    """A doorbell that counts its rings."""

    def __init__(self) -> None:
        super().__init__()
        self.rings = 0

    def ring(self) -> None:
        self.rings += 1
        super().ring()


def _whatsapp(text: str, sid: str, sender: str = CUSTOMER) -> InboundMessage:
    return InboundMessage(
        channel="whatsapp",
        sender=sender,
        recipient=OURS,
        text=text,
        provider_message_id=sid,
        thread_keys=(ThreadKey(f"wa:{sender}:{OURS}", open_only=True),),
    )


async def test_a_provider_retry_is_stored_once(engine: sa.Engine, demo_agent: SupportAgent) -> None:
    inbox = _inbox(engine, demo_agent)
    first = await inbox.receive(_whatsapp("Where is your Lakeview store?", "SM1"))
    again = await inbox.receive(_whatsapp("Where is your Lakeview store?", "SM1"))
    assert not first.duplicate and first.queued and first.new_conversation
    assert again.duplicate and again.message_id == first.message_id and again.conversation_id == first.conversation_id
    assert len(inbox.store.messages(first.conversation_id)) == 1
    assert inbox.intake.pending_count() == 1


async def test_a_queued_message_is_answered_into_the_outbox(engine: sa.Engine, demo_agent: SupportAgent) -> None:
    inbox = _inbox(engine, demo_agent)
    receipt = await inbox.receive(_whatsapp("Where is your Lakeview store?", "SM1"))
    reply = await inbox.answer_pending(receipt.conversation_id)
    assert isinstance(reply, AgentReply) and reply.grounded and "Lakeview" in reply.text
    assert await inbox.answer_pending(receipt.conversation_id) is None, "answered once"
    [entry] = Outbox(engine).entries()
    message = entry.message
    assert (message.channel, message.recipient, message.sender) == ("whatsapp", CUSTOMER, OURS)
    assert message.text == reply.text and message.author == "agent"
    assert message.citations and message.citations[0].title == reply.citations[0].title
    assert message.in_reply_to == "SM1"
    roles = [m.role for m in inbox.store.messages(receipt.conversation_id)]
    assert roles == ["customer", "agent"] and inbox.intake.pending_count() == 0


async def test_messages_in_quick_succession_get_one_answer(engine: sa.Engine, demo_agent: SupportAgent) -> None:
    inbox = _inbox(engine, demo_agent)
    first = await inbox.receive(_whatsapp("Hi, a question", "SM1"))
    second = await inbox.receive(_whatsapp("where is the Lakeview store?", "SM2"))
    assert second.conversation_id == first.conversation_id and not second.new_conversation
    reply = await inbox.answer_pending(first.conversation_id)
    assert reply is not None and "Lakeview" in reply.text
    assert len(Outbox(engine).entries()) == 1
    assert [m.role for m in inbox.store.messages(first.conversation_id)] == ["customer", "customer", "agent"]


async def test_thread_keys_respect_sender_age_and_resolution(engine: sa.Engine, demo_agent: SupportAgent) -> None:
    inbox = _inbox(engine, demo_agent)
    first = await inbox.receive(_whatsapp("hello", "SM1"))
    other = await inbox.receive(_whatsapp("hello", "SM2", sender="whatsapp:+15550002222"))
    assert other.conversation_id != first.conversation_id, "another customer, another conversation"
    inbox.store.update_state(first.conversation_id, status="resolved")
    after = await inbox.receive(_whatsapp("one more thing", "SM3"))
    assert after.new_conversation and after.conversation_id != first.conversation_id, "resolved ones stay closed"

    def mail(sid: str, sender: str, *keys: ThreadKey, record: tuple[str, ...] = ()) -> InboundMessage:
        return InboundMessage(
            channel="email",
            sender=sender,
            text="Re: the offer",
            provider_message_id=sid,
            thread_keys=keys,
            record_keys=record,
        )

    newsletter = ThreadKey("email:msgid:<news@shop>", same_sender=False)
    alice = await inbox.receive(mail("<a1@x>", "alice@x.test", newsletter, record=("email:msgid:<a1@x>",)))
    bob = await inbox.receive(mail("<b1@x>", "bob@x.test", newsletter, record=("email:msgid:<b1@x>",)))
    assert alice.conversation_id != bob.conversation_id, "a key never recorded cannot merge two senders"
    reply_to_alice = ThreadKey("email:msgid:<a1@x>")
    bob_again = await inbox.receive(mail("<b2@x>", "bob@x.test", reply_to_alice))
    assert bob_again.conversation_id != alice.conversation_id, "same-sender keys need the same sender"
    alice_again = await inbox.receive(mail("<a2@x>", "alice@x.test", reply_to_alice))
    assert alice_again.conversation_id == alice.conversation_id
    stale = ThreadKey("email:msgid:<a1@x>", max_age=dt.timedelta(seconds=1))
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE conversations SET updated_at = :t WHERE id = :i"),
            {"t": dt.datetime.now(dt.UTC) - dt.timedelta(days=2), "i": alice.conversation_id},
        )
    late = await inbox.receive(mail("<a3@x>", "alice@x.test", stale))
    assert late.conversation_id != alice.conversation_id, "too old to continue"


async def test_attachments_are_kept_and_listed(engine: sa.Engine, demo_agent: SupportAgent) -> None:
    inbox = _inbox(engine, demo_agent)
    photo = Attachment("bike.jpg", "image/jpeg", 4, content=b"\xff\xd8\xff\xe0")
    receipt = await inbox.receive(
        InboundMessage(channel="email", sender="a@x.test", text="", attachments=(photo,), provider_message_id="<1@x>")
    )
    [stored] = inbox.store.messages(receipt.conversation_id)
    assert stored.text == "[attachments: bike.jpg]" and stored.details["attachments"][0]["filename"] == "bike.jpg"
    [listed] = inbox.intake.attachments(receipt.message_id)
    assert listed["size"] == 4 and listed["content_type"] == "image/jpeg"


async def test_a_conversation_held_by_a_person_is_not_answered_by_the_bot(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    inbox = _inbox(engine, demo_agent)
    receipt = await inbox.receive(_whatsapp("hello", "SM1"))
    inbox.store.update_state(receipt.conversation_id, status="escalated")
    queued = await inbox.receive(_whatsapp("are you there?", "SM2"))
    assert not queued.queued and queued.status == "escalated"
    held = await final_answer(inbox.converse(_whatsapp("hello again", "SM3")))
    assert held.by is AnsweredBy.PERSON and held.answer.text == WITH_A_PERSON and held.answer_id is None
    assert [m.role for m in inbox.store.messages(receipt.conversation_id)] == ["customer"] * 3


async def test_a_retried_in_band_message_gets_the_stored_answer(engine: sa.Engine, demo_agent: SupportAgent) -> None:
    inbox = _inbox(engine, demo_agent)
    message = InboundMessage(
        channel="webchat",
        sender="visitor-1",
        text="Where is your Lakeview store?",
        conversation_id="w-1",
        provider_message_id="client-1",
    )
    first = await final_answer(inbox.converse(message))
    again = [e async for e in inbox.converse(message)]
    assert [type(e) for e in again] == [Received, Answered]
    retried = again[-1]
    assert isinstance(retried, Answered) and retried.by is AnsweredBy.STORED and retried.receipt.duplicate
    assert retried.answer.text == first.answer.text and retried.answer.citations == first.answer.citations
    assert retried.answer_id == first.answer_id and retried.receipt.message_id == first.receipt.message_id
    assert [m.id for m in inbox.store.messages("w-1")] == [first.receipt.message_id, first.answer_id]


async def test_an_in_band_message_is_claimed_as_it_is_stored(engine: sa.Engine, demo_agent: SupportAgent) -> None:
    """The reply worker, woken by every queued message, must not take one its in-band caller is answering
    (the caller would be told "a person has this conversation" and the answer would go to the outbox)."""
    bell = CountedBell()
    inbox = _inbox(engine, demo_agent, queued=bell)
    message = InboundMessage(
        channel="webchat", sender="visitor-1", text="Where is your Lakeview store?", conversation_id="w-2"
    )
    stream = inbox.converse(message)
    first = await anext(stream)  # stored and being answered by now
    assert inbox.intake.waiting_conversations() == [] and inbox.intake.claim("w-2") is None
    assert bell.rings == 0, "no worker is woken for a message its caller answers"
    events = [first] + [event async for event in stream]
    assert isinstance(first, Received) and isinstance(events[-1], Answered)
    assert events[-1].by is AnsweredBy.AGENT and "Lakeview" in events[-1].answer.text
    assert inbox.intake.pending_count() == 0


async def test_a_worker_that_dies_mid_answer_loses_only_its_lease(engine: sa.Engine, demo_agent: SupportAgent) -> None:
    inbox = _inbox(engine, demo_agent, lease=0.3)
    receipt = await inbox.receive(_whatsapp("Where is your Lakeview store?", "SM1"))
    dead = inbox.intake.claim(receipt.conversation_id)
    assert dead is not None and inbox.intake.claim(receipt.conversation_id) is None, "held while the lease runs"
    assert inbox.intake.waiting_conversations() == []
    await anyio.sleep(0.35)
    assert inbox.intake.waiting_conversations() == [receipt.conversation_id]
    worker = ReplyWorker(inbox, poll_interval=0.05)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        with anyio.fail_after(30):
            while not Outbox(engine).entries():
                await anyio.sleep(0.05)
        group.cancel_scope.cancel()
    assert len(Outbox(engine).entries()) == 1
    with pytest.raises(ConversationBusyError):  # the dead worker wakes up: its late answer is refused
        inbox._complete(dead, inbox.store.get(receipt.conversation_id), ConversationMemory(), _reply(), deliver=True)  # type: ignore[arg-type]
    assert len(Outbox(engine).entries()) == 1
    assert [m.role for m in inbox.store.messages(receipt.conversation_id)] == ["customer", "agent"]


async def test_the_worker_answers_what_arrives(engine: sa.Engine, demo_agent: SupportAgent) -> None:
    inbox = _inbox(engine, demo_agent)
    worker = ReplyWorker(inbox, poll_interval=5.0)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await anyio.sleep(0.1)
        receipts = [
            await inbox.receive(_whatsapp("How do I pause my subscription?", f"SM{i}", f"+1555000{i:04d}"))
            for i in range(3)
        ]
        with anyio.fail_after(30):
            while len(Outbox(engine).entries()) < 3:
                await anyio.sleep(0.05)
        group.cancel_scope.cancel()
    assert {e.conversation_id for e in Outbox(engine).entries()} == {r.conversation_id for r in receipts}
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(pending_replies_table)).scalar_one() == 0


async def test_a_person_s_reply_goes_through_the_outbox(engine: sa.Engine, demo_agent: SupportAgent) -> None:
    inbox = _inbox(engine, demo_agent)
    receipt = await inbox.receive(_whatsapp("hello", "SM1"), answer=False)
    stored = inbox.post_reply(receipt.conversation_id, "Hi, Sam here. Let me check.", author="human")
    [entry] = Outbox(engine).entries()
    assert entry.message.author == "human" and entry.message.message_id == stored.details["outbox_message_id"]
    assert entry.message.recipient == CUSTOMER
    with pytest.raises(LookupError):
        inbox.post_reply("nope", "hi")


def _reply() -> AgentReply:
    return failure_reply(RuntimeError("x"), analyze_sentiment("x", ()))

"""The service's runtime over a test's own engine and the shared demo agent (what `build_runtime` makes, without
loading another embedding model or knowledge base)."""

from __future__ import annotations

import sqlalchemy as sa

from agent.agent import SupportAgent
from agent.escalation import prefers_assistant
from conversations.intake import Intake
from conversations.outbox import Outbox
from conversations.store import ConversationStore
from frontdesk.runtime import Runtime, connect_inbox
from frontdesk.settings import Settings
from knowledge.base import KnowledgeBase


def build_test_runtime(settings: Settings, engine: sa.Engine, agent: SupportAgent, knowledge: KnowledgeBase) -> Runtime:
    """The runtime `build_runtime` would make, over an existing engine and the shared demo agent."""
    conversations = ConversationStore(engine)
    intake = Intake(engine, back_to_bot=prefers_assistant)
    inbox, router, handoff, events = connect_inbox(settings, conversations, agent, agent.deps.policy, intake=intake)
    return Runtime(
        settings=settings,
        engine=engine,
        store=knowledge.store,
        embedder=knowledge.embedder,
        knowledge=knowledge,
        agent=agent,
        inbox=inbox,
        outbox=Outbox(engine),
        router=router,
        handoff=handoff,
        routing_events=events,
    )

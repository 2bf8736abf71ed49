"""The load worker of the concurrency test: one OS process with its own Router on the shared PostgreSQL
database, escalating its share of conversations and answering offers as the agents would (accept, decline or
ignore), resolving conversations and toggling agents away and back, all at once with the other workers."""

from __future__ import annotations

import random
import time
import traceback
from collections import Counter
from typing import Any

import sqlalchemy as sa

from routing.errors import ConflictError, NotFoundError
from routing.models import EscalationRequest, TicketState
from routing.roster import AgentStatus, ChannelKind, HumanAgent, RoutingConfig, Scope, Team, WideningStep
from routing.service import Router

SKILLS = ("cards", "transfers", "fraud")
CHANNELS = ("webchat", "whatsapp", "email", "sms")
TEAMS = (
    Team(id="cards", name="Cards", skills=("cards",)),
    Team(id="payments", name="Payments", skills=("transfers",)),
    Team(id="general", name="General"),
)
CONFIG = RoutingConfig(
    sla_seconds={1: 0.5, 2: 1.0, 3: 2.0},
    offer_timeout_seconds=0.3,
    widening=(
        WideningStep(scope=Scope.LOWER_LEVEL, after_seconds=0),
        WideningStep(scope=Scope.TEAM, after_seconds=0.5),
        WideningStep(scope=Scope.FALLBACK, after_seconds=1.0),
    ),
    fallback_team="general",
)


def roster() -> list[HumanAgent]:
    """Ten agents with small capacities, so that they are full most of the time."""
    rng = random.Random(7)
    agents: list[HumanAgent] = []
    for index in range(10):
        team = TEAMS[index % 3].id
        skills = {skill: rng.randint(1, 5) for skill in SKILLS if rng.random() < 0.7}
        agents.append(
            HumanAgent(
                id=f"agent{index}",
                name=f"Agent {index}",
                email=f"agent{index}@example.com",
                team=team,
                skills=skills,
                languages=("en",),
                capacity={ChannelKind.CHAT: 2, ChannelKind.MESSAGING: 3, ChannelKind.EMAIL: 2},
                status=AgentStatus.ONLINE,
            )
        )
    return agents


def _answer(router: Router, rng: random.Random, stats: Counter[str], *, resolve_all: bool) -> None:
    for offer in router.offers():
        roll = random.Random(offer.id).random()  # every worker plays the same agent's answer to this offer
        try:
            if roll < 0.75:
                router.accept(offer.id, offer.agent_id)
                stats["accepted"] += 1
            elif roll < 0.85:
                router.decline(offer.id, offer.agent_id)
                stats["declined"] += 1
            else:
                stats["ignored"] += 1
        except (ConflictError, NotFoundError):
            stats["lost_races"] += 1
    for ticket in router.tickets(states=(TicketState.ASSIGNED,)):
        if resolve_all or rng.random() < 0.1:
            try:
                router.resolve(ticket.id, by=ticket.agent_id, reason="done")
                stats["resolved"] += 1
            except ConflictError:
                stats["lost_races"] += 1


def work(url: str, index: int, count: int, seed: int, barrier: Any, results: Any) -> None:
    """Fire `count` escalations with agents' answers in between, then drain; report counters or a traceback."""
    try:
        engine = sa.create_engine(url, pool_size=2, max_overflow=2)
        router = Router(engine, CONFIG)
        rng = random.Random(seed)
        stats: Counter[str] = Counter()
        agent_ids = [agent.id for agent in roster()]
        barrier.wait(timeout=120)
        for number in range(count):
            # every fifth conversation is escalated by every worker at about the same time
            conversation = f"shared-{number}" if number % 5 == 0 else f"w{index}-{number}"
            router.escalate(
                EscalationRequest(
                    conversation_id=conversation,
                    channel=rng.choice(CHANNELS),
                    skill=rng.choice(SKILLS),
                    min_level=rng.randint(1, 4),
                    priority=rng.randint(1, 3),
                )
            )
            stats["escalations"] += 1
            _answer(router, rng, stats, resolve_all=False)
            if number % 7 == 0:
                router.tick()
            if rng.random() < 0.03:
                agent_id = rng.choice(agent_ids)
                router.set_status(agent_id, AgentStatus.AWAY)
                router.set_status(agent_id, AgentStatus.ONLINE)
                stats["status_toggles"] += 1
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            router.work()
            _answer(router, rng, stats, resolve_all=True)
            if not router.tickets(states=(TicketState.QUEUED, TicketState.OFFERED, TicketState.ASSIGNED), limit=1):
                break
            time.sleep(0.05)
        engine.dispose()
        results.put((index, dict(stats), None))
    except BaseException:  # the parent test reports it; a worker must not die silently
        results.put((index, None, traceback.format_exc()))

"""The assignment policies, without a database: who is eligible at each widening step, and in what order."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from routing.assignment import (
    Candidate,
    Requirement,
    RoundRobinPolicy,
    SkillsPolicy,
    exact_demand,
    scopes_at,
    withdraw_demand,
)
from routing.roster import AgentStatus, ChannelKind, HumanAgent, Scope

CHAT = ChannelKind.CHAT
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
STEPS = (Scope.EXACT, Scope.LOWER_LEVEL, Scope.TEAM, Scope.FALLBACK)


def agent(
    agent_id: str,
    *,
    skills: dict[str, int] | None = None,
    team: str | None = "cards",
    languages: tuple[str, ...] = ("en",),
    chat: int = 3,
    status: AgentStatus = AgentStatus.ONLINE,
) -> HumanAgent:
    return HumanAgent(
        id=agent_id,
        name=agent_id.title(),
        email=f"{agent_id}@example.com",
        team=team,
        skills=skills or {},
        languages=languages,
        capacity={CHAT: chat, ChannelKind.EMAIL: 5},
        status=status,
    )


def cand(a: HumanAgent, chat_load: int = 0, idle_minutes: int = 0, offered_minutes: int | None = None) -> Candidate:
    return Candidate(
        agent=a,
        load={CHAT: chat_load},
        idle_since=T0 - dt.timedelta(minutes=idle_minutes),
        last_offer_at=None if offered_minutes is None else T0 - dt.timedelta(minutes=offered_minutes),
    )


def ids(ranked: list[Candidate]) -> list[str]:
    return [c.agent.id for c in ranked]


def need(step: int = 0, **values: object) -> Requirement:
    base: dict[str, object] = {
        "channel_kind": CHAT,
        "skill": "cards",
        "min_level": 3,
        "language": "en",
        "scopes": scopes_at(STEPS, step),
        "team": "cards",
        "fallback_team": "general",
    }
    base.update(values)
    return Requirement(**base)  # type: ignore[arg-type]


def test_rank_by_level_then_load_then_idle_time() -> None:
    expert = cand(agent("expert", skills={"cards": 5}), chat_load=2)
    busy = cand(agent("busy", skills={"cards": 4}), chat_load=2, idle_minutes=50)
    light = cand(agent("light", skills={"cards": 4}), chat_load=1, idle_minutes=1)
    idle_long = cand(agent("idlelong", skills={"cards": 4}), chat_load=1, idle_minutes=30)
    ranked = SkillsPolicy().rank(need(), [busy, light, expert, idle_long])
    assert ids(ranked) == ["expert", "idlelong", "light", "busy"]


def test_load_is_a_fraction_of_capacity() -> None:
    big = cand(agent("big", skills={"cards": 4}, chat=6), chat_load=2)  # 1/3 loaded
    small = cand(agent("small", skills={"cards": 4}, chat=2), chat_load=1)  # 1/2 loaded
    assert ids(SkillsPolicy().rank(need(), [small, big])) == ["big", "small"]


def test_only_online_agents_with_the_language_and_free_capacity() -> None:
    policy = SkillsPolicy()
    fine = cand(agent("fine", skills={"cards": 3}))
    away = cand(agent("away", skills={"cards": 5}, status=AgentStatus.AWAY))
    offline = cand(agent("offline", skills={"cards": 5}, status=AgentStatus.OFFLINE))
    german = cand(agent("german", skills={"cards": 5}, languages=("de",)))
    full = cand(agent("full", skills={"cards": 5}, chat=2), chat_load=2)
    no_chat = cand(agent("nochat", skills={"cards": 5}, chat=0))
    assert ids(policy.rank(need(), [fine, away, offline, german, full, no_chat])) == ["fine"]
    assert ids(policy.rank(need(language="de"), [fine, german])) == ["german"]
    assert ids(policy.rank(need(language="en-GB"), [fine, german])) == ["fine"]
    # email capacity is separate from chat capacity
    assert ids(policy.rank(need(channel_kind=ChannelKind.EMAIL), [full])) == ["full"]


def test_each_widening_step_adds_agents() -> None:
    policy = SkillsPolicy()
    exact = cand(agent("exact", skills={"cards": 3}), chat_load=3 - 1)
    novice = cand(agent("novice", skills={"cards": 1}))
    teammate = cand(agent("teammate", skills={"transfers": 5}))
    general = cand(agent("general", team="general"))
    stranger = cand(agent("stranger", team="payments", skills={"transfers": 5}))
    pool = [stranger, general, teammate, novice, exact]
    assert ids(policy.rank(need(0), pool)) == ["exact"]
    assert ids(policy.rank(need(1), pool)) == ["exact", "novice"]
    assert ids(policy.rank(need(2), pool)) == ["exact", "novice", "teammate"]
    assert ids(policy.rank(need(3), pool)) == ["exact", "novice", "general", "teammate"]
    # with no fallback team, the last step reaches every agent
    assert ids(policy.rank(need(3, fallback_team=None), pool)) == ["exact", "novice", "general", "stranger", "teammate"]
    assert ids(policy.rank(need(2, fallback_team=None), pool)) == ["exact", "novice", "teammate"]
    # a conversation with no skill can go to anyone
    assert set(ids(policy.rank(need(0, skill=None), pool))) == {c.agent.id for c in pool}


def test_a_widened_conversation_spares_agents_others_wait_for() -> None:
    policy = SkillsPolicy()
    wanted = replace(cand(agent("wanted", skills={"transfers": 5}), idle_minutes=30), demand={CHAT: 2})
    spare = cand(agent("spare", team="general"), idle_minutes=0)
    novice = replace(cand(agent("novice", skills={"cards": 1})), demand={CHAT: 1})
    # demand comes after the skill level (the novice still goes first) and before load and idle time
    assert ids(policy.rank(need(3, fallback_team=None), [wanted, spare, novice])) == ["novice", "spare", "wanted"]
    # demand of another channel kind does not count against a chat
    other_kind = replace(wanted, demand={ChannelKind.EMAIL: 5})
    assert ids(policy.rank(need(3, fallback_team=None), [spare, other_kind])) == ["wanted", "spare"]


def test_demand_counts_exact_matches_per_channel_kind() -> None:
    ana = agent("ana", skills={"cards": 4})
    bob = agent("bob", skills={"cards": 2}, languages=("en", "de"))
    waiting = [need(), need(channel_kind=ChannelKind.EMAIL), need(language="de"), need(skill=None)]
    demand = exact_demand(waiting, [ana, bob])
    # bob is below the level and nobody speaks German at level 3; a conversation with no skill wants nobody
    assert demand == {"ana": {CHAT: 1, ChannelKind.EMAIL: 1}}
    withdraw_demand(demand, need(), [ana, bob])
    assert demand == {"ana": {CHAT: 0, ChannelKind.EMAIL: 1}}


def test_agents_who_passed_come_last_and_targets_narrow_the_pool() -> None:
    policy = SkillsPolicy()
    first = cand(agent("first", skills={"cards": 5}))
    second = cand(agent("second", skills={"cards": 3}))
    other_team = cand(agent("other", team="payments"))
    assert ids(policy.rank(need(passed_over=frozenset({"first"})), [first, second])) == ["second", "first"]
    assert ids(policy.rank(need(target_agent="second"), [first, second, other_team])) == ["second"]
    assert ids(policy.rank(need(target_team="payments"), [first, second, other_team])) == ["other"]


def test_round_robin_ignores_skills_but_not_language_or_capacity() -> None:
    policy = RoundRobinPolicy()
    expert = cand(agent("expert", skills={"cards": 5}), offered_minutes=1)
    novice = cand(agent("novice"), offered_minutes=10)
    fresh = cand(agent("fresh"))  # never offered anything: first in turn
    german = cand(agent("german", languages=("de",)))
    full = cand(agent("full", chat=1), chat_load=1)
    assert ids(policy.rank(need(), [expert, novice, fresh, german, full])) == ["fresh", "novice", "expert"]

"""Who may take a waiting conversation, and in what order: the assignment policies (no database here).

A conversation's `Requirement` says what it needs at its current widening step. An agent is eligible when
online, speaking the language, with free capacity for the channel kind, and inside the reached scopes:

- exact: holds the skill at `min_level` or above (a conversation with no skill: every agent);
- lower_level: holds the skill at any level;
- team: belongs to the conversation's team;
- fallback: belongs to the fallback team (with no fallback team configured: every agent).

A transfer aims the conversation at one agent or one team until its SLA runs out; then only that agent, or
only that team's members, are eligible.

`SkillsPolicy` ranks eligible agents by skill level (highest first), then by demand (how many other waiting
conversations of the channel kind match them exactly, fewest first: a conversation served outside its skill
spares the agents others are waiting for), then by load as a fraction of capacity for the channel kind, then
over all kinds, then by how long they have been idle. Agents who already declined or let an offer of this
conversation expire come after everyone else. `RoundRobinPolicy` is the comparison
baseline: it ignores skills and scopes, keeps language and capacity, and takes agents in turn (the one offered
work longest ago first).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from routing.roster import AgentStatus, ChannelKind, HumanAgent, Scope

_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a waiting conversation needs from an agent at its current widening step."""

    channel_kind: ChannelKind
    skill: str | None = None
    min_level: int = 1
    language: str | None = None
    scopes: frozenset[Scope] = frozenset({Scope.EXACT})
    team: str | None = None
    fallback_team: str | None = None
    target_agent: str | None = None
    target_team: str | None = None
    passed_over: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Candidate:
    """An agent with their current load (offered plus assigned) per channel kind and their timers.

    `demand` counts, per channel kind, the waiting conversations this agent is an exact match for (skill at
    the required level, language, capacity for the kind); the dispatcher fills it in so that a conversation
    taken outside its skill does not use up an agent whom others are waiting for.
    """

    agent: HumanAgent
    load: Mapping[ChannelKind, int] = field(default_factory=dict)
    idle_since: dt.datetime | None = None
    last_offer_at: dt.datetime | None = None
    demand: Mapping[ChannelKind, int] = field(default_factory=dict)

    def free(self, kind: ChannelKind) -> int:
        """Conversations of `kind` the agent can still take."""
        return max(0, self.agent.capacity_for(kind) - self.load.get(kind, 0))

    def load_fraction(self, kind: ChannelKind) -> float:
        """Load of `kind` as a fraction of the agent's capacity for it."""
        capacity = self.agent.capacity_for(kind)
        return self.load.get(kind, 0) / capacity if capacity else 1.0

    def total_fraction(self) -> float:
        """Load over every channel kind as a fraction of the agent's whole capacity."""
        capacity = sum(self.agent.capacity.values())
        return sum(self.load.values()) / capacity if capacity else 1.0


class AssignmentPolicy(Protocol):
    """Ranks the agents who may take a conversation, best first; an empty list means it has to wait."""

    name: str

    def rank(self, requirement: Requirement, candidates: Sequence[Candidate]) -> list[Candidate]:
        """The eligible candidates for `requirement`, best first."""
        ...


def available(requirement: Requirement, candidate: Candidate) -> bool:
    """Online, speaking the language, with free capacity for the channel kind."""
    agent = candidate.agent
    return (
        agent.status is AgentStatus.ONLINE
        and agent.speaks(requirement.language)
        and candidate.free(requirement.channel_kind) > 0
    )


def in_scope(requirement: Requirement, agent: HumanAgent) -> bool:
    """Whether the agent is inside the reached scopes (or is the transfer's target)."""
    if requirement.target_agent is not None:
        return agent.id == requirement.target_agent
    if requirement.target_team is not None:
        return agent.team == requirement.target_team
    scopes = requirement.scopes
    skill = requirement.skill
    if skill is None:
        return True
    level = agent.level(skill)
    if Scope.EXACT in scopes and level >= requirement.min_level:
        return True
    if Scope.LOWER_LEVEL in scopes and level >= 1:
        return True
    if Scope.TEAM in scopes and requirement.team is not None and agent.team == requirement.team:
        return True
    return Scope.FALLBACK in scopes and requirement.fallback_team in (None, agent.team)


def skill_matched(requirement: Requirement, agent: HumanAgent) -> bool:
    """Whether the agent holds the required skill at the required level (always, for no skill)."""
    return requirement.skill is None or agent.level(requirement.skill) >= requirement.min_level


class SkillsPolicy:
    """Best skill match, then least loaded, then idle longest (see the module docstring)."""

    name = "skills"

    def rank(self, requirement: Requirement, candidates: Sequence[Candidate]) -> list[Candidate]:
        """The eligible candidates for `requirement`, best first."""
        kind = requirement.channel_kind
        eligible = [c for c in candidates if available(requirement, c) and in_scope(requirement, c.agent)]
        skill = requirement.skill
        return sorted(
            eligible,
            key=lambda c: (
                c.agent.id in requirement.passed_over,
                -(c.agent.level(skill) if skill is not None else 0),
                c.demand.get(kind, 0),
                c.load_fraction(kind),
                c.total_fraction(),
                c.idle_since or _NEVER,
                c.agent.id,
            ),
        )


class RoundRobinPolicy:
    """Plain round robin: the available agent (language, capacity) offered work longest ago, skills ignored."""

    name = "round_robin"

    def rank(self, requirement: Requirement, candidates: Sequence[Candidate]) -> list[Candidate]:
        """The available candidates, the one offered work longest ago first."""
        eligible = [c for c in candidates if available(requirement, c)]
        return sorted(
            eligible,
            key=lambda c: (c.agent.id in requirement.passed_over, c.last_offer_at or _NEVER, c.agent.id),
        )


def scopes_at(steps: Sequence[Scope], step: int) -> frozenset[Scope]:
    """The scopes reached once a conversation is at widening `step` of `steps`."""
    return frozenset(steps[: step + 1])


def exact_match(requirement: Requirement, agent: HumanAgent) -> bool:
    """Whether the agent could take the conversation at its exact step once they had room: it needs a skill
    they hold at the required level, in a language they speak, on a channel kind they take."""
    return (
        requirement.skill is not None
        and requirement.target_agent is None
        and requirement.target_team is None
        and agent.speaks(requirement.language)
        and agent.capacity_for(requirement.channel_kind) > 0
        and skill_matched(requirement, agent)
    )


def exact_demand(
    requirements: Iterable[Requirement], agents: Sequence[HumanAgent]
) -> dict[str, dict[ChannelKind, int]]:
    """Per agent, per channel kind, how many of the waiting conversations they are an exact match for."""
    demand: dict[str, dict[ChannelKind, int]] = {}
    for requirement in requirements:
        withdraw_demand(demand, requirement, agents, sign=1)
    return demand


def withdraw_demand(
    demand: dict[str, dict[ChannelKind, int]], requirement: Requirement, agents: Sequence[HumanAgent], sign: int = -1
) -> None:
    """Take a conversation that no longer waits out of `demand` (with `sign` 1: add a waiting one)."""
    kind = requirement.channel_kind
    for agent in agents:
        if exact_match(requirement, agent):
            per_kind = demand.setdefault(agent.id, {})
            per_kind[kind] = max(0, per_kind.get(kind, 0) + sign)

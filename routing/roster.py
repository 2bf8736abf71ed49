"""Who can take conversations and how routing behaves: human agents, teams, the routing configuration, and
the roster file that holds all three.

The roster file is JSON:

    {"teams": [{"id": "cards", "name": "Cards", "skills": ["cards"]}],
     "agents": [{"id": "ana", "name": "Ana", "email": "ana@example.com", "role": "agent", "team": "cards",
                 "skills": {"cards": 4}, "languages": ["en", "es"],
                 "capacity": {"chat": 3, "messaging": 5, "email": 8, "voice": 1}, "status": "online"}],
     "routing": {"sla_seconds": {"1": 60, "2": 180, "3": 300}, "offer_timeout_seconds": 30,
                 "widening": [{"scope": "lower_level", "sla_fraction": 0.25},
                              {"scope": "team", "sla_fraction": 0.5},
                              {"scope": "fallback", "sla_fraction": 0.75}],
                 "widening_by_priority": {"3": [{"scope": "lower_level", "sla_fraction": 0.1},
                                                {"scope": "team", "sla_fraction": 0.2},
                                                {"scope": "fallback", "sla_fraction": 0.3}]},
                 "skip_unstaffed_steps": true,
                 "fallback_team": "general"}}

Widening. A waiting conversation is first offered only to agents holding its skill at the required level
(`exact`); each widening step adds a scope (`lower_level`, `team`, `fallback`, in the order listed) once a
share of its SLA has passed: `sla_fraction` 0.25 is a quarter of the way into the SLA (15 s of a 60 s SLA,
75 s of a 300 s one). The steps of `widening` apply to every priority without an entry in
`widening_by_priority`, whose own list replaces them for that priority (it may list fewer scopes). A step
may instead say `after_seconds`, seconds after the SLA runs out (negative: before). Steps must come in the
order they apply, for every priority's SLA. Without `widening` the default is 0.25, 0.5 and 0.75. When the
SLA itself runs out the breach is recorded and the team's supervisors are told; widening does not wait for
it. With `skip_unstaffed_steps` (the default) a step whose pool has nobody online who could take the
conversation (speaking its language, with capacity for its channel kind) is passed at once, like a Twilio
TaskRouter target with `skip_if: workers.available == 0`.

`load_roster` raises `RosterError` naming the file and the bad field (`agents[2] (id 'bo').skills.cards`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from routing.errors import RosterError
from routing.skillmap import SkillMap


class ChannelKind(StrEnum):
    """The kinds of channel an agent's capacity is counted in."""

    CHAT = "chat"
    MESSAGING = "messaging"
    EMAIL = "email"
    VOICE = "voice"


EXAMPLE_ROSTER = Path(__file__).with_name("examples") / "roster.json"

DEFAULT_CHANNEL_KINDS: Mapping[str, ChannelKind] = {
    "webchat": ChannelKind.CHAT,
    "whatsapp": ChannelKind.MESSAGING,
    "sms": ChannelKind.MESSAGING,
    "email": ChannelKind.EMAIL,
    "voice": ChannelKind.VOICE,
}


class AgentStatus(StrEnum):
    """Whether an agent takes new conversations (online), keeps only their current ones (away) or is gone."""

    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class Role(StrEnum):
    """What an agent may do: take conversations; also supervise a team (told of SLA breaches); administer."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Scope(StrEnum):
    """How far a waiting conversation's search reaches; each widening step adds one scope to the pool.

    exact: agents holding the skill at the required level or above; lower_level: at any level;
    team: every agent of the conversation's team; fallback: every agent of the fallback team, or every agent
    at all when no fallback team is configured (a catch-all queue, as in TaskRouter workflows).
    """

    EXACT = "exact"
    LOWER_LEVEL = "lower_level"
    TEAM = "team"
    FALLBACK = "fallback"


Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,63}$")]
Level = Annotated[int, Field(strict=True, ge=1, le=5)]
Capacity = Annotated[int, Field(strict=True, ge=0, le=1000)]
Language = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]
Priority = Annotated[int, Field(strict=True, ge=1, le=9)]


class HumanAgent(BaseModel):
    """A person who takes conversations: skills with a level (1-5), languages, capacity per channel kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]
    role: Role = Role.AGENT
    team: Identifier | None = None
    skills: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Level] = Field(default_factory=dict)
    languages: tuple[Language, ...] = Field(min_length=1)
    capacity: dict[ChannelKind, Capacity] = Field(default_factory=dict)
    status: AgentStatus = AgentStatus.OFFLINE

    @field_validator("languages")
    @classmethod
    def _lowercase_languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(language.lower() for language in value))

    def level(self, skill: str) -> int:
        """The agent's level in `skill` (0 when they do not hold it)."""
        return self.skills.get(skill, 0)

    def speaks(self, language: str | None) -> bool:
        """Whether the agent serves `language` (None: any); `en-GB` is served by an agent listing `en`."""
        if language is None:
            return True
        wanted = language.lower()
        return wanted in self.languages or wanted.split("-", 1)[0] in self.languages

    def capacity_for(self, kind: ChannelKind) -> int:
        """How many conversations of `kind` the agent holds at once (0: none)."""
        return self.capacity.get(kind, 0)


class Team(BaseModel):
    """A group of agents with the skills whose conversations it owns (its queue)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    skills: tuple[Annotated[str, StringConstraints(min_length=1, max_length=64)], ...] = ()


class WideningStep(BaseModel):
    """One step of the search widening: add `scope` to the pool once part of the SLA has passed.

    Give the moment as `sla_fraction`, the share of the priority's SLA that has passed since the SLA started
    (0.25: a quarter of the way; 1.0: when it runs out), or as `after_seconds`, seconds after the SLA runs out
    (negative: that long before). Fractions scale with each priority's SLA, as the step timeouts of a Twilio
    TaskRouter workflow are set inside the SLA they serve. A step with neither widens when the SLA runs out.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: Scope
    sla_fraction: Annotated[float, Field(ge=0, le=10)] | None = None
    after_seconds: Annotated[float, Field(ge=-86400, le=86400)] | None = None

    @field_validator("scope")
    @classmethod
    def _not_exact(cls, value: Scope) -> Scope:
        if value is Scope.EXACT:
            msg = "'exact' is where every search starts; a widening step must be lower_level, team or fallback"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _one_moment(self) -> WideningStep:
        if self.sla_fraction is not None and self.after_seconds is not None:
            msg = (
                f"give sla_fraction or after_seconds, not both (got sla_fraction={self.sla_fraction:g}, "
                f"after_seconds={self.after_seconds:g})"
            )
            raise ValueError(msg)
        return self

    def offset_seconds(self, sla_seconds: float) -> float:
        """Seconds from the start of an SLA of `sla_seconds` until this step widens (never negative)."""
        if self.sla_fraction is not None:
            return sla_seconds * self.sla_fraction
        return max(0.0, sla_seconds + (self.after_seconds or 0.0))


DEFAULT_WIDENING = (
    WideningStep(scope=Scope.LOWER_LEVEL, sla_fraction=0.25),
    WideningStep(scope=Scope.TEAM, sla_fraction=0.5),
    WideningStep(scope=Scope.FALLBACK, sla_fraction=0.75),
)

Widening = tuple[WideningStep, ...]


def _check_widening(value: Widening) -> Widening:
    scopes = [step.scope.value for step in value]
    if len(set(scopes)) != len(scopes):
        msg = f"each scope may appear once in the widening steps, got {scopes}"
        raise ValueError(msg)
    for name in ("sla_fraction", "after_seconds"):
        moments = [getattr(step, name) for step in value]
        if all(moment is not None for moment in moments) and moments != sorted(moments):
            msg = f"widening steps must come in order of {name}, got {moments}"
            raise ValueError(msg)
    return value


class RoutingConfig(BaseModel):
    """SLA per priority, offer timeout, widening steps, fallback team and the channel -> kind mapping.

    `sla_seconds[p]` is how long a conversation of priority p may wait until an agent accepts it. While it
    waits, the search widens along `widening` (or `widening_by_priority[p]`, which replaces it for priority p),
    by default a quarter of the way into the SLA to lower skill levels, half way to the whole team and three
    quarters of the way to the fallback team; when the SLA runs out the breach is recorded and the team's
    supervisors are told. For example, with an SLA of 60 s for priority 1 and the default steps, a priority-1
    conversation is offered to exact matches only for 15 s, then also to lower levels, at 30 s to the team, at
    45 s to the fallback team, and breaches at 60 s if nobody has accepted it. With `skip_unstaffed_steps`, a
    step whose pool has nobody online who could take the conversation is passed at once (see the module
    docstring).

    `channel_kinds` adds to (or overrides) `DEFAULT_CHANNEL_KINDS`. A conversation with no explicit minimum
    skill level needs `default_min_level`. `default_handle_seconds` feeds wait estimates until conversations
    have been resolved.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sla_seconds: dict[Annotated[int, Field(ge=1, le=9)], Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {1: 60.0, 2: 180.0, 3: 300.0, 4: 900.0, 5: 1800.0}
    )
    offer_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    widening: Widening = DEFAULT_WIDENING
    widening_by_priority: dict[Annotated[int, Field(ge=1, le=9)], Widening] = Field(default_factory=dict)
    fallback_team: Identifier | None = None
    skip_unstaffed_steps: bool = True
    default_priority: Priority = 3
    default_min_level: Level = 3
    default_handle_seconds: Annotated[float, Field(gt=0)] = 300.0
    channel_kinds: dict[Annotated[str, StringConstraints(min_length=1, max_length=32)], ChannelKind] = Field(
        default_factory=lambda: dict(DEFAULT_CHANNEL_KINDS)
    )

    @field_validator("channel_kinds")
    @classmethod
    def _merge_default_kinds(cls, value: dict[str, ChannelKind]) -> dict[str, ChannelKind]:
        return {**DEFAULT_CHANNEL_KINDS, **value}

    @field_validator("widening")
    @classmethod
    def _ordered_steps(cls, value: Widening) -> Widening:
        return _check_widening(value)

    @field_validator("widening_by_priority")
    @classmethod
    def _ordered_steps_by_priority(cls, value: dict[int, Widening]) -> dict[int, Widening]:
        for priority, steps in value.items():
            try:
                _check_widening(steps)
            except ValueError as exc:
                msg = f"priority {priority}: {exc}"
                raise ValueError(msg) from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RoutingConfig:
        if self.default_priority not in self.sla_seconds:
            msg = f"default_priority {self.default_priority} has no SLA; sla_seconds covers {sorted(self.sla_seconds)}"
            raise ValueError(msg)
        unknown = sorted(set(self.widening_by_priority) - set(self.sla_seconds))
        if unknown:
            msg = (
                f"widening_by_priority names priorities {unknown} that have no SLA; "
                f"sla_seconds covers {sorted(self.sla_seconds)}"
            )
            raise ValueError(msg)
        for priority, sla in sorted(self.sla_seconds.items()):
            moments = [step.offset_seconds(sla) for step in self.widening_for(priority)]
            if moments != sorted(moments):
                msg = (
                    f"the widening steps of priority {priority} (SLA {sla:g} s) must come in the order they apply, "
                    f"got {[round(m, 3) for m in moments]} s into the SLA"
                )
                raise ValueError(msg)
        return self

    @property
    def steps(self) -> tuple[Scope, ...]:
        """Every scope of the default widening in the order a waiting conversation reaches it, from exact."""
        return (Scope.EXACT, *(step.scope for step in self.widening))

    def widening_for(self, priority: int) -> Widening:
        """The widening steps of `priority` (its own, else the default ones)."""
        return self.widening_by_priority.get(priority, self.widening)

    def steps_for(self, priority: int) -> tuple[Scope, ...]:
        """Every scope in the order a waiting conversation of `priority` reaches it, starting with exact."""
        return (Scope.EXACT, *(step.scope for step in self.widening_for(priority)))

    def widen_offsets(self, priority: int) -> tuple[float, ...]:
        """Seconds from the start of the SLA of `priority` until each of its widening steps."""
        sla = self.sla_for(priority)
        return tuple(step.offset_seconds(sla) for step in self.widening_for(priority))

    def sla_for(self, priority: int) -> float:
        """Seconds a conversation of `priority` may wait for an agent."""
        seconds = self.sla_seconds.get(priority)
        if seconds is None:
            msg = f"no SLA is configured for priority {priority}; sla_seconds covers {sorted(self.sla_seconds)}"
            raise RosterError(msg)
        return seconds

    def kind_of(self, channel: str) -> ChannelKind:
        """The channel kind whose capacity a conversation on `channel` uses."""
        kind = self.channel_kinds.get(channel)
        if kind is None:
            msg = (
                f"channel {channel!r} has no channel kind; known channels: {sorted(self.channel_kinds)} "
                "(add it to routing.channel_kinds)"
            )
            raise RosterError(msg)
        return kind


class Roster(BaseModel):
    """Teams, agents and the routing configuration, as kept in a roster file (`about` is a free note)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    about: str = ""
    teams: tuple[Team, ...] = ()
    agents: tuple[HumanAgent, ...] = ()
    routing: RoutingConfig = Field(default_factory=RoutingConfig)

    @model_validator(mode="after")
    def _consistent(self) -> Roster:
        team_ids = [team.id for team in self.teams]
        _unique(team_ids, "teams")
        _unique([agent.id for agent in self.agents], "agents")
        for index, agent in enumerate(self.agents):
            if agent.team is not None and agent.team not in team_ids:
                msg = f"agents[{index}] (id {agent.id!r}).team: unknown team {agent.team!r}; teams: {team_ids}"
                raise ValueError(msg)
        fallback = self.routing.fallback_team
        if fallback is not None and fallback not in team_ids:
            msg = f"routing.fallback_team: unknown team {fallback!r}; teams: {team_ids}"
            raise ValueError(msg)
        return self


def _unique(ids: list[str], where: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(ids):
        if value in seen:
            msg = f"{where}[{index}].id: {value!r} is used twice"
            raise ValueError(msg)
        seen.add(value)


def parse_roster(raw: object, *, skill_map: SkillMap | None = None) -> Roster:
    """Validate a parsed roster; with a skill map, every skill named by a team or agent must be in it."""
    try:
        roster = Roster.model_validate(raw)
    except ValidationError as exc:
        raise RosterError(_explain(exc, raw)) from exc
    if skill_map is not None:
        known = sorted(skill_map.skills)
        for index, team in enumerate(roster.teams):
            for skill in team.skills:
                if skill not in skill_map.skills:
                    msg = f"teams[{index}] (id {team.id!r}).skills: unknown skill {skill!r}; the skill map has {known}"
                    raise RosterError(msg)
        for index, agent in enumerate(roster.agents):
            for skill in agent.skills:
                if skill not in skill_map.skills:
                    msg = f"agents[{index}] (id {agent.id!r}).skills.{skill}: unknown skill; the skill map has {known}"
                    raise RosterError(msg)
    return roster


def load_roster(path: Path, *, skill_map: SkillMap | None = None) -> Roster:
    """Read and validate a roster file; `RosterError` names the file and the bad field."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        msg = f"{path}: cannot read the roster ({exc.strerror or exc})"
        raise RosterError(msg) from exc
    except json.JSONDecodeError as exc:
        msg = f"{path}: the roster is not valid JSON ({exc.msg} at line {exc.lineno})"
        raise RosterError(msg) from exc
    try:
        return parse_roster(raw, skill_map=skill_map)
    except RosterError as exc:
        msg = f"{path}: {exc}"
        raise RosterError(msg) from exc


def _explain(exc: ValidationError, raw: object) -> str:
    """The validation problems as `where: what (got value)`, with the id of the agent or team at fault."""
    problems: list[str] = []
    for error in exc.errors():
        where = _path(error["loc"], raw)
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] in {"value_error", "assertion_error"} or "input" not in error:
            problems.append(f"{where}: {message}" if where else message)
        else:
            problems.append(f"{where}: {message} (got {error['input']!r})")
    return "; ".join(problems)


def _path(loc: tuple[int | str, ...], raw: object) -> str:
    text = ""
    node: Any = raw
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                text += f" (id {item['id']!r})"
            node = item
        elif part == "[key]":
            text += " (the key)"
        else:
            text += f".{part}" if text else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return text

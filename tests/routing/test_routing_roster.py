"""Roster files, the skill map and the routing configuration: what loads, and the errors for what does not."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from routing.errors import RosterError
from routing.roster import ChannelKind, RoutingConfig, Scope, load_roster, parse_roster
from routing.skillmap import SkillMap

EXAMPLE = Path(__file__).resolve().parents[2] / "routing" / "examples" / "roster.json"

GOOD: dict[str, Any] = {
    "teams": [{"id": "cards", "name": "Cards", "skills": ["cards"]}, {"id": "general", "name": "General"}],
    "agents": [
        {
            "id": "ana",
            "name": "Ana",
            "email": "ana@example.com",
            "team": "cards",
            "skills": {"cards": 4},
            "languages": ["EN", "es"],
            "capacity": {"chat": 3, "voice": 1},
            "status": "online",
        },
        {"id": "bo", "name": "Bo", "email": "bo@example.com", "role": "supervisor", "languages": ["en"]},
    ],
    "routing": {"sla_seconds": {"1": 60, "3": 300}, "fallback_team": "general"},
}


def _with(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    raw = copy.deepcopy(GOOD)
    node: Any = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return raw


def test_a_good_roster_loads_with_defaults() -> None:
    roster = parse_roster(GOOD)
    ana, bo = roster.agents
    assert ana.languages == ("en", "es")
    assert ana.capacity_for(ChannelKind.CHAT) == 3
    assert ana.capacity_for(ChannelKind.EMAIL) == 0
    assert ana.level("cards") == 4 and ana.level("transfers") == 0
    assert ana.speaks("en-GB") and ana.speaks(None) and not ana.speaks("de")
    assert bo.status.value == "offline" and bo.role.value == "supervisor"
    assert roster.routing.sla_for(1) == 60.0
    assert roster.routing.offer_timeout_seconds == 30.0
    assert roster.routing.steps == (Scope.EXACT, Scope.LOWER_LEVEL, Scope.TEAM, Scope.FALLBACK)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("agents", 0, "skills", "cards"), 7, r"agents\[0\] \(id 'ana'\)\.skills\.cards: .*less than or equal to 5.*7"),
        (("agents", 1, "capacity"), {"fax": 2}, r"agents\[1\] \(id 'bo'\)\.capacity\.fax.*'chat'.*got 'fax'"),
        (("agents", 1, "team"), "nobody", r"agents\[1\] \(id 'bo'\)\.team: unknown team 'nobody'"),
        (("agents", 1, "id"), "ana", r"agents\[1\]\.id: 'ana' is used twice"),
        (("agents", 0, "email"), "not-an-address", r"agents\[0\] \(id 'ana'\)\.email.*'not-an-address'"),
        (("agents", 0, "status"), "busy", r"agents\[0\] \(id 'ana'\)\.status.*'busy'"),
        (("agents", 0, "languages"), [], r"agents\[0\] \(id 'ana'\)\.languages.*at least 1"),
        (("routing", "fallback_team"), "night", r"routing\.fallback_team: unknown team 'night'"),
        (("routing", "sla_seconds", "2"), -5, r"routing\.sla_seconds\.2.*greater than 0.*-5"),
        (("routing", "default_priority"), 2, r"default_priority 2 has no SLA"),
        (
            ("routing", "widening"),
            [{"scope": "team", "after_seconds": 60}, {"scope": "lower_level", "after_seconds": 0}],
            r"routing\.widening: widening steps must come in order of after_seconds, got \[60\.0, 0\.0\]",
        ),
        (("routing", "widening"), [{"scope": "exact"}], r"routing\.widening\[0\]\.scope: 'exact' is where"),
        (
            ("routing", "widening"),
            [{"scope": "team", "sla_fraction": 0.5}, {"scope": "lower_level", "sla_fraction": 0.25}],
            r"routing\.widening: widening steps must come in order of sla_fraction, got \[0\.5, 0\.25\]",
        ),
        (
            ("routing", "widening"),
            [{"scope": "team", "sla_fraction": 0.5, "after_seconds": -10}],
            r"routing\.widening\[0\]: give sla_fraction or after_seconds, not both",
        ),
        (
            ("routing", "widening"),
            [{"scope": "team", "sla_fraction": -0.1}],
            r"routing\.widening\[0\]\.sla_fraction: .*greater than or equal to 0",
        ),
        (
            ("routing", "widening_by_priority"),
            {"1": [{"scope": "fallback", "sla_fraction": 0.5}, {"scope": "fallback", "sla_fraction": 0.7}]},
            r"routing\.widening_by_priority: priority 1: each scope may appear once",
        ),
        (
            ("routing", "widening_by_priority"),
            {"2": [{"scope": "lower_level", "sla_fraction": 0.1}]},
            r"widening_by_priority names priorities \[2\] that have no SLA; sla_seconds covers \[1, 3\]",
        ),
        (
            # 30 s before a 60 s SLA runs out is at 30 s, before a quarter of it (15 s): out of order for priority 1
            ("routing", "widening"),
            [{"scope": "lower_level", "after_seconds": -30}, {"scope": "team", "sla_fraction": 0.25}],
            r"the widening steps of priority 1 \(SLA 60 s\) must come in the order they apply, got \[30\.0, 15\.0\]",
        ),
        (("routing", "offer_timout_seconds"), 10, r"routing\.offer_timout_seconds: Extra inputs are not permitted"),
    ],
)
def test_a_bad_roster_names_the_bad_field(path: tuple[str | int, ...], value: object, expected: str) -> None:
    with pytest.raises(RosterError, match=expected):
        parse_roster(_with(path, value))


def test_widening_steps_as_fractions_of_each_priority_sla() -> None:
    default = RoutingConfig()
    # by default: lower levels at a quarter of the SLA, the team at half, the fallback team at three quarters
    assert default.widen_offsets(1) == (15.0, 30.0, 45.0)
    assert default.widen_offsets(3) == (75.0, 150.0, 225.0)
    assert default.steps_for(3) == (Scope.EXACT, Scope.LOWER_LEVEL, Scope.TEAM, Scope.FALLBACK)
    assert default.skip_unstaffed_steps
    roster = parse_roster(
        _with(
            ("routing",),
            {
                "sla_seconds": {"1": 60, "3": 300},
                "widening": [{"scope": "lower_level", "after_seconds": -200}, {"scope": "fallback"}],
                "widening_by_priority": {
                    "1": [{"scope": "fallback", "sla_fraction": 0.2}],
                    "3": [
                        {"scope": "lower_level", "sla_fraction": 0.1},
                        {"scope": "team", "sla_fraction": 0.2},
                        {"scope": "fallback", "sla_fraction": 0.3},
                    ],
                },
                "skip_unstaffed_steps": False,
            },
        )
    )
    config = roster.routing
    assert config.widen_offsets(1) == (12.0,) and config.steps_for(1) == (Scope.EXACT, Scope.FALLBACK)
    assert config.widen_offsets(3) == (30.0, 60.0, 90.0)
    # the default steps, in seconds from the SLA's end (a step with neither widens when it runs out)
    assert config.widening[0].offset_seconds(300) == 100.0 and config.widening[1].offset_seconds(300) == 300.0
    assert config.widening[0].offset_seconds(60) == 0.0  # never before the SLA starts
    assert not config.skip_unstaffed_steps


def test_roster_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.json"
    with pytest.raises(RosterError, match=r"absent\.json: cannot read the roster"):
        load_roster(missing)
    broken = tmp_path / "broken.json"
    broken.write_text('{"agents": [', encoding="utf-8")
    with pytest.raises(RosterError, match=r"broken\.json: the roster is not valid JSON .* line 1"):
        load_roster(broken)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_with(("agents", 0, "skills", "cards"), 0)), encoding="utf-8")
    with pytest.raises(RosterError, match=r"bad\.json: agents\[0\] \(id 'ana'\)\.skills\.cards"):
        load_roster(bad)


def test_skills_are_checked_against_the_skill_map(shared_data: Path) -> None:
    skills = SkillMap.from_file(shared_data / "banking77" / "skills.json")
    with pytest.raises(RosterError, match=r"agents\[0\] \(id 'ana'\)\.skills\.cardz: unknown skill; .*'cards'"):
        parse_roster(_with(("agents", 0, "skills"), {"cardz": 3}), skill_map=skills)
    with pytest.raises(RosterError, match=r"teams\[0\] \(id 'cards'\)\.skills: unknown skill 'card'"):
        parse_roster(_with(("teams", 0, "skills"), ["card"]), skill_map=skills)


def test_the_example_roster_loads_against_the_banking77_skill_map(shared_data: Path) -> None:
    skills = SkillMap.from_file(shared_data / "banking77" / "skills.json")
    roster = load_roster(EXAMPLE, skill_map=skills)
    assert len(roster.agents) == 12
    assert {team.id for team in roster.teams} == {"cards", "payments", "security", "general"}
    assert roster.routing.fallback_team is None  # the last step reaches every agent
    owned = {skill for team in roster.teams for skill in team.skills}
    assert owned == set(skills.skills)
    assert sum(agent.role.value == "supervisor" for agent in roster.agents) == 3


def test_banking77_skill_map(shared_data: Path) -> None:
    skills = SkillMap.from_file(shared_data / "banking77" / "skills.json")
    card = skills.skill_for("card_arrival")
    fraud = skills.skill_for("compromised_card")
    assert card is not None and card.name == "cards" and card.priority == 3
    assert fraud is not None and fraud.name == "fraud_and_security" and fraud.priority == 1
    assert skills.priority_of("transfers") == 2
    assert skills.skill_for("no_such_intent") is None
    assert skills.escalates_always("lost_or_stolen_card") and not skills.escalates_always("card_arrival")


def test_bad_skill_maps_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match=r"skills\.cards\.priority is 0; expected an integer >= 1"):
        SkillMap.from_dict({"skills": {"cards": {"intents": ["a"], "priority": 0}}})
    with pytest.raises(RosterError, match=r"intent 'a' is mapped to two skills: 'x' and 'y'"):
        SkillMap.from_dict({"skills": {"x": {"intents": ["a"], "priority": 1}, "y": {"intents": ["a"], "priority": 2}}})
    path = tmp_path / "skills.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(RosterError, match=r"skills\.json: the skill map must be a JSON object, got list"):
        SkillMap.from_file(path)


def test_channel_kinds_default_and_extend() -> None:
    config = RoutingConfig()
    assert config.kind_of("webchat") is ChannelKind.CHAT
    assert config.kind_of("whatsapp") is ChannelKind.MESSAGING
    assert config.kind_of("sms") is ChannelKind.MESSAGING
    assert config.kind_of("email") is ChannelKind.EMAIL
    assert config.kind_of("voice") is ChannelKind.VOICE
    with pytest.raises(RosterError, match=r"channel 'cli' has no channel kind; known channels: .*'webchat'"):
        config.kind_of("cli")
    extended = RoutingConfig.model_validate({"channel_kinds": {"cli": "chat"}})
    assert extended.kind_of("cli") is ChannelKind.CHAT
    assert extended.kind_of("sms") is ChannelKind.MESSAGING
    with pytest.raises(RosterError, match=r"no SLA is configured for priority 7; sla_seconds covers \[1, 2, 3, 4, 5\]"):
        config.sla_for(7)

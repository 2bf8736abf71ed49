"""The routing simulation: the events generator on Banking77, the metrics on a day small enough to work out by
hand, and `frontdesk eval routing` on a generated day."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evaluation.routing import SimulationSettings, agent_answer, load_events, main, run_routing_eval, simulate
from evaluation.routing_events import generate_events, load_messages, write_events
from frontdesk.cli import app
from routing.assignment import SkillsPolicy
from routing.roster import EXAMPLE_ROSTER, Roster, Scope, WideningStep, load_roster, parse_roster
from routing.skillmap import SkillMap

runner = CliRunner()


@pytest.fixture(scope="module")
def banking(shared_data: Path) -> tuple[list[tuple[str, str]], SkillMap, Roster]:
    skills = SkillMap.from_file(shared_data / "banking77" / "skills.json")
    messages = load_messages(shared_data / "banking77" / "train.csv")
    return messages, skills, load_roster(EXAMPLE_ROSTER, skill_map=skills)


def test_generated_day_follows_the_data_and_the_rhythm(banking: tuple[list[tuple[str, str]], SkillMap, Roster]) -> None:
    messages, skills, roster = banking
    events = generate_events(messages, skills, roster, count=400, seed=3)
    meta, rest = events[0], events[1:]
    assert meta["type"] == "meta" and meta["escalations"] == 400
    escalations = [e for e in rest if e["type"] == "escalation"]
    assert len(escalations) == 400
    assert [e["at"] for e in rest] == sorted(e["at"] for e in rest)
    texts = dict(messages)
    for event in escalations:
        skill = skills.skill_for(event["intent"])
        assert skill is not None and (event["skill"], event["priority"]) == (skill.name, skill.priority)
        assert texts.get(event["text"]) is not None and event["handle_seconds"] > 0
    hours = Counter(int(e["at"] // 3600) for e in escalations)
    assert sum(hours[h] for h in (9, 10, 11)) > 4 * sum(hours[h] for h in (2, 3, 4))
    online = {e["agent"] for e in rest if e["type"] == "status" and e["status"] == "online"}
    assert online == {agent.id for agent in roster.agents}
    assert generate_events(messages, skills, roster, count=400, seed=3) == events  # seeded


def _day(tmp_path: Path, lines: list[dict[str, Any]]) -> Path:
    path = tmp_path / "day.jsonl"
    write_events(path, lines)
    return path


def test_metrics_of_a_day_worked_out_by_hand(tmp_path: Path) -> None:
    roster = parse_roster(
        {
            "teams": [{"id": "cards", "name": "Cards", "skills": ["cards"]}],
            "agents": [
                {
                    "id": "ana",
                    "name": "Ana",
                    "email": "ana@example.com",
                    "team": "cards",
                    "skills": {"cards": 4},
                    "languages": ["en"],
                    "capacity": {"chat": 1},
                }
            ],
            "routing": {"sla_seconds": {"3": 60}},
        }
    )
    path = _day(
        tmp_path,
        [
            {"type": "status", "at": 0, "agent": "ana", "status": "online"},
            {"type": "escalation", "at": 10, "id": "a", "channel": "webchat", "skill": "cards", "priority": 3,
             "language": "en", "handle_seconds": 100},
            {"type": "escalation", "at": 20, "id": "b", "channel": "webchat", "skill": "cards", "priority": 3,
             "language": "en", "handle_seconds": 50},
        ],
    )  # fmt: skip
    settings = SimulationSettings(accept_delay=(3.0, 3.0), miss_rate=0.0)
    result = run_routing_eval(path, roster, settings=settings)
    for name in ("skills", "round_robin"):
        measured = result["policies"][name]
        # a: offered at 10, taken at 13, done at 113; b waits for ana: offered at 113, taken at 116, done at 166
        wait = measured["wait_seconds"]["3"]  # waits of 3 s and 96 s
        assert (wait["n"], wait["p50"]) == (2, 49.5) and wait["p95"] == pytest.approx(3 + 0.95 * 93, abs=0.06)
        # b waited 96 s against an SLA of 60 s; ana was online 166 s and busy 100 + 50 of them
        assert measured["sla_breaches"]["3"] == {"count": 1, "rate": 0.5}
        assert measured["utilisation"] == round(150 / 166, 4)
        assert measured["skill_match_rate"] == 1.0
        assert (measured["served"], measured["unserved"], measured["offers"]) == (2, 0, 2)


def test_bad_events_files_name_the_line(tmp_path: Path) -> None:
    good = {"type": "escalation", "at": 1, "id": "a", "channel": "webchat", "handle_seconds": 60}
    path = _day(tmp_path, [good, {**good, "handle_seconds": -1}])
    with pytest.raises(ValueError, match=r"day\.jsonl:2: 'handle_seconds' must be a number >= 1, got -1"):
        load_events(path)
    path = _day(tmp_path, [{"type": "status", "at": 5, "agent": "ana", "status": "sleeping"}])
    with pytest.raises(ValueError, match=r"day\.jsonl:1: 'status' must be online, away or offline, got 'sleeping'"):
        load_events(path)
    path.write_text('{"type": "escalation"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"day\.jsonl:1: not valid JSON"):
        load_events(path)


def test_eval_routing_command_prints_both_policies(
    tmp_path: Path, shared_data: Path, banking: tuple[list[tuple[str, str]], SkillMap, Roster]
) -> None:
    messages, skills, roster = banking
    path = _day(tmp_path, generate_events(messages, skills, roster, count=120, seed=11))
    result = runner.invoke(
        app,
        [
            "eval",
            "routing",
            "--events",
            str(path),
            "--roster",
            str(EXAMPLE_ROSTER),
            "--skills",
            str(shared_data / "banking77" / "skills.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["escalations"] == 120 and report["agents"] == 12
    assert set(report["policies"]) == {"skills", "round_robin"}
    for measured in report["policies"].values():
        assert measured["tickets"] == 120 and measured["served"] + measured["unserved"] == 120
        assert set(measured["wait_seconds"]) <= {"1", "2", "3"}
        for wait in measured["wait_seconds"].values():
            assert 0 <= wait["p50"] <= wait["p95"]
        for breaches in measured["sla_breaches"].values():
            assert 0 <= breaches["rate"] <= 1
        assert 0 < measured["utilisation"] <= 1
        assert 0 <= measured["skill_match_rate"] <= 1
    skills_policy, round_robin = report["policies"]["skills"], report["policies"]["round_robin"]
    assert skills_policy["skill_match_rate"] >= round_robin["skill_match_rate"]


# The skills policy may breach at most this much more often than round robin (as a share of all tickets).
# On the same day both policies meet the same agents, but each fills their capacity differently, so which
# tickets find everyone busy differs a little; 2 points leaves room for that while the widening that waited
# for the SLA to run out (the control below) breached about 27 % of this day against round robin's 3 %.
BREACH_MARGIN = 0.02
MATCH_LEAD = 0.30  # the skill-match rate must beat round robin's by at least this much


def test_skills_policy_matches_skills_without_breaching_more_than_round_robin(
    tmp_path: Path, banking: tuple[list[tuple[str, str]], SkillMap, Roster]
) -> None:
    messages, skills, roster = banking
    path = _day(tmp_path, generate_events(messages, skills, roster, count=200, seed=11))
    report = run_routing_eval(path, roster)
    assert report["fairness"] == {
        "same_arrivals": True,
        "same_answers_to_the_same_offers": True,
        "offers_compared": report["fairness"]["offers_compared"],
    }
    assert report["fairness"]["offers_compared"] >= 200
    ours, baseline = report["policies"]["skills"], report["policies"]["round_robin"]
    assert ours["skill_match_rate"] >= baseline["skill_match_rate"] + MATCH_LEAD
    assert ours["sla_breaches"]["all"]["rate"] <= baseline["sla_breaches"]["all"]["rate"] + BREACH_MARGIN
    # the control: widening only once the SLA has run out, and never skipping an empty step, fails the bound
    late = roster.routing.model_copy(
        update={
            "widening": (
                WideningStep(scope=Scope.LOWER_LEVEL, after_seconds=0),
                WideningStep(scope=Scope.TEAM, after_seconds=60),
                WideningStep(scope=Scope.FALLBACK, after_seconds=180),
            ),
            "widening_by_priority": {},
            "skip_unstaffed_steps": False,
        }
    )
    control = simulate(
        load_events(path), roster.model_copy(update={"routing": late}), SkillsPolicy(), SimulationSettings()
    )
    assert control["sla_breaches"]["all"]["rate"] > baseline["sla_breaches"]["all"]["rate"] + BREACH_MARGIN


def test_agents_answer_the_same_offer_the_same_way_whatever_the_policy() -> None:
    settings = SimulationSettings(miss_rate=0.5, seed=3)
    answers = [agent_answer(settings, ticket, nth) for ticket in range(1, 41) for nth in (1, 2)]
    assert answers == [agent_answer(settings, ticket, nth) for ticket in range(1, 41) for nth in (1, 2)]
    missed = sum(answer is None for answer in answers)
    assert 20 <= missed <= 60  # about half, as asked
    assert all(3.0 <= answer <= 15.0 for answer in answers if answer is not None)
    assert agent_answer(SimulationSettings(miss_rate=0.0), 1, 1) is not None


def test_module_command_takes_the_simulation_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roster = tmp_path / "roster.json"
    roster.write_text(
        json.dumps(
            {
                "agents": [
                    {"id": "ana", "name": "Ana", "email": "ana@example.com", "languages": ["en"],
                     "skills": {"cards": 2}, "capacity": {"chat": 1}}
                ]
            }
        ),
        encoding="utf-8",
    )  # fmt: skip
    path = _day(
        tmp_path,
        [
            {"type": "status", "at": 0, "agent": "ana", "status": "online"},
            {"type": "escalation", "at": 10, "id": "a", "channel": "webchat", "skill": "cards", "priority": 3,
             "language": "en", "handle_seconds": 100},
        ],
    )  # fmt: skip
    args = ["--events", str(path), "--roster", str(roster), "--miss-rate", "0", "--accept-delay", "3", "3"]
    for slowdown, busy in (("1.0", 100), ("2.0", 200)):
        assert main([*args, "--mismatch-slowdown", slowdown]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["simulation"]["mismatch_slowdown"] == float(slowdown)
        for measured in report["policies"].values():
            # ana holds cards at level 2, below the default 3: her handle time is slowed down
            assert measured["skill_match_rate"] == 0.0
            assert measured["utilisation"] == round(busy / (13 + busy), 4)
    assert main(["--events", str(path), "--roster", str(tmp_path / "absent.json")]) == 1
    assert "absent.json: cannot read the roster" in capsys.readouterr().err


def test_eval_routing_command_reports_a_bad_roster(tmp_path: Path) -> None:
    events = _day(tmp_path, [{"type": "escalation", "at": 1, "id": "a", "channel": "webchat", "handle_seconds": 60}])
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps({"agents": [{"id": "x", "name": "X", "email": "x@y.z", "languages": []}]}))
    result = runner.invoke(app, ["eval", "routing", "--events", str(events), "--roster", str(roster)])
    assert result.exit_code == 1
    assert "agents[0] (id 'x').languages" in result.output

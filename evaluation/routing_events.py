"""A day of escalations for the routing simulation, built from real customer messages (Banking77).

Each escalation is a real message from the labelled CSV (`text,label`); its intent gives the skill and the
priority through the skill map. Arrival times follow a daily rhythm (quiet at night, peaks late morning and
early evening). Three attributes are synthetic, drawn from fixed, seeded distributions because the data set
has none: the channel (webchat 45 %, WhatsApp 20 %, e-mail 20 %, voice 10 %, SMS 5 %), the customer's
language (English 80 %, Spanish 8 %, German 7 %, French 5 %) and the handle time (a log-normal spread around
a typical time per channel kind, longer for the most urgent skills). Agents of the roster work shifts;
their online/offline changes are events too.

Run: python -m evaluation.routing_events --data train.csv --skills skills.json --roster roster.json --out day.jsonl
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from routing.roster import DEFAULT_CHANNEL_KINDS, ChannelKind, Roster, load_roster
from routing.skillmap import SkillMap

DAY = 24 * 3600
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
# Relative escalation volume per hour of the day (00:00 ... 23:00).
HOURLY_RHYTHM = (
    0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.5, 1.0, 1.6, 2.0, 2.2, 2.1,
    1.9, 1.8, 1.9, 2.0, 1.9, 1.7, 1.5, 1.3, 1.1, 0.9, 0.7, 0.5,
)  # fmt: skip
CHANNELS = (("webchat", 0.45), ("whatsapp", 0.20), ("email", 0.20), ("voice", 0.10), ("sms", 0.05))
LANGUAGES = (("en", 0.80), ("es", 0.08), ("de", 0.07), ("fr", 0.05))
HANDLE_SECONDS = {
    ChannelKind.CHAT: 420.0,
    ChannelKind.MESSAGING: 600.0,
    ChannelKind.EMAIL: 900.0,
    ChannelKind.VOICE: 480.0,
}
URGENT_FACTOR = 1.3  # priority-1 conversations (fraud, security) take longer
# Shifts as (start hour, end hour); an end before the start wraps past midnight. Agents take them in turn.
SHIFTS = ((22, 6), (6, 14), (8, 16), (10, 18), (14, 22))


def load_messages(path: Path) -> list[tuple[str, str]]:
    """The (text, label) rows of a labelled CSV with a `text` and a `label` column."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"text", "label"} <= set(reader.fieldnames):
                msg = f"{path}: expected the columns text,label, got {reader.fieldnames}"
                raise ValueError(msg)
            rows = [(row["text"], row["label"]) for row in reader if row["text"] and row["label"]]
    except OSError as exc:
        msg = f"{path}: cannot read the messages ({exc.strerror or exc})"
        raise ValueError(msg) from exc
    if not rows:
        msg = f"{path}: no labelled messages"
        raise ValueError(msg)
    return rows


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in weighted], weights=[w for _, w in weighted])[0]


def shift_events(roster: Roster) -> list[dict[str, Any]]:
    """Online/offline events of every agent with capacity, one shift each, taken in turn from `SHIFTS`."""
    events: list[dict[str, Any]] = []
    workers = [agent for agent in roster.agents if sum(agent.capacity.values()) > 0]
    for index, agent in enumerate(workers):
        start, end = SHIFTS[index % len(SHIFTS)]
        if start < end:
            spans = [(start, end)]
        else:  # wraps past midnight: from 00:00 to the end, and from the start to the end of the day
            spans = [(0, end), (start, 24)]
        for begin, finish in spans:
            events.append({"type": "status", "at": begin * 3600.0, "agent": agent.id, "status": "online"})
            if finish < 24:
                events.append({"type": "status", "at": finish * 3600.0, "agent": agent.id, "status": "offline"})
    return events


def generate_events(
    messages: Sequence[tuple[str, str]], skill_map: SkillMap, roster: Roster, *, count: int, seed: int = 7
) -> list[dict[str, Any]]:
    """`count` escalations over one day plus the agents' shift changes, ordered by time."""
    if count < 1:
        msg = f"count must be at least 1, got {count}"
        raise ValueError(msg)
    usable = [(text, label) for text, label in messages if skill_map.skill_for(label) is not None]
    if not usable:
        msg = "no message has an intent that the skill map knows"
        raise ValueError(msg)
    rng = random.Random(seed)
    hours = rng.choices(range(24), weights=HOURLY_RHYTHM, k=count)
    times = sorted(hour * 3600.0 + rng.random() * 3600.0 for hour in hours)
    events: list[dict[str, Any]] = []
    for number, at in enumerate(times, start=1):
        text, intent = rng.choice(usable)
        skill = skill_map.skill_for(intent)
        assert skill is not None
        channel = _pick(rng, CHANNELS)
        kind = DEFAULT_CHANNEL_KINDS[channel]
        handle = HANDLE_SECONDS[kind] * math.exp(rng.gauss(0.0, 0.5)) * (URGENT_FACTOR if skill.priority == 1 else 1)
        events.append(
            {
                "type": "escalation",
                "at": round(at, 1),
                "id": f"esc-{number:05d}",
                "channel": channel,
                "intent": intent,
                "skill": skill.name,
                "priority": skill.priority,
                "language": _pick(rng, LANGUAGES),
                "handle_seconds": round(handle, 1),
                "text": text,
            }
        )
    events += shift_events(roster)
    order = {"status": 0, "escalation": 1}
    events.sort(key=lambda event: (event["at"], order[event["type"]]))
    return [{"type": "meta", "start": START.isoformat(), "seed": seed, "escalations": count}, *events]


def write_events(path: Path, events: Sequence[dict[str, Any]]) -> None:
    """Write events as JSON lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write a day of escalations as JSON lines."""
    parser = argparse.ArgumentParser(description="Write a day of escalations for `frontdesk eval routing`.")
    parser.add_argument("--data", type=Path, required=True, help="labelled messages, CSV with text,label")
    parser.add_argument("--skills", type=Path, required=True, help="skill map JSON")
    parser.add_argument("--roster", type=Path, required=True, help="roster JSON (for the agents' shifts)")
    parser.add_argument("--count", type=int, default=600, help="escalations in the day")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        skill_map = SkillMap.from_file(args.skills)
        roster = load_roster(args.roster, skill_map=skill_map)
        events = generate_events(load_messages(args.data), skill_map, roster, count=args.count, seed=args.seed)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    write_events(args.out, events)
    sys.stdout.write(f"wrote {args.count} escalations and {len(events) - args.count - 1} shift changes to {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

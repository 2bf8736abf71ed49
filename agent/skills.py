"""The skill map: which human skill handles each intent, its queue priority, and the intents that always escalate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class SkillMapError(ValueError):
    """A skill map file is missing, not JSON, or not shaped as a skill map."""


@dataclass(frozen=True, slots=True)
class Skill:
    """A human agents' skill; `priority` orders the queue (1 = most urgent)."""

    name: str
    priority: int


class SkillMap:
    """Maps intents to skills and knows which intents must always reach a human.

    The JSON file reads `{"skills": {"<skill>": {"intents": [...], "priority": 1}}, "always_escalate": [...]}`;
    other top-level keys (such as `about`) are ignored.
    """

    def __init__(self, skills: Mapping[str, tuple[Skill, list[str]]], always_escalate: list[str]) -> None:
        self._by_intent: dict[str, Skill] = {}
        self._skills: dict[str, Skill] = {}
        for name, (skill, intents) in skills.items():
            self._skills[name] = skill
            for intent in intents:
                other = self._by_intent.get(intent)
                if other is not None and other.name != name:
                    msg = f"intent {intent!r} is mapped to two skills: {other.name!r} and {name!r}"
                    raise SkillMapError(msg)
                self._by_intent[intent] = skill
        self._always_escalate = frozenset(always_escalate)

    @classmethod
    def from_file(cls, path: Path) -> SkillMap:
        """Load a skill map, raising `SkillMapError` naming the file and the problem when it is malformed."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8-sig"))
        except OSError as exc:
            msg = f"{path}: cannot read the skill map ({exc.strerror or exc})"
            raise SkillMapError(msg) from exc
        except json.JSONDecodeError as exc:
            msg = f"{path}: the skill map is not valid JSON ({exc.msg} at line {exc.lineno})"
            raise SkillMapError(msg) from exc
        try:
            return cls.from_dict(raw)
        except SkillMapError as exc:
            msg = f"{path}: {exc}"
            raise SkillMapError(msg) from exc

    @classmethod
    def from_dict(cls, raw: object) -> SkillMap:
        """Build a skill map from its parsed JSON form, raising `SkillMapError` when it is malformed."""
        if not isinstance(raw, dict):
            msg = f"the skill map must be a JSON object, got {type(raw).__name__}"
            raise SkillMapError(msg)
        skills_raw = raw.get("skills")
        if not isinstance(skills_raw, dict) or not skills_raw:
            msg = "the skill map needs a non-empty object 'skills' of {name: {intents, priority}}"
            raise SkillMapError(msg)
        skills: dict[str, tuple[Skill, list[str]]] = {}
        for name, entry in skills_raw.items():
            if not isinstance(entry, dict):
                msg = f"skill {name!r} must be an object with 'intents' and 'priority', got {type(entry).__name__}"
                raise SkillMapError(msg)
            intents = _string_list(entry.get("intents"), f"skill {name!r} 'intents'")
            priority = entry.get("priority")
            if isinstance(priority, bool) or not isinstance(priority, int) or priority < 1:
                msg = f"skill {name!r} has priority {priority!r}; expected an integer >= 1 (1 = most urgent)"
                raise SkillMapError(msg)
            skills[name] = (Skill(name=name, priority=priority), intents)
        always = _string_list(raw.get("always_escalate", []), "'always_escalate'")
        return cls(skills, always)

    @property
    def skills(self) -> list[Skill]:
        """Every skill, in file order."""
        return list(self._skills.values())

    @property
    def intents(self) -> frozenset[str]:
        """Every intent mapped to a skill."""
        return frozenset(self._by_intent)

    def skill_for(self, intent: str) -> Skill | None:
        """The skill that handles `intent`, or None when no skill lists it."""
        return self._by_intent.get(intent)

    def always_escalate(self, intent: str) -> bool:
        """Whether a message of `intent` must reach a human at once."""
        return intent in self._always_escalate


def _string_list(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        msg = f"{what} must be a list of non-empty strings, got {value!r}"
        raise SkillMapError(msg)
    return list(value)

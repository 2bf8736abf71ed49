"""The skill map: which skill handles each intent, the queue priority of each skill, and the intents that
always go to a human.

The file reads `{"skills": {"<skill>": {"intents": [...], "priority": 1}}, "always_escalate": [...]}`
(priority 1 = most urgent); other top-level keys such as `about` are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from routing.errors import RosterError


@dataclass(frozen=True, slots=True)
class SkillInfo:
    """A skill, its queue priority (1 = most urgent) and the intents it handles."""

    name: str
    priority: int
    intents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SkillMap:
    """Skills with their priorities and intents; looks up the skill and priority of an intent."""

    skills: Mapping[str, SkillInfo]
    always_escalate: frozenset[str] = frozenset()
    _by_intent: Mapping[str, SkillInfo] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_intent: dict[str, SkillInfo] = {}
        for info in self.skills.values():
            for intent in info.intents:
                other = by_intent.get(intent)
                if other is not None and other.name != info.name:
                    msg = f"intent {intent!r} is mapped to two skills: {other.name!r} and {info.name!r}"
                    raise RosterError(msg)
                by_intent[intent] = info
        object.__setattr__(self, "_by_intent", by_intent)

    @classmethod
    def from_file(cls, path: Path) -> SkillMap:
        """Load a skill map file; `RosterError` names the file and the bad field when it is malformed."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8-sig"))
        except OSError as exc:
            msg = f"{path}: cannot read the skill map ({exc.strerror or exc})"
            raise RosterError(msg) from exc
        except json.JSONDecodeError as exc:
            msg = f"{path}: the skill map is not valid JSON ({exc.msg} at line {exc.lineno})"
            raise RosterError(msg) from exc
        try:
            return cls.from_dict(raw)
        except RosterError as exc:
            msg = f"{path}: {exc}"
            raise RosterError(msg) from exc

    @classmethod
    def from_dict(cls, raw: object) -> SkillMap:
        """Build a skill map from its parsed JSON form."""
        if not isinstance(raw, dict):
            msg = f"the skill map must be a JSON object, got {type(raw).__name__}"
            raise RosterError(msg)
        skills_raw = raw.get("skills")
        if not isinstance(skills_raw, dict) or not skills_raw:
            msg = f"'skills' must be a non-empty object of {{name: {{intents, priority}}}}, got {skills_raw!r}"
            raise RosterError(msg)
        skills: dict[str, SkillInfo] = {}
        for name, entry in skills_raw.items():
            if not isinstance(entry, dict):
                msg = f"skills.{name} must be an object with 'intents' and 'priority', got {entry!r}"
                raise RosterError(msg)
            priority = entry.get("priority")
            if isinstance(priority, bool) or not isinstance(priority, int) or priority < 1:
                msg = f"skills.{name}.priority is {priority!r}; expected an integer >= 1 (1 = most urgent)"
                raise RosterError(msg)
            intents = _strings(entry.get("intents", []), f"skills.{name}.intents")
            skills[name] = SkillInfo(name=name, priority=priority, intents=tuple(intents))
        always = _strings(raw.get("always_escalate", []), "always_escalate")
        return cls(skills=skills, always_escalate=frozenset(always))

    def skill_for(self, intent: str) -> SkillInfo | None:
        """The skill that handles `intent`, or None when no skill lists it."""
        return self._by_intent.get(intent)

    def priority_of(self, skill: str) -> int | None:
        """The queue priority of `skill`, or None for a skill the map does not know."""
        info = self.skills.get(skill)
        return info.priority if info is not None else None

    def escalates_always(self, intent: str) -> bool:
        """Whether a conversation of `intent` must reach a human at once."""
        return intent in self.always_escalate


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        msg = f"{where} must be a list of non-empty strings, got {value!r}"
        raise RosterError(msg)
    return list(value)

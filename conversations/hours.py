"""Business hours: when people answer, per channel, and what a customer is told outside them.

A schedule is written as `TIMEZONE; DAYS HH:MM-HH:MM[, HH:MM-HH:MM]; ...`, for example
`Europe/Berlin; mon-fri 09:00-18:00; sat 10:00-14:00`. Days are `mon`..`sun`, alone, in ranges (`mon-fri`,
`fri-mon`) or lists (`mon,wed`); `24/7` (or an empty schedule) means always open. Outside the hours the agent
still answers from the knowledge base; a customer who wants a person is told when someone will reply, and the
conversation waits in the queue.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class HoursError(ValueError):
    """A schedule that cannot be read; the message names the part that is wrong."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """Opening hours in one time zone: for each weekday (0 = Monday), minute ranges [start, end)."""

    zone: ZoneInfo
    week: tuple[tuple[tuple[int, int], ...], ...]
    text: str

    @classmethod
    def always(cls) -> Schedule:
        return cls(ZoneInfo("UTC"), tuple(((0, 24 * 60),) for _ in DAYS), "24/7")

    @property
    def always_open(self) -> bool:
        return all(day == ((0, 24 * 60),) for day in self.week)

    @classmethod
    def parse(cls, spec: str) -> Schedule:
        """Read a schedule (see the module docstring); raises `HoursError` naming the bad part."""
        text = spec.strip()
        if not text or text.lower() in {"24/7", "always"}:
            return cls.always()
        zone_name, *parts = [part.strip() for part in text.split(";")]
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"business hours {spec!r}: {zone_name!r} is not a time zone (e.g. Europe/Berlin, America/New_York)"
            raise HoursError(msg) from exc
        week: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        for part in filter(None, parts):
            days_text, _, times_text = part.partition(" ")
            days = _days(days_text.lower(), spec)
            for window in filter(None, (t.strip() for t in times_text.split(","))):
                match = _TIME.match(window)
                if match is None:
                    msg = f"business hours {spec!r}: {window!r} is not a time range like 09:00-17:30"
                    raise HoursError(msg)
                h1, m1, h2, m2 = (int(g) for g in match.groups())
                start, end = h1 * 60 + m1, h2 * 60 + m2
                if not (0 <= start < end <= 24 * 60 and m1 < 60 and m2 < 60):
                    msg = f"business hours {spec!r}: {window!r} must start before it ends, within one day"
                    raise HoursError(msg)
                for day in days:
                    week[day].append((start, end))
            if not times_text.strip():
                msg = f"business hours {spec!r}: {part!r} names days but no hours"
                raise HoursError(msg)
        return cls(zone, tuple(tuple(sorted(day)) for day in week), text)

    def is_open(self, moment: dt.datetime) -> bool:
        local = moment.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week[local.weekday()])

    def next_opening(self, moment: dt.datetime) -> dt.datetime | None:
        """The next time the hours begin after `moment` (None when never open); `moment` itself if open."""
        if self.is_open(moment):
            return moment
        local = moment.astimezone(self.zone)
        for offset in range(8):
            day = (local + dt.timedelta(days=offset)).date()
            for start, _end in self.week[day.weekday()]:
                opening = dt.datetime.combine(day, dt.time(start // 60, start % 60), tzinfo=self.zone)
                if opening > local:
                    return opening
        return None


def _days(text: str, spec: str) -> list[int]:
    days: list[int] = []
    for item in text.split(","):
        first, _, last = item.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            msg = f"business hours {spec!r}: {item!r} is not a day or a range of days (mon..sun)"
            raise HoursError(msg)
        start, end = DAYS.index(first), DAYS.index(last or first)
        days.extend((start + i) % 7 for i in range((end - start) % 7 + 1))
    return days


class BusinessHours:
    """The schedule of each channel (a default for the others)."""

    def __init__(self, default: Schedule | None = None, by_channel: Mapping[str, Schedule] | None = None) -> None:
        self.default = default or Schedule.always()
        self.by_channel = dict(by_channel or {})

    @classmethod
    def from_settings(cls, default: str, by_channel: str) -> BusinessHours:
        """`default` is a schedule; `by_channel` a JSON object of channel name to schedule (may be empty)."""
        mapping: dict[str, Schedule] = {}
        if by_channel.strip():
            try:
                raw = json.loads(by_channel)
            except json.JSONDecodeError as exc:
                msg = f"business hours by channel must be a JSON object of channel to schedule: {exc}"
                raise HoursError(msg) from exc
            if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
                msg = f"business hours by channel must map channel names to schedule strings, got {by_channel!r}"
                raise HoursError(msg)
            mapping = {str(k): Schedule.parse(v) for k, v in raw.items()}
        return cls(Schedule.parse(default), mapping)

    def schedule(self, channel: str) -> Schedule:
        return self.by_channel.get(channel, self.default)

    def closed_notice(self, channel: str, moment: dt.datetime | None = None) -> str | None:
        """What to tell a customer waiting for a person on `channel` now, or None during the hours."""
        schedule = self.schedule(channel)
        now = moment or dt.datetime.now(dt.UTC)
        if schedule.is_open(now):
            return None
        opening = schedule.next_opening(now)
        if opening is None:
            return "Our team is not available on this channel; your conversation stays in our queue."
        when = opening.strftime("%A %H:%M") + f" ({schedule.zone.key})"
        return f"Our team is away right now. Someone will reply from {when}; your conversation is in our queue."

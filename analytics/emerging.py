"""The emerging-issue detector: a topic whose share of the traffic rises above its own baseline.

Each topic's baseline is its share of all traffic, learned per hour of the week (shrunk towards its share per
hour of the day, itself shrunk towards its overall share), from exponentially decayed hourly counts. Hours in
which a topic was alerting are left out of its baseline, and other hours are winsorised, so a surge does not
teach the detector that surges are normal.

Given the traffic of a window, a topic's count is Binomial(all events in the window, its share): the exact
conditional test of a Poisson rate against the rest of the traffic, so the daily and weekly rhythm of the
overall volume cancels out and only the topic's own rhythm has to be learned. Real counts stray further than
that (days differ, the baseline is an estimate): the overdispersion is measured online from the hourly
residuals of all topics, and with it the test is a negative binomial of the same mean. Windows of several
lengths end at each new message of the topic; the threshold is Bonferroni over busy topics × windows per day,
scaled by `calibration`: the Bonferroni bound counts overlapping windows as independent tests, and on surge-free
generated traffic (evaluation.emerging_stream with no incidents) a scale of 3 still kept false alarms at about
two thirds of `false_alarms_per_day` (an upper bound of the estimated share covers part of the model error).
A customer counts once per topic and hour, so one customer writing ten times is not a surge. The start of a
surge is the most significant start among the topic's events of the last hour (a scan), and it ends when the
last `quiet_minutes` are back within the baseline.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.special import bdtrc, betainc

from analytics.surges import Surge

HOUR = 3600.0
WEEK_HOURS = 168
EPOCH_WEEK_OFFSET = 72  # 1970-01-01 was a Thursday: hour 0 of the epoch is hour 72 of a Monday-first week


@dataclass(frozen=True, slots=True)
class TopicMessage:
    """One customer message as the detector sees it: when, on which channel, from whom, what, on which topic."""

    at: dt.datetime
    topic: str
    channel: str = ""
    customer: str | None = None  # a customer key; None counts every message as a different customer
    text: str = ""  # redacted


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """How the detector decides; the defaults aim at fewer than one false alarm a day over all topics."""

    windows_minutes: tuple[int, ...] = (5, 15, 30, 60)
    false_alarms_per_day: float = 1.0  # the target: Bonferroni budget over busy topics × windows, times calibration
    calibration: float = 3.0  # the Bonferroni budget's scale, measured on surge-free traffic (see the docstring)
    min_messages: int = 6  # events (distinct customers) in the window before anything is raised
    seasonality: Literal["weekly", "daily", "none"] = "weekly"
    novel_share: float = 0.002  # share assumed for a topic never seen before
    prior_events: tuple[float, float, float] = (2.0, 10.0, 10.0)  # shrinkage: overall, hour of day, of week
    uncertainty_z: float = 1.0  # the share tested is the estimate times (1 + z / sqrt(supporting events))
    dispersion: tuple[float, float] = (0.02, 2000.0)  # prior of the overdispersion (value, weight in mean²)
    half_life_days: float = 28.0
    warmup: dt.timedelta = dt.timedelta(days=1)  # no alerts before this much traffic was seen
    quiet_minutes: int = 30  # a surge ends when the last quiet_minutes are back within the baseline
    max_topics: int = 2000
    forget_after: dt.timedelta = dt.timedelta(days=28)
    max_examples: int = 3

    def __post_init__(self) -> None:
        if not self.windows_minutes or min(self.windows_minutes) < 1:
            msg = f"windows_minutes must be positive minutes, got {self.windows_minutes}"
            raise ValueError(msg)
        if self.false_alarms_per_day <= 0:
            msg = f"false_alarms_per_day must be positive, got {self.false_alarms_per_day}"
            raise ValueError(msg)
        if self.calibration <= 0:
            msg = f"calibration must be positive, got {self.calibration}"
            raise ValueError(msg)
        if not 0 < self.novel_share < 1:
            msg = f"novel_share must be between 0 and 1 (exclusive), got {self.novel_share}"
            raise ValueError(msg)


@dataclass(slots=True)
class _Episode:
    started_at: float
    detected_at: float
    share: float
    events_before: int  # the global event counter at started_at
    messages: int = 0
    customers: set[str] = field(default_factory=set)
    anonymous: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    reported: int = 0

    def add(self, message: TopicMessage, max_examples: int) -> None:
        self.messages += 1
        if message.customer is None:
            self.anonymous += 1
        elif len(self.customers) < 100_000:
            self.customers.add(message.customer)
        if message.channel:
            self.channels[message.channel] = self.channels.get(message.channel, 0) + 1
        if message.text and len(self.examples) < max_examples and message.text not in self.examples:
            self.examples.append(message.text)


@dataclass(slots=True)
class _Topic:
    row: int
    events: list[float] = field(default_factory=list)  # counted events in the longest window (from `head`)
    head: int = 0
    messages: deque[TopicMessage] = field(default_factory=deque)  # all messages in the longest window
    hour_events: int = 0
    day_events: float = 0.0  # events over about the last day (decayed hourly)
    alerted_hour: bool = False
    last_seen: float = 0.0
    since: float = -math.inf  # windows start no earlier (the end of the last surge)
    share: tuple[int, float] = (-1, 0.0)  # (hour, tested share) cache
    episode: _Episode | None = None


def _tail(count: int, trials: int, share: float, dispersion: float) -> float:
    """P(count or more): Binomial(trials, share), or with `dispersion` > 0 the negative binomial of the same
    mean and variance mean + dispersion × mean²."""
    if count <= 0:
        return 1.0
    if dispersion <= 1e-9:
        return float(bdtrc(count - 1, trials, share))
    mean = trials * share
    size = 1.0 / dispersion
    return float(betainc(count, size, mean / (size + mean))) if mean > 0 else 0.0


def _count_after(times: list[float], head: int, start: float) -> int:
    return len(times) - bisect.bisect_right(times, start, lo=head)


class EmergingIssueDetector:
    """Streaming detector of topic surges. Feed messages in time order with `observe`; call `tick` when time
    passes without messages so that surges can end. Memory is bounded by `max_topics` and the traffic of the
    longest window; work per message is a few bisections and at most one tail probability per window."""

    def __init__(self, config: DetectorConfig | None = None, *, label: Callable[[str], str] | None = None) -> None:
        self.config = config or DetectorConfig()
        self._label = label or (lambda topic: topic)
        self._span = 60.0 * max(self.config.windows_minutes)
        self._topics: dict[str, _Topic] = {}
        self._free = list(range(self.config.max_topics))[::-1]
        rows = self.config.max_topics
        self._week = np.zeros((2, rows, WEEK_HOURS))  # [counts, exposure]
        self._day = np.zeros((2, rows, 24))
        self._all = np.zeros((2, rows))
        self._decay = 0.5 ** (1.0 / (24.0 * self.config.half_life_days))
        self._events: list[float] = []  # all counted events in the longest window
        self._head = 0
        self._counter = 0  # every counted event so far
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()  # (topic, customer) -> last event
        self._hour = -1
        self._hour_total = 0
        self._first = math.inf
        self._now = -math.inf
        self._surging: dict[str, _Topic] = {}
        self._tested_topics = 1  # topics busy enough to raise a false alarm: they share the alarm budget
        value, weight = self.config.dispersion
        self._spread = np.array([value * weight, weight])  # decayed sums of (x - mu)² - x and of mu²
        self._dispersion = value
        self._tests_per_day = sum(24 * 60 / minutes for minutes in self.config.windows_minutes)
        self._budget = self.config.false_alarms_per_day * self.config.calibration

    @property
    def tracked_topics(self) -> int:
        """How many topics the detector keeps a baseline for (at most `max_topics`)."""
        return len(self._topics)

    @property
    def active(self) -> list[str]:
        """Topics currently surging."""
        return list(self._surging)

    def warm_up(self, history: Iterable[TopicMessage]) -> None:
        """Rebuild the baseline (and any surge still running) from past messages, in time order."""
        for message in history:
            self.observe(message)

    def tick(self, now: dt.datetime) -> list[Surge]:
        """Let time pass to `now`: closes finished hours and reports surges that have ended."""
        return self._advance(now.timestamp())

    def observe(self, message: TopicMessage) -> list[Surge]:
        """Take one message; returns surges that ended, started or grew (doubled) with it."""
        ts = max(message.at.timestamp(), self._now)  # a message late by a little counts as now
        out = self._advance(ts)
        self._first = min(self._first, ts)
        topic = self._topics.get(message.topic) or self._new_topic(message.topic)
        topic.last_seen = ts
        topic.messages.append(message)
        if topic.episode is not None:
            topic.episode.add(message, self.config.max_examples)
        if not self._is_new_event(message.topic, message.customer, ts):
            return out + self._grown(message.topic, topic)
        self._events.append(ts)
        topic.events.append(ts)
        topic.hour_events += 1
        self._hour_total += 1
        self._counter += 1
        if topic.episode is None and ts - self._first >= self.config.warmup.total_seconds():
            self._test(message.topic, topic, ts)
        return out + self._grown(message.topic, topic)

    def _is_new_event(self, topic: str, customer: str | None, ts: float) -> bool:
        if customer is None:
            return True
        key = (topic, customer)
        last = self._seen.get(key)
        self._seen[key] = ts
        self._seen.move_to_end(key)
        while self._seen and next(iter(self._seen.values())) <= ts - HOUR:
            self._seen.popitem(last=False)
        return last is None or last <= ts - HOUR

    def _new_topic(self, name: str) -> _Topic:
        if not self._free:
            idle = [(t.last_seen, n) for n, t in self._topics.items() if t.episode is None]
            if not idle:
                msg = f"all {self.config.max_topics} topics are surging at once; raise max_topics"
                raise ValueError(msg)
            self._forget(min(idle)[1])
        topic = _Topic(row=self._free.pop())
        self._topics[name] = topic
        return topic

    def _forget(self, name: str) -> None:
        topic = self._topics.pop(name)
        for table in (self._week, self._day):
            table[:, topic.row] = 0.0
        self._all[:, topic.row] = 0.0
        self._free.append(topic.row)

    def share(self, topic: str, at: dt.datetime) -> float:
        """The share of all traffic the baseline expects for `topic` at `at` (its point estimate)."""
        state = self._topics.get(topic)
        return self._estimate(state.row if state else None, int(at.timestamp() // HOUR))[0]

    def _estimate(self, row: int | None, hour: int) -> tuple[float, float]:
        """(share, supporting events) of a topic row in the hour of the week of `hour`."""
        k_all, k_day, k_week = self.config.prior_events
        share = self.config.novel_share
        if row is None:
            return share, k_all
        counts, exposure = self._all[:, row]
        share = (counts + k_all) / (exposure + k_all / share)
        support = counts + k_all
        if self.config.seasonality == "none":
            return share, support
        levels = (
            (self._day, hour % 24, k_day),
            (self._week, (hour + EPOCH_WEEK_OFFSET) % WEEK_HOURS, k_week),
        )
        for table, slot, prior in levels[: 1 if self.config.seasonality == "daily" else 2]:
            size = table.shape[2]
            block = table[:, row, [(slot - 1) % size, slot, (slot + 1) % size]]
            near = block @ np.array([0.5, 1.0, 0.5])  # smoothed over the neighbouring hours, or the hour alone
            smooth = (near[0] + prior) / (near[1] + prior / share)
            alone = (block[0, 1] + prior) / (block[1, 1] + prior / share)
            share, support = max(smooth, alone), min(near[0], block[0, 1] * 2.0) + min(prior, support)
        return float(share), float(support)

    def _tested_share(self, topic: _Topic, hour: int) -> float:
        if topic.share[0] != hour:
            share, support = self._estimate(topic.row, hour)
            topic.share = (hour, min(0.999, share * (1.0 + self.config.uncertainty_z / math.sqrt(support))))
        return topic.share[1]

    def _test(self, name: str, topic: _Topic, ts: float) -> None:
        share = self._tested_share(topic, int(ts // HOUR))
        for minutes in self.config.windows_minutes:
            start = max(ts - 60.0 * minutes, topic.since)
            count = _count_after(topic.events, topic.head, start)
            if count < self.config.min_messages:
                continue
            trials = _count_after(self._events, self._head, start)
            alpha = self._budget / (self._tested_topics * self._tests_per_day)
            if count > trials * share and _tail(count, trials, share, self._dispersion) < alpha:
                self._open(name, topic, ts, share)
                return

    def _open(self, name: str, topic: _Topic, ts: float, share: float) -> None:
        """Start an episode at the most significant start among the topic's recent events (a scan)."""
        best, best_p = ts, 2.0
        first = bisect.bisect_right(topic.events, max(ts - self._span, topic.since), lo=topic.head)
        times = topic.events[first:]
        for i, start in enumerate(times):
            trials = _count_after(self._events, self._head, start - 1e-6)
            p = _tail(len(times) - i, trials, share, self._dispersion)
            if p < best_p:
                best, best_p = start, p
        before = self._counter - _count_after(self._events, self._head, best - 1e-6)
        episode = _Episode(started_at=best, detected_at=ts, share=share, events_before=before)
        for message in topic.messages:
            if message.at.timestamp() >= best:
                episode.add(message, self.config.max_examples)
        topic.episode = episode
        topic.alerted_hour = True
        self._surging[name] = topic

    def _grown(self, name: str, topic: _Topic) -> list[Surge]:
        episode = topic.episode
        if episode is None or episode.messages < 2 * episode.reported:
            return []
        episode.reported = episode.messages
        return [self._surge(name, episode, self._now, ended=False)]

    def _surge(self, name: str, episode: _Episode, at: float, *, ended: bool) -> Surge:
        return Surge(
            topic=name,
            label=self._label(name),
            started_at=dt.datetime.fromtimestamp(episode.started_at, dt.UTC),
            detected_at=dt.datetime.fromtimestamp(at, dt.UTC),
            messages=episode.messages,
            customers=len(episode.customers) + episode.anonymous,
            expected=round(episode.share * (self._counter - episode.events_before), 2),
            channels=dict(sorted(episode.channels.items(), key=lambda kv: -kv[1])),
            examples=tuple(episode.examples),
            ended=ended,
        )

    def _advance(self, ts: float) -> list[Surge]:
        if ts <= self._now:
            return []
        self._now = ts
        hour = int(ts // HOUR)
        if self._hour < 0:
            self._hour = hour
        elif hour > self._hour:
            self._close_hour(hour)
        cutoff = ts - self._span
        self._head = bisect.bisect_right(self._events, cutoff, lo=self._head)
        if self._head > 4096 and self._head > len(self._events) // 2:
            del self._events[: self._head]
            self._head = 0
        return self._ended(ts)

    def _ended(self, ts: float) -> list[Surge]:
        out: list[Surge] = []
        quiet = 60.0 * self.config.quiet_minutes
        for name, topic in list(self._surging.items()):
            episode = topic.episode
            if episode is None or ts - episode.detected_at < quiet:
                continue
            start = ts - quiet
            count = _count_after(topic.events, topic.head, start)
            trials = _count_after(self._events, self._head, start)
            if _tail(count, trials, episode.share, self._dispersion) > 0.05:
                out.append(self._surge(name, episode, ts, ended=True))
                topic.episode = None
                topic.since = ts
                del self._surging[name]
        return out

    def _close_hour(self, hour: int) -> None:
        """Add the finished hour to every topic's baseline (but a surging one's), decay, forget stale topics."""
        cfg = self.config
        mature = self._now - self._first >= cfg.warmup.total_seconds()
        day_slot, week_slot = self._hour % 24, (self._hour + EPOCH_WEEK_OFFSET) % WEEK_HOURS
        rows: list[int] = []
        counts: list[float] = []
        busy = 0
        spread = [0.0, 0.0]
        for topic in self._topics.values():
            topic.day_events = topic.day_events * (23.0 / 24.0) + topic.hour_events
            busy += topic.day_events >= cfg.min_messages
            if topic.alerted_hour or topic.episode is not None:
                topic.alerted_hour = topic.episode is not None
                topic.hour_events = 0
                continue
            count = float(topic.hour_events)
            if mature and self._all[0, topic.row] >= 20:
                expected = self._hour_total * self._estimate(topic.row, self._hour)[0]
                high = self._hour_total * self._tested_share(topic, self._hour)
                count = min(count, high + 4.0 * math.sqrt(high * (1.0 + self._dispersion * high)) + 3.0)
                if expected >= 3.0:  # how far hourly counts stray from the baseline beyond Poisson noise
                    spread[0] += (count - expected) ** 2 - count
                    spread[1] += expected**2
            rows.append(topic.row)
            counts.append(count)
            topic.hour_events = 0
        decay = self._decay ** (hour - self._hour)
        for table in (self._week, self._day, self._all):
            table *= decay
        if rows:
            index = np.array(rows)
            values = np.array(counts)
            for table, slot in ((self._week, week_slot), (self._day, day_slot)):
                table[0, index, slot] += values
                table[1, index, slot] += self._hour_total
            self._all[0, index] += values
            self._all[1, index] += self._hour_total
        value, weight = cfg.dispersion
        self._spread = self._spread * decay + np.array(spread) + np.array([value * weight, weight]) * (1.0 - decay)
        self._dispersion = max(0.0, float(self._spread[0] / self._spread[1]))
        self._hour, self._hour_total = hour, 0
        self._tested_topics = max(busy, 1)
        stale = hour * HOUR - cfg.forget_after.total_seconds()
        for name in [n for n, t in self._topics.items() if t.last_seen < stale and t.episode is None]:
            self._forget(name)
        for topic in self._topics.values():  # drop what the longest window no longer holds
            cutoff = self._now - self._span
            topic.head = bisect.bisect_right(topic.events, cutoff, lo=topic.head)
            del topic.events[: topic.head]
            topic.head = 0
            while topic.messages and topic.messages[0].at.timestamp() <= cutoff:
                topic.messages.popleft()

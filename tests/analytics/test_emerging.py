"""The emerging-issue detector on seeded synthetic traffic: quiet streams stay quiet, surges are caught and end,
weekly peaks and chatty customers are not surges, new topics can surge, memory stays bounded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pytest

from analytics.emerging import DetectorConfig, EmergingIssueDetector, TopicMessage
from analytics.surges import Surge

MONDAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
HOURLY = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.5, 1.0, 1.6, 2.0, 2.2, 2.1,
                   1.9, 1.8, 1.9, 2.0, 1.9, 1.7, 1.5, 1.3, 1.1, 0.9, 0.7, 0.5])  # fmt: skip
WEEKLY = np.array([1.2, 1.0, 1.0, 1.0, 1.0, 0.6, 0.5])
SHARES = {"card_arrival": 0.3, "pin": 0.2, "refund": 0.15, "transfer": 0.15, "fees": 0.1, "limits": 0.1}
Extra = Callable[[int], dict[str, float]]  # minute of the stream -> extra messages per minute by topic


def traffic(days: int, *, per_day: float = 2000.0, seed: int = 0, extra: Extra | None = None) -> list[TopicMessage]:
    """Poisson traffic with a daily and a weekly rhythm; `extra` adds surge messages (text "surge", on sms)."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(days * 1440)
    hours = minutes // 60
    volume = HOURLY[hours % 24] * WEEKLY[(hours // 24) % 7] * per_day / (60 * HOURLY.sum())
    messages: list[TopicMessage] = []
    for topic, share in SHARES.items():
        for minute in np.flatnonzero(counts := rng.poisson(volume * share)):
            for _ in range(int(counts[minute])):
                at = MONDAY + dt.timedelta(minutes=float(minute + rng.random()))
                customer = f"c{rng.integers(10**9)}"
                messages.append(TopicMessage(at, topic, "webchat", customer, f"about {topic}"))
    if extra is not None:
        for minute in minutes:
            for topic, rate in extra(int(minute)).items():
                for _ in range(int(rng.poisson(rate))):
                    at = MONDAY + dt.timedelta(minutes=float(minute + rng.random()))
                    messages.append(TopicMessage(at, topic, "sms", f"s{rng.integers(10**9)}", f"surge {topic}"))
    return sorted(messages, key=lambda message: message.at)


def replay(messages: list[TopicMessage], config: DetectorConfig | None = None) -> list[Surge]:
    detector = EmergingIssueDetector(config)
    reports: list[Surge] = []
    for message in messages:
        reports += detector.observe(message)
    return reports + detector.tick(messages[-1].at + dt.timedelta(hours=3))


def starts(reports: list[Surge]) -> list[Surge]:
    first: dict[tuple[str, dt.datetime], Surge] = {}
    for report in reports:
        first.setdefault((report.topic, report.started_at), report)
    return list(first.values())


@pytest.fixture(scope="module")
def quiet_week() -> list[TopicMessage]:
    return traffic(9, seed=1)


def test_traffic_without_surges_raises_fewer_than_one_alarm_in_two_days(quiet_week: list[TopicMessage]) -> None:
    streams = [quiet_week, traffic(9, seed=2), traffic(9, seed=3)]  # 3 x 8 days after the one-day warm-up
    assert all(len(stream) > 12000 for stream in streams)
    alarms = [alert for stream in streams for alert in starts(replay(stream))]
    assert len(alarms) < 12  # the calibrated default spends part of the one-a-day budget
    assert all(alert.messages < 4 * alert.expected + 10 for alert in alarms)  # chance alarms are small ones
    bonferroni = DetectorConfig(calibration=1.0, min_messages=5)  # the uncalibrated bound: fewer than one in three days
    assert len([alert for stream in streams for alert in starts(replay(stream, bonferroni))]) < 8
    strict = DetectorConfig(false_alarms_per_day=0.015)  # 0.045 a day once calibrated
    assert [alert for stream in streams for alert in starts(replay(stream, strict))] == []


def test_a_five_fold_surge_is_caught_fast_described_and_ended() -> None:
    surge_start = 8 * 1440 + 10 * 60  # day 8 (a Tuesday) at 10:00, for two hours
    usual = 2000 * 0.1 * 2.2 / (60 * HOURLY.sum())  # "fees" per minute at that hour

    def extra(minute: int) -> dict[str, float]:
        return {"fees": 4.0 * usual} if surge_start <= minute < surge_start + 120 else {}

    reports = replay(traffic(10, seed=2, extra=extra))
    begin = MONDAY + dt.timedelta(minutes=surge_start)
    first = starts(reports)
    assert [report.topic for report in first] == ["fees"]
    alert = first[0]
    assert begin <= alert.detected_at <= begin + dt.timedelta(minutes=20)
    assert abs(alert.started_at - begin) <= dt.timedelta(minutes=15)
    assert alert.messages > alert.expected * 2 and alert.customers == alert.messages
    assert max(alert.channels, key=alert.channels.__getitem__) == "sms"
    assert alert.examples and alert.label == "fees"
    reported = [report for report in reports if not report.ended]
    growth = reported[1:]
    assert growth and all(later.messages >= 2 * earlier.messages for earlier, later in pairwise(reported))
    assert all(report.started_at == alert.started_at for report in reports)
    ended = [report for report in reports if report.ended]
    finish = begin + dt.timedelta(minutes=120)
    assert len(ended) == 1 and ended[0] is reports[-1] and ended[0].messages > growth[-1].messages
    assert finish <= ended[0].detected_at <= finish + dt.timedelta(minutes=60)
    assert ended[0].expected > alert.expected


def monday_peak(minute: int) -> dict[str, float]:
    """'limits' triples on Monday 08:00-11:00 every week: a rhythm of its own, not a surge."""
    day, hour = divmod(minute // 60, 24)
    if day % 7 == 0 and 8 <= hour < 11:
        return {"limits": 2.0 * 2000 * 0.1 * HOURLY[hour] * WEEKLY[0] / (60 * HOURLY.sum())}
    return {}


@pytest.fixture(scope="module")
def three_weeks_with_monday_peaks() -> list[TopicMessage]:
    return traffic(15, seed=3, extra=monday_peak)


def test_a_weekly_peak_is_learned_not_raised(three_weeks_with_monday_peaks: list[TopicMessage]) -> None:
    third_monday = MONDAY + dt.timedelta(days=14)
    weekly = starts(replay(three_weeks_with_monday_peaks))
    assert not [alert for alert in weekly if alert.detected_at >= third_monday and alert.topic == "limits"]
    daily = starts(replay(three_weeks_with_monday_peaks, DetectorConfig(seasonality="daily")))
    peak = third_monday + dt.timedelta(hours=8)
    caught = [a for a in daily if a.topic == "limits" and peak <= a.detected_at < peak + dt.timedelta(hours=3)]
    assert 1 <= len(caught) <= 2  # the three-hour peak, once or (ended and raised again) twice
    assert [a for a in daily if a.topic == "limits" and a not in caught and a.detected_at >= third_monday] == []


def test_warm_up_rebuilds_the_baseline(three_weeks_with_monday_peaks: list[TopicMessage]) -> None:
    cut = MONDAY + dt.timedelta(days=14)
    history = [message for message in three_weeks_with_monday_peaks if message.at < cut]
    detector = EmergingIssueDetector()
    detector.warm_up(history)
    later = [report for m in three_weeks_with_monday_peaks if m.at >= cut for report in detector.observe(m)]
    assert [report for report in later if report.topic == "limits"] == []
    assert detector.share("limits", cut + dt.timedelta(hours=9)) > 1.5 * detector.share("limits", cut)


def burst(topic: str, at: dt.datetime, count: int, *, customer: str | None) -> list[TopicMessage]:
    return [
        TopicMessage(at + dt.timedelta(seconds=40 * i), topic, "email", customer or f"b{i}", f"{topic} {i}")
        for i in range(count)
    ]


def test_one_customer_writing_often_is_not_a_surge(quiet_week: list[TopicMessage]) -> None:
    at = MONDAY + dt.timedelta(days=8, hours=11)
    base = [message for message in quiet_week if message.at < at + dt.timedelta(hours=2)]
    chatty = sorted(base + burst("limits", at, 40, customer="same"), key=lambda message: message.at)
    assert [alert for alert in starts(replay(chatty)) if alert.detected_at >= at] == []
    many = sorted(base + burst("limits", at, 40, customer=None), key=lambda message: message.at)
    caught = [alert for alert in starts(replay(many)) if alert.detected_at >= at]
    assert [alert.topic for alert in caught] == ["limits"] and caught[0].customers >= 5


def test_a_new_topic_can_surge_and_is_labelled(quiet_week: list[TopicMessage]) -> None:
    at = MONDAY + dt.timedelta(days=8, hours=11)
    base = [message for message in quiet_week if message.at < at + dt.timedelta(hours=1)]
    detector = EmergingIssueDetector(label=lambda topic: f"typical message of {topic}")
    few = sorted(base + burst("cluster:7", at, 2, customer=None), key=lambda message: message.at)
    assert [r for message in few for r in detector.observe(message) if r.topic == "cluster:7"] == []
    detector = EmergingIssueDetector(label=lambda topic: f"typical message of {topic}")
    many = sorted(base + burst("cluster:7", at, 15, customer=None), key=lambda message: message.at)
    alerts = [r for message in many for r in detector.observe(message) if r.topic == "cluster:7"]
    assert alerts and alerts[0].detected_at < at + dt.timedelta(minutes=10)
    assert alerts[0].label == "typical message of cluster:7" and alerts[0].channels == {"email": alerts[0].messages}


def test_no_alert_during_warm_up_and_memory_is_bounded() -> None:
    detector = EmergingIssueDetector(DetectorConfig(max_topics=50))
    reports = []
    for i in range(500):
        message = TopicMessage(MONDAY + dt.timedelta(seconds=10 * i), f"cluster:{i % 400}", customer=f"c{i}")
        reports += detector.observe(message)
    assert reports == [] and detector.tracked_topics == 50


def test_the_detector_is_deterministic(quiet_week: list[TopicMessage]) -> None:
    def extra(minute: int) -> dict[str, float]:
        return {"pin": 1.0} if 8 * 1440 + 600 <= minute < 8 * 1440 + 700 else {}

    messages = traffic(9, seed=4, extra=extra)
    assert replay(messages) == replay(messages) != []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"windows_minutes": ()},
        {"windows_minutes": (0, 5)},
        {"false_alarms_per_day": 0.0},
        {"calibration": 0.0},
        {"novel_share": 1.5},
    ],
)
def test_config_rejects_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        DetectorConfig(**kwargs)  # type: ignore[arg-type]

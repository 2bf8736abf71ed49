"""Emerging-issue evaluation: replay a stream of timestamped messages through topics and the detector, score
the alerts against the incidents injected in the stream.

The stream is a CSV with the columns `timestamp,channel,text,incident` (ISO-8601 UTC) and optionally
`customer`. Detection reads the timestamp, channel, text and customer only; `incident` is read afterwards,
to score. Scoring, per alert (the first report of a surge):

- the alert's *evidence* is the messages put in its topic between its `started_at` and its `detected_at`;
- it *matches* the incident that contributed most of that evidence, when that incident contributed at least
  a quarter of it and at least three messages (a 2x surge gives about half), otherwise it is a *false alarm*;
- an incident is *detected* when an alert matches it; its *delay* runs from its first message to the first
  matching alert's `detected_at`.

False alarms are counted per day of stream after the detector's own warm-up (no alert can come before it).
With the generator's manifest (`<stream>.incidents.json`, see evaluation.emerging_stream), results are also
broken down by surge size and by the topic's usual volume, each with `known_within_15_minutes` (the share of
the surges on known topics caught within 15 minutes) beside `reference_within_15_minutes`: the share a
reference detector would catch (see `reference_catch`), what the counts allow at one false alarm a day.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import poisson

from analytics.emerging import DetectorConfig, EmergingIssueDetector, TopicMessage
from analytics.surges import Surge
from analytics.topics import Encode, NearestExampleTopics, OnlineClusters, TopicAssigner

DIGITS = 3
MATCH_SHARE = 0.25
MATCH_MIN = 3
QUICK_MINUTES = 15.0
VOLUME_BANDS = ((0.0, 10.0), (10.0, 30.0), (30.0, 60.0), (60.0, float("inf")))


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One row of a stream."""

    at: dt.datetime
    channel: str
    text: str
    customer: str | None
    incident: str
    topic: str = ""  # the true topic, when the stream gives it (generated streams do)


def load_stream(path: Path) -> list[StreamMessage]:
    """The stream's messages in time order (ties keep the file's order)."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"timestamp", "channel", "text"} - set(reader.fieldnames or [])
            if missing:
                msg = f"{path}: missing the column(s) {sorted(missing)}; expected timestamp,channel,text,incident"
                raise ValueError(msg)
            rows = list(reader)
    except OSError as exc:
        msg = f"{path}: cannot read the stream ({exc.strerror or exc})"
        raise ValueError(msg) from exc
    messages: list[StreamMessage] = []
    for number, row in enumerate(rows, start=2):
        try:
            at = dt.datetime.fromisoformat(row["timestamp"].strip())
        except ValueError as exc:
            msg = f"{path}:{number}: timestamp {row['timestamp']!r} is not ISO-8601"
            raise ValueError(msg) from exc
        at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)
        customer = (row.get("customer") or "").strip() or None
        incident, topic = row.get("incident") or "", (row.get("topic") or "").strip()
        messages.append(StreamMessage(at, row["channel"].strip(), row["text"], customer, incident, topic))
    if not messages:
        msg = f"{path}: the stream has no messages"
        raise ValueError(msg)
    messages.sort(key=lambda message: message.at)
    return messages


def labelled_topics(path: Path, *, exclude: set[str], encode: Encode) -> NearestExampleTopics:
    """Topics from a labelled CSV (`text,label`), leaving out the texts in `exclude` (the stream's own)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"text", "label"} <= set(reader.fieldnames or []):
            msg = f"{path}: expected the columns text,label, got {reader.fieldnames}"
            raise ValueError(msg)
        pairs = [(row["text"], row["label"]) for row in reader if row["text"] and row["label"] != "oos"]
    kept = [(text, label) for text, label in pairs if text.strip() not in exclude]
    if len({label for _, label in kept}) < 2:
        msg = f"{path}: fewer than two topics left once the stream's texts are removed"
        raise ValueError(msg)
    return NearestExampleTopics([t for t, _ in kept], [label for _, label in kept], encode=encode)


def detect(
    messages: Sequence[StreamMessage],
    assigner: TopicAssigner,
    *,
    encode: Encode,
    config: DetectorConfig | None = None,
    clusters: OnlineClusters | None = None,
) -> tuple[list[str], list[Surge]]:
    """Replay the messages (never their incident): each message's topic, and every surge report, in order."""
    distinct = list(dict.fromkeys(message.text for message in messages))
    vectors = np.asarray(encode(distinct), dtype=np.float32)
    if isinstance(assigner, NearestExampleTopics):
        placed = assigner.assign_vectors(vectors)
    else:
        placed = assigner.assign(distinct)
    place = dict(zip(distinct, placed, strict=True))
    row = {text: i for i, text in enumerate(distinct)}
    clusters = clusters if clusters is not None else OnlineClusters()
    topics = [
        place[message.text] or clusters.add(message.text, vectors[row[message.text]], at=message.at)
        for message in messages
    ]
    return topics, replay(messages, topics, config=config, label=clusters.label)


def replay(
    messages: Sequence[StreamMessage],
    topics: Sequence[str],
    *,
    config: DetectorConfig | None = None,
    label: Callable[[str], str] | None = None,
) -> list[Surge]:
    """Every surge report of the detector fed the messages on the given topics, in order."""
    detector = EmergingIssueDetector(config, label=label)
    reports: list[Surge] = []
    for message, topic in zip(messages, topics, strict=True):
        reports += detector.observe(TopicMessage(message.at, topic, message.channel, message.customer, message.text))
    reports += detector.tick(messages[-1].at + dt.timedelta(hours=2))
    return reports


def given_topics(messages: Sequence[StreamMessage]) -> list[str]:
    """The stream's own topic of each message; a `ValueError` when a message has none."""
    missing = sum(1 for message in messages if not message.topic)
    if missing:
        msg = f"{missing} of {len(messages)} messages have no topic: the stream needs a filled `topic` column"
        raise ValueError(msg)
    return [message.topic for message in messages]


def score(
    messages: Sequence[StreamMessage],
    topics: Sequence[str],
    reports: Sequence[Surge],
    *,
    warmup: dt.timedelta,
    manifest: dict[str, object] | None = None,
) -> dict[str, object]:
    """Recall, false alarms per day and delays of the surge reports against the stream's incidents."""
    by_topic: dict[str, list[tuple[float, str]]] = defaultdict(list)
    first_seen: dict[str, float] = {}
    for message, topic in zip(messages, topics, strict=True):
        ts = message.at.timestamp()
        by_topic[topic].append((ts, message.incident))
        if message.incident:
            first_seen.setdefault(message.incident, ts)
    alerts = [report for report in reports if not report.ended]
    starts = {(a.topic, a.started_at): a for a in reversed(alerts)}  # the first report of each surge
    delays: dict[str, float] = {}
    false_alarms: list[Surge] = []
    for (topic, started), alert in sorted(starts.items(), key=lambda item: item[1].detected_at):
        rows = by_topic[topic]
        times = [ts for ts, _ in rows]
        lo = bisect.bisect_left(times, started.timestamp())
        hi = bisect.bisect_right(times, alert.detected_at.timestamp())
        evidence = Counter(incident for _, incident in rows[lo:hi])
        best, count = max(((i, c) for i, c in evidence.items() if i), key=lambda ic: ic[1], default=("", 0))
        if not best or count < max(MATCH_MIN, MATCH_SHARE * (hi - lo)):
            false_alarms.append(alert)
            continue
        delay = (alert.detected_at.timestamp() - first_seen[best]) / 60.0
        delays[best] = min(delays.get(best, delay), delay)
    span = (messages[-1].at - messages[0].at - warmup).total_seconds() / 86400.0
    result: dict[str, object] = _summary(list(first_seen), delays)
    result |= {
        "false_alarms": len(false_alarms),
        "false_alarms_per_day": round(len(false_alarms) / span, DIGITS) if span > 0 else None,
        "days_scored": round(span, 2),
        "messages": len(messages),
        "topics": len(set(topics)),
        "clusters": len({t for t in topics if t.startswith("cluster:")}),
        "alerts": len(starts),
        "false_alarm_examples": [_describe(alert) for alert in false_alarms[:5]],
    }
    if manifest is not None:
        result |= _breakdowns(manifest, delays)
    return result


def reference_catch(
    usual_per_hour: float,
    size: float,
    *,
    topics: int,
    false_alarms_per_day: float = 1.0,
    minutes: float = QUICK_MINUTES,
) -> float:
    """The chance that a reference detector catches a surge of a known topic within `minutes` of its start.

    The reference knows what no real detector knows: the topic's exact usual rate and the minute the surge
    began. It tests the count of new customers in the surge's first `minutes` against a Poisson of the usual
    count, at the level that allows `false_alarms_per_day` over `topics` topics tested every `minutes`. It is
    a yardstick of what the counts allow, not a strict bound: a real detector must estimate the rate and
    watch every window, but may also spend its false-alarm budget differently or catch a surge by a lucky
    window. (A new topic has no usual volume to measure against, so it has no reference.)
    """
    usual = usual_per_hour * minutes / 60.0
    if usual <= 0:
        msg = f"a known topic has a usual volume; got {usual_per_hour} an hour"
        raise ValueError(msg)
    alpha = false_alarms_per_day / (topics * 24 * 60 / minutes)
    needed = int(poisson.isf(alpha, usual)) + 1  # the smallest count with P(count >= needed) <= alpha
    return float(poisson.sf(needed - 1, size * usual))


def _summary(
    incidents: Sequence[str], delays: dict[str, float], reference: dict[str, float] | None = None
) -> dict[str, object]:
    found = [i for i in incidents if i in delays]
    quick = [i for i in found if delays[i] <= QUICK_MINUTES]
    out: dict[str, object] = {
        "incidents": len(incidents),
        "detected": len(found),
        "recall": round(len(found) / len(incidents), DIGITS) if incidents else None,
        "within_15_minutes": round(len(quick) / len(incidents), DIGITS) if incidents else None,
        "median_delay_minutes": round(statistics.median(delays[i] for i in found), 1) if found else None,
    }
    known = [i for i in incidents if reference is not None and i in reference]
    if reference is not None and known:  # the same incidents, by us and by the reference
        out["known_topic_incidents"] = len(known)
        out["known_within_15_minutes"] = round(sum(i in quick for i in known) / len(known), DIGITS)
        out["reference_within_15_minutes"] = round(sum(reference[i] for i in known) / len(known), DIGITS)
    return out


def _breakdowns(manifest: dict[str, object], delays: dict[str, float]) -> dict[str, object]:
    raw = manifest.get("incidents")
    if not isinstance(raw, list):
        return {}
    by_size: dict[str, list[str]] = defaultdict(list)
    by_volume: dict[str, list[str]] = defaultdict(list)
    by_kind: dict[str, list[str]] = defaultdict(list)
    rows = []
    topics = max(1, len(manifest.get("topic_per_hour") or {}))  # type: ignore[arg-type]
    reference: dict[str, float] = {}
    for incident in raw:
        name = str(incident["id"])
        if not incident.get("novel"):
            reference[name] = reference_catch(float(incident["usual_per_hour"]), float(incident["size"]), topics=topics)
        by_size[f"{float(incident['size']):g}x"].append(name)
        by_kind["novel" if incident.get("novel") else "known"].append(name)
        usual = float(incident["usual_per_hour"])
        band = next(f"{lo:g}-{hi:g}/h" for lo, hi in VOLUME_BANDS if lo <= usual < hi)
        by_volume[band].append(name)
        delay = delays.get(name)
        rows.append(
            [
                name,
                incident["topic"],
                incident["size"],
                usual,
                None if delay is None else round(delay, 1),
                round(reference[name], DIGITS) if name in reference else None,
            ]
        )
    sizes = sorted(by_size.items(), key=lambda kv: float(kv[0][:-1]))
    every = _summary([str(incident["id"]) for incident in raw], delays, reference)
    return {
        key: every[key]
        for key in ("known_topic_incidents", "known_within_15_minutes", "reference_within_15_minutes")
        if key in every
    } | {
        "by_size": {key: _summary(names, delays, reference) for key, names in sizes},
        "by_usual_volume": {key: _summary(names, delays, reference) for key, names in by_volume.items()},
        "by_kind": {key: _summary(names, delays, reference) for key, names in by_kind.items()},
        "per_incident_columns": ["id", "topic", "size", "usual_per_hour", "delay_minutes", "reference_15_minutes"],
        "per_incident": rows,
    }


def _describe(alert: Surge) -> dict[str, object]:
    return {
        "topic": alert.topic,
        "label": alert.label,
        "detected_at": alert.detected_at.isoformat(),
        "messages": alert.messages,
        "expected": alert.expected,
    }


def run_emerging_eval(
    stream: Path,
    assigner: TopicAssigner | None = None,
    *,
    encode: Encode | None = None,
    topics_csv: Path | None = None,
    manifest: Path | None = None,
    config: DetectorConfig | None = None,
    given: bool = False,
) -> dict[str, object]:
    """Replay `stream` and score it. Topics come from the stream's `topic` column when `given`, else from
    `assigner`, else from `topics_csv` (minus the stream's texts). The manifest defaults to the generator's
    file beside the stream, when there is one."""
    messages = load_stream(stream)
    config = config or DetectorConfig()
    if given:
        topics = given_topics(messages)
        reports = replay(messages, topics, config=config)
        return _scored(stream, messages, topics, reports, config, manifest)
    if encode is None:
        msg = "placing messages on topics needs an encoder (or given topics)"
        raise ValueError(msg)
    if assigner is None:
        if topics_csv is None:
            msg = "give a topic assigner or a labelled topics CSV"
            raise ValueError(msg)
        assigner = labelled_topics(topics_csv, exclude={m.text.strip() for m in messages}, encode=encode)
    topics, reports = detect(messages, assigner, encode=encode, config=config)
    return _scored(stream, messages, topics, reports, config, manifest)


def _scored(
    stream: Path,
    messages: Sequence[StreamMessage],
    topics: Sequence[str],
    reports: Sequence[Surge],
    config: DetectorConfig,
    manifest: Path | None,
) -> dict[str, object]:
    manifest = manifest or stream.with_suffix(".incidents.json")
    loaded = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else None
    return score(messages, topics, reports, warmup=config.warmup, manifest=loaded)

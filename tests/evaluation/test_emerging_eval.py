"""The emerging-issue evaluation: the stream generator, the scoring on a case worked out by hand, the replay
(which must not read the incident column) and `frontdesk eval emerging` end to end."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analytics.surges import Surge
from evaluation.emerging import StreamMessage, detect, load_stream, reference_catch, score
from evaluation.emerging_stream import StreamSettings, generate, manifest_path, write_stream
from frontdesk.cli import app

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
runner = CliRunner()


def bag_of_words(texts: Sequence[str]) -> np.ndarray:
    """A cheap deterministic text encoder: hashed word counts, normalised."""
    out = np.zeros((len(texts), 256), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            out[row, zlib.crc32(word.encode()) % 256] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class LookupTopics:
    """Places a text under its Banking77 label when it has one (a stand-in for a perfect classifier)."""

    def __init__(self, labelled: Path) -> None:
        with labelled.open(encoding="utf-8", newline="") as handle:
            self.labels = {row["text"].strip(): row["label"] for row in csv.DictReader(handle)}

    def assign(self, texts: Sequence[str]) -> list[str | None]:
        return [self.labels.get(text.strip()) for text in texts]


@pytest.fixture(scope="module")
def small_stream(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = StreamSettings(days=5, warmup_days=3, per_day=8000, incidents_per_day=4, seed=5, sizes=(5.0, 10.0))
    rows, manifest = generate(
        shared_data / "banking77" / "train.csv",
        shared_data / "clinc150" / "train.csv",
        shared_data / "clinc150" / "domains.json",
        settings,
    )
    path = tmp_path_factory.mktemp("emerging") / "stream.csv"
    write_stream(path, rows, manifest)
    return path


def test_generated_stream_has_rhythm_incidents_and_a_holdout(small_stream: Path, shared_data: Path) -> None:
    with small_stream.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["timestamp", "channel", "text", "incident", "customer", "topic"]
        rows = list(reader)
    with (shared_data / "banking77" / "train.csv").open(encoding="utf-8", newline="") as handle:
        intent_of = {row["text"].strip(): row["label"] for row in csv.DictReader(handle)}
    known = [row for row in rows if row["text"].strip() in intent_of]
    assert len(known) > 0.9 * len(rows) and all(row["topic"] == intent_of[row["text"].strip()] for row in known)
    assert all(row["topic"] for row in rows)
    times = [dt.datetime.fromisoformat(row["timestamp"]) for row in rows]
    assert times == sorted(times) and rows[0]["timestamp"].endswith("Z")
    by_hour = Counter(t.hour for t in times)
    assert sum(by_hour[h] for h in (9, 10, 11)) > 4 * sum(by_hour[h] for h in (1, 2, 3))
    manifest = json.loads(manifest_path(small_stream).read_text())
    incidents = Counter(row["incident"] for row in rows if row["incident"])
    assert len(manifest["incidents"]) == 8 and {i["id"] for i in manifest["incidents"]} == set(incidents)
    for incident in manifest["incidents"]:
        assert incidents[incident["id"]] == incident["messages"] > 0
        assert dt.datetime.fromisoformat(incident["start"]) >= T0 + dt.timedelta(days=3)
    assert any(incident["novel"] for incident in manifest["incidents"])
    with (shared_data / "banking77" / "train.csv").open(encoding="utf-8", newline="") as handle:
        banking = {row["text"].strip() for row in csv.DictReader(handle)}
    streamed = {row["text"] for row in rows}
    assert len(banking - streamed) >= 0.29 * len(banking)  # the assigner's examples never appear in the stream


def alert(topic: str, start: dt.datetime, detected: dt.datetime, *, ended: bool = False) -> Surge:
    return Surge(topic, topic, start, detected, 10, 10, 2.0, ended=ended)


def test_scoring_on_a_hand_made_case() -> None:
    def message(minute: float, incident: str = "") -> StreamMessage:
        return StreamMessage(T0 + dt.timedelta(minutes=minute), "sms", "x", None, incident)

    messages = [message(0)] + [message(1440 + i, "inc-1" if i % 2 else "") for i in range(20)]
    messages += [message(1500 + i, "inc-2") for i in range(5)] + [message(2 * 1440 + 600)]
    topics = ["a"] + ["a"] * 20 + ["b"] * 5 + ["a"]
    reports = [
        alert("a", T0 + dt.timedelta(minutes=1440), T0 + dt.timedelta(minutes=1452)),  # 6 of 13 from inc-1
        alert("a", T0 + dt.timedelta(minutes=1440), T0 + dt.timedelta(minutes=1459)),  # a later report: not new
        alert("a", T0 + dt.timedelta(minutes=1440), T0 + dt.timedelta(minutes=1600), ended=True),
        alert("c", T0 + dt.timedelta(minutes=1500), T0 + dt.timedelta(minutes=1504)),  # no messages: false
    ]
    result = score(messages, topics, reports, warmup=dt.timedelta(days=1))
    assert result["incidents"] == 2 and result["detected"] == 1 and result["recall"] == 0.5
    assert result["median_delay_minutes"] == 11.0  # inc-1's first message came at minute 1441
    assert result["false_alarms"] == 1 and result["alerts"] == 2
    assert result["false_alarms_per_day"] == round(1 / (1 + 600 / 1440), 3)
    assert result["within_15_minutes"] == 0.5


def test_reference_catch_is_what_the_counts_allow() -> None:
    topics = 77
    for usual in (2.0, 10.0, 40.0, 400.0):  # a 1x "surge" is ordinary traffic: raised within the alarm budget
        assert reference_catch(usual, 1.0, topics=topics) * topics * 96 <= 1.0
    catches = [reference_catch(usual, 3.0, topics=topics) for usual in (4.0, 12.0, 40.0, 200.0)]
    assert catches == sorted(catches) and catches[0] < 0.1 and catches[-1] > 0.99
    assert reference_catch(12.0, 10.0, topics=topics) > reference_catch(12.0, 3.0, topics=topics)
    with pytest.raises(ValueError, match="usual volume"):
        reference_catch(0.0, 3.0, topics=topics)  # a new topic: nothing to measure against
    assert reference_catch(12.0, 3.0, topics=topics, false_alarms_per_day=10.0) > reference_catch(
        12.0, 3.0, topics=topics
    )


@pytest.mark.slow
def test_replay_catches_large_surges_and_never_reads_the_incident_column(small_stream: Path, shared_data: Path) -> None:
    messages = load_stream(small_stream)
    assigner = LookupTopics(shared_data / "banking77" / "train.csv")
    topics, reports = detect(messages, assigner, encode=bag_of_words)
    manifest = json.loads(manifest_path(small_stream).read_text())
    result = score(messages, topics, reports, warmup=dt.timedelta(days=1), manifest=manifest)
    assert result["incidents"] == 8 and result["recall"] >= 0.5  # type: ignore[operator]
    assert result["by_size"]["10x"]["detected"] >= 3  # type: ignore[index]
    assert list(result["by_size"]) == ["5x", "10x"]  # type: ignore[arg-type]  (in order of size)
    reference = result["by_size"]["10x"]["reference_within_15_minutes"]  # type: ignore[index]
    assert reference > result["by_size"]["5x"]["reference_within_15_minutes"]  # type: ignore[index]
    novel = [
        row
        for row in result["per_incident"]
        if row[1] not in LookupTopics(shared_data / "banking77" / "train.csv").labels.values()
    ]  # type: ignore[union-attr]
    assert novel and all(row[-1] is None for row in novel), "a new topic has no reference"
    assert result["known_topic_incidents"] == 8 - len(novel)
    assert len(result["per_incident"][0]) == len(result["per_incident_columns"])  # type: ignore[index,arg-type]
    assert result["false_alarms_per_day"] < 1.0  # type: ignore[operator]
    labels = [message.incident for message in messages]
    random.Random(1).shuffle(labels)
    for changed in (
        [replace(m, incident="") for m in messages],
        [replace(m, incident=i) for m, i in zip(messages, labels, strict=True)],
    ):
        assert detect(changed, assigner, encode=bag_of_words) == (topics, reports)


def test_streams_without_optional_columns_and_bad_streams(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("timestamp,channel,text\n2026-01-05T10:00:00,sms,hello\n2026-01-05T09:00:00+01:00,email,hi\n")
    loaded = load_stream(plain)
    assert [m.text for m in loaded] == ["hi", "hello"] and loaded[1].at == T0 + dt.timedelta(hours=10)
    assert loaded[0].customer is None and loaded[0].incident == ""
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,text\n2026-01-05T10:00:00,hello\n")
    with pytest.raises(ValueError, match="channel"):
        load_stream(bad)
    bad.write_text("timestamp,channel,text\nyesterday,sms,hello\n")
    with pytest.raises(ValueError, match="bad.csv:2: timestamp 'yesterday'"):
        load_stream(bad)


@pytest.mark.slow
def test_cli_eval_emerging_prints_the_scores(small_stream: Path, shared_data: Path, tmp_path: Path) -> None:
    head = tmp_path / "head.csv"
    with small_stream.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))[:1500]
    with head.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["timestamp", "channel", "text", "incident"])
        writer.writeheader()
        writer.writerows({key: row[key] for key in ("timestamp", "channel", "text", "incident")} for row in rows)
        writer.writerow({"timestamp": "2026-01-06T10:00:00Z", "channel": "sms", "text": "hi", "incident": "inc-x"})
    streamed = {row["text"] for row in rows}
    examples = tmp_path / "topics.csv"
    with (shared_data / "banking77" / "train.csv").open(encoding="utf-8", newline="") as handle:
        kept = Counter[str]()
        lines = []
        for row in csv.DictReader(handle):
            if row["text"] not in streamed and kept[row["label"]] < 4:
                kept[row["label"]] += 1
                lines.append(row)
    with examples.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(lines)
    result = runner.invoke(app, ["eval", "emerging", "--stream", str(head), "--topics", str(examples)])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert {"incidents", "detected", "recall", "false_alarms_per_day", "median_delay_minutes"} <= set(scores)
    assert scores["incidents"] == 1 and scores["messages"] == 1501 and "by_size" not in scores
    missing = runner.invoke(app, ["eval", "emerging", "--stream", str(tmp_path / "none.csv")])
    assert missing.exit_code != 0
    untopical = runner.invoke(app, ["eval", "emerging", "--stream", str(head), "--given-topics"])
    assert untopical.exit_code == 1 and "1501 of 1501 messages have no topic" in untopical.output


@pytest.mark.slow
def test_cli_eval_emerging_with_the_streams_own_topics(small_stream: Path) -> None:
    result = runner.invoke(app, ["eval", "emerging", "--stream", str(small_stream), "--given-topics"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["incidents"] == 8 and scores["by_size"]["10x"]["detected"] >= 3
    assert scores["false_alarms_per_day"] < 1.0 and scores["clusters"] == 0

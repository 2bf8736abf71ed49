"""A stream of timestamped customer messages with injected surges, for the emerging-issue evaluation.

Texts are real: Banking77 messages for the ordinary topics, CLINC150 messages for off-topic noise (small talk,
utilities, assistant commands, out of scope) and for "novel" topics Banking77 has no intent for (rewards,
travel notices, credit score). What is synthetic, from fixed seeded distributions: the timing, channels and
customers. Volume follows a daily rhythm (quiet at night, peaks late morning and early evening) and a weekly
one (Monday busiest, weekend quiet); each topic has a Zipf-like share of the traffic and a day-to-day
wobble (log-normal, sd 0.1); one topic also has a rhythm of its own (three times its share on Monday
08:00-11:00 UTC, a weekly peak the detector must not call a surge). Every count is Poisson; one message in
ten gets a follow-up from the same customer on the same topic within 20 minutes.

After `--warmup-days` of ordinary traffic, surges are injected: a topic gets `size` times its usual volume
(its own rhythm included) for one to three hours, sizes cycling through `--sizes`, topics spread over
popular, middling and rare ones; every fifth surge is a novel topic at `size` times the median topic's
volume. An incident's messages carry its id in the `incident` column, and lean to one channel (60 %).
Every message also carries its true `topic` (a Banking77 intent, a CLINC150 label for noise and novel
topics), for `frontdesk eval emerging --given-topics`, which measures the detector without topic errors.

Train/test separation: of each Banking77 intent's examples, a seeded `--holdout` share (30 %) is never put in
the stream; `frontdesk eval emerging` by default learns its topics from exactly those (the labelled file minus
the stream's texts). A manifest (`<out>.incidents.json`) records each incident's topic, size, window and
usual volume, for the breakdowns only; the detector never reads it.

Run: python -m evaluation.emerging_stream --out stream.csv [--days 14 --seed 0 --per-day 20000]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday
HOURLY_RHYTHM = (
    0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.5, 1.0, 1.6, 2.0, 2.2, 2.1,
    1.9, 1.8, 1.9, 2.0, 1.9, 1.7, 1.5, 1.3, 1.1, 0.9, 0.7, 0.5,
)  # fmt: skip
WEEKLY_RHYTHM = (1.2, 1.0, 1.0, 1.0, 1.0, 0.6, 0.5)  # Monday ... Sunday
CHANNELS = ("webchat", "whatsapp", "email", "voice", "sms")
CHANNEL_WEIGHTS = (0.45, 0.20, 0.20, 0.10, 0.05)
NOISE_DOMAINS = ("small_talk", "utility", "meta")
NOVEL_TOPICS = ("redeem_rewards", "rewards_balance", "travel_notification", "improve_credit_score")
NOISE_SHARE = 0.04
ZIPF = 0.7
FOLLOW_UP = 0.1
PEAK_FACTOR = 3.0
PEAK_HOURS = range(8, 11)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """What to generate."""

    days: int = 14
    seed: int = 0
    per_day: float = 20000.0  # messages on an ordinary weekday
    warmup_days: int = 7
    incidents_per_day: float = 3.0
    sizes: tuple[float, ...] = (2.0, 3.0, 5.0, 10.0)
    holdout: float = 0.3


def _labelled(path: Path) -> dict[str, list[str]]:
    by_label: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"text", "label"} <= set(reader.fieldnames):
            msg = f"{path}: expected the columns text,label, got {reader.fieldnames}"
            raise ValueError(msg)
        for row in reader:
            if row["text"].strip() and row["label"].strip():
                by_label[row["label"].strip()].append(row["text"].strip())
    return by_label


def generate(
    banking: Path, clinc: Path, domains: Path, settings: StreamSettings
) -> tuple[list[dict[str, str]], dict[str, object]]:
    """The stream's rows (time order) and its manifest."""
    if settings.days <= settings.warmup_days:
        msg = f"days ({settings.days}) must exceed warmup_days ({settings.warmup_days})"
        raise ValueError(msg)
    rng = np.random.default_rng(settings.seed)
    known = _labelled(banking)
    other = _labelled(clinc)
    noise_labels = {label for domain in NOISE_DOMAINS for label in json.loads(domains.read_text())[domain]}
    noise_topic: dict[str, str] = {}
    for label in sorted(noise_labels | {"oos"}):
        for text in other.get(label, []):
            noise_topic.setdefault(text, label)
    noise = sorted(noise_topic)
    pools: dict[str, list[str]] = {}
    for label in sorted(known):
        texts = sorted(set(known[label]))
        rng.shuffle(texts)
        pools[label] = texts[int(round(settings.holdout * len(texts))) :]
    topics = sorted(pools)
    ranks = rng.permutation(len(topics)) + 1
    shares = (1.0 / ranks**ZIPF) / (1.0 / ranks**ZIPF).sum() * (1.0 - NOISE_SHARE)
    peak_topic = topics[int(np.argsort(ranks)[4])]  # the fifth most popular topic
    minutes = settings.days * 1440
    hour = np.arange(minutes) // 60
    volume = np.array(HOURLY_RHYTHM)[hour % 24] * np.array(WEEKLY_RHYTHM)[(hour // 24) % 7]
    volume *= settings.per_day / (60.0 * sum(HOURLY_RHYTHM))  # messages per minute
    wobble = rng.lognormal(0.0, 0.1, size=(settings.days, len(topics)))
    rates = volume[:, None] * shares[None, :] * wobble[hour // 24]
    peak = (hour // 24 % 7 == 0) & np.isin(hour % 24, list(PEAK_HOURS))
    rates[peak, topics.index(peak_topic)] *= PEAK_FACTOR
    # (minute + fraction, channel, text, incident, customer, topic)
    rows: list[tuple[float, str, str, str, str, str]] = []

    def emit(
        counts: np.ndarray, texts: list[str], topic: str | list[str], incident: str = "", channel: str | None = None
    ) -> int:
        """Messages from `texts` at Poisson `counts` a minute; `topic` names their topic (or each text's)."""
        names = [topic] * len(texts) if isinstance(topic, str) else topic
        total = 0
        for minute in np.flatnonzero(counts):
            for _ in range(int(counts[minute])):
                when = float(minute + rng.random())
                if channel is not None and rng.random() < 0.6:
                    ch = channel
                else:
                    ch = CHANNELS[int(rng.choice(len(CHANNELS), p=CHANNEL_WEIGHTS))]
                customer = f"c{int(rng.integers(1, 2_000_000)):07d}"
                pick = int(rng.integers(len(texts)))
                rows.append((when, ch, texts[pick], incident, customer, names[pick]))
                total += 1
                if rng.random() < FOLLOW_UP:
                    later = when + float(rng.uniform(1.0, 20.0))
                    again = int(rng.integers(len(texts)))
                    rows.append((later, ch, texts[again], incident, customer, names[again]))
                    total += 1
        return total

    for column, label in enumerate(topics):
        emit(rng.poisson(rates[:, column]), pools[label], label)
    emit(rng.poisson(volume * NOISE_SHARE), noise, [noise_topic[text] for text in noise])

    incidents: list[dict[str, object]] = []
    median_rate = np.median(rates, axis=1)
    by_popularity = [topics[i] for i in np.argsort(ranks)]
    strata = (by_popularity[:10], by_popularity[10:35], by_popularity[35:])
    count = int(round((settings.days - settings.warmup_days) * settings.incidents_per_day))
    slots = np.sort(rng.choice(np.arange(settings.warmup_days * 24, settings.days * 24 - 4), count, replace=False))
    busy_until: dict[str, int] = {}
    for number, slot_hour in enumerate(slots):
        size = settings.sizes[number % len(settings.sizes)]
        start = int(slot_hour) * 60 + int(rng.integers(60))
        length = int(rng.integers(60, 181))
        window = slice(start, min(start + length, minutes))
        novel = number % 5 == 4
        if novel:
            topic = NOVEL_TOPICS[(number // 5) % len(NOVEL_TOPICS)]
            base = median_rate[window]
            extra, texts = size * base, other[topic]
        else:
            candidates = [t for t in strata[number % 3] if busy_until.get(t, -1) < start and t != peak_topic]
            topic = candidates[int(rng.integers(len(candidates)))]
            base = rates[window, topics.index(topic)]
            extra, texts = (size - 1.0) * base, pools[topic]
        busy_until[topic] = window.stop + 120
        counts = np.zeros(minutes, dtype=np.int64)
        counts[window] = rng.poisson(extra)
        incident_id = f"inc-{number + 1:03d}"
        sent = emit(counts, texts, topic, incident_id, CHANNELS[int(rng.integers(len(CHANNELS)))])
        incidents.append(
            {
                "id": incident_id,
                "topic": topic,
                "novel": novel,
                "size": size,
                "start": (START + dt.timedelta(minutes=start)).isoformat(),
                "minutes": window.stop - window.start,
                "usual_per_hour": round(float(base.mean()) * 60.0, 2),
                "messages": sent,
            }
        )
    rows.sort(key=lambda row: row[0])
    out = [
        {
            "timestamp": (START + dt.timedelta(minutes=when)).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "channel": channel,
            "text": text,
            "incident": incident,
            "customer": customer,
            "topic": topic,
        }
        for when, channel, text, incident, customer, topic in rows
        if when < minutes
    ]
    manifest: dict[str, object] = {
        "settings": _settings_dict(settings),
        "start": START.isoformat(),
        "messages": len(out),
        "weekly_peak_topic": peak_topic,
        "topic_per_hour": {t: round(float(rates[:, i].mean()) * 60.0, 2) for i, t in enumerate(topics)},
        "incidents": incidents,
    }
    return out, manifest


def _settings_dict(settings: StreamSettings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def write_stream(path: Path, rows: list[dict[str, str]], manifest: dict[str, object]) -> Path:
    """Write the CSV and its manifest beside it; returns the manifest's path."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["timestamp", "channel", "text", "incident", "customer", "topic"])
        writer.writeheader()
        writer.writerows(rows)
    target = manifest_path(path)
    target.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return target


def manifest_path(stream: Path) -> Path:
    """Where the generator puts a stream's manifest."""
    return stream.with_suffix(".incidents.json")


def main(argv: list[str] | None = None) -> int:
    """Generate a stream from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--warmup-days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-day", type=float, default=20000.0, help="messages on an ordinary weekday")
    parser.add_argument("--incidents-per-day", type=float, default=3.0)
    parser.add_argument("--sizes", default="2,3,5,10", help="surge sizes, comma separated")
    parser.add_argument("--banking", type=Path, default=DATA / "banking77" / "train.csv")
    parser.add_argument("--clinc", type=Path, default=DATA / "clinc150" / "train.csv")
    parser.add_argument("--domains", type=Path, default=DATA / "clinc150" / "domains.json")
    args = parser.parse_args(argv)
    settings = StreamSettings(
        days=args.days,
        seed=args.seed,
        per_day=args.per_day,
        warmup_days=args.warmup_days,
        incidents_per_day=args.incidents_per_day,
        sizes=tuple(float(size) for size in args.sizes.split(",")),
    )
    rows, manifest = generate(args.banking, args.clinc, args.domains, settings)
    target = write_stream(args.out, rows, manifest)
    sys.stderr.write(f"wrote {len(rows)} messages to {args.out} and the manifest to {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

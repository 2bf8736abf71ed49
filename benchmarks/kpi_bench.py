"""How long the KPIs and the live traffic series take over 100k and 1M synthetic interaction events.

Writes the events into a fresh database (SQLite in a temporary folder by default, or --database-url for an
empty PostgreSQL database) through the real schema and migrations, then times `compute_kpis` over the whole
30 days (in total, by day, by channel) and `traffic` over the last 6 hours, printing the median of --runs.

    .venv/bin/python benchmarks/kpi_bench.py                  # 100k and 1M events on SQLite
    .venv/bin/python benchmarks/kpi_bench.py --sizes 100000 --runs 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from analytics.kpis import compute_kpis, traffic
from analytics.tables import events_table
from frontdesk import db

CHANNELS = ("webchat", "whatsapp", "email", "sms", "voice")
REASONS = ("customer_asked", "not_grounded", "repeated", "frustration", "sensitive_intent", "too_many_turns")
SKILLS = ("billing", "shipping", "technical", "returns")
DAYS = 30
NULLABLE = (
    "channel",
    "customer",
    "intent",
    "skill",
    "topic",
    "confidence",
    "latency_ms",
    "reason",
    "actor",
    "value",
    "text",
)
EMPTY: dict[str, Any] = dict.fromkeys(NULLABLE)


def synthetic_rows(size: int, end: dt.datetime, seed: int = 7) -> Iterator[dict[str, Any]]:
    """About `size` events: conversations of 5 to 12 steps spread over the 30 days before `end`."""
    rng = random.Random(seed)
    made = conversation = 0
    span = DAYS * 86400
    while made < size:
        conversation += 1
        cid, channel = f"c{conversation}", rng.choice(CHANNELS)
        customer = f"k{rng.randrange(max(1, size // 12))}"
        at = end - dt.timedelta(seconds=rng.uniform(0, span))
        skill = rng.choice(SKILLS)

        def row(kind: str, seconds: float, cid: str = cid, at: dt.datetime = at, **fields: Any) -> dict[str, Any]:
            base = {"kind": kind, "conversation_id": cid, "at": at + dt.timedelta(seconds=seconds), "data": {}}
            return {**EMPTY, **base, **fields}

        steps = [
            row("message_in", 0, channel=channel, customer=customer, topic=skill, text="redacted question"),
            row("retrieval", 0.3, confidence=rng.random(), data={"documents": ["doc-1", "doc-2"]}),
            row("answer", 1.5, skill=skill, intent=skill, latency_ms=rng.lognormvariate(7, 0.5), text="an answer"),
            row("delivery", 2, reason="delivered"),
        ]
        if rng.random() < 0.5:
            steps += [row("message_in", 60, channel=channel, customer=customer), row("answer", 62, latency_ms=900.0)]
        if rng.random() < 0.25:
            steps += [
                row("escalation", 70, reason=rng.choice(REASONS), skill=skill, intent=skill, data={"priority": 1}),
                row("assignment", 70 + rng.uniform(10, 900), actor="ana", skill=skill, data={"waited_s": 30.0}),
                row("human_reply", 1000, actor="ana", text="a reply"),
                row("resolution", 1200 + rng.uniform(0, 3600), actor="ana", data={"by": "human"}),
            ]
        else:
            steps.append(row("resolution", 300, data={"by": "assistant"}))
        if rng.random() < 0.3:
            steps.append(row("rating", 1500, value=float(rng.randint(1, 5))))
        yield from steps
        made += len(steps)


def fill(engine: sa.Engine, size: int, end: dt.datetime) -> int:
    batch: list[dict[str, Any]] = []
    written = 0
    with engine.begin() as conn:
        conn.execute(sa.delete(events_table))  # --database-url is reused from one size to the next
        for item in synthetic_rows(size, end):
            batch.append(item)
            if len(batch) == 20_000:
                conn.execute(sa.insert(events_table), batch)
                written += len(batch)
                batch = []
        if batch:
            conn.execute(sa.insert(events_table), batch)
            written += len(batch)
    return written


def timed(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench(url: str, size: int, runs: int) -> None:
    engine = db.create_engine(url)
    db.upgrade(engine)
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    started = time.perf_counter()
    written = fill(engine, size, end)
    print(f"\n{written:,} events written in {time.perf_counter() - started:.1f} s ({engine.url.get_backend_name()})")
    since = end - dt.timedelta(days=DAYS)
    week = end - dt.timedelta(days=7)
    report = compute_kpis(engine, since=since, until=end)
    print(f"  {report.total.conversations:,} conversations, containment {report.total.containment_rate:.3f}")
    cases: list[tuple[str, Callable[[], object]]] = [
        ("kpis, 30 days, total", lambda: compute_kpis(engine, since=since, until=end)),
        ("kpis, 30 days, by day", lambda: compute_kpis(engine, since=since, until=end, by="day")),
        ("kpis, 30 days, by channel", lambda: compute_kpis(engine, since=since, until=end, by="channel")),
        ("kpis, 7 days, by skill", lambda: compute_kpis(engine, since=week, until=end, by="skill")),
        ("traffic, 6 hours in 5 min", lambda: traffic(engine, until=end, hours=6)),
    ]
    for name, work in cases:
        print(f"  {name:<28} median of {runs}: {timed(work, runs):7.3f} s")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--database-url",
        help="a scratch database (its interaction log is emptied!); default: SQLite in a temporary folder",
    )
    args = parser.parse_args()
    for size in args.sizes:
        if args.database_url:
            bench(args.database_url, size, args.runs)
            continue
        with tempfile.TemporaryDirectory() as folder:
            bench(f"sqlite:///{Path(folder) / 'bench.db'}", size, args.runs)


if __name__ == "__main__":
    main()

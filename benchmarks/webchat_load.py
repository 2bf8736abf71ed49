"""Web-chat load benchmark: many visitors chatting at once over the widget's WebSocket, offline answerer.

Run: .venv/bin/python benchmarks/webchat_load.py [--sessions 32] [--turns 25]

It starts `frontdesk serve` in its own process (SQLite, embedded Chroma, the demo help centre, offline
answerer) on a free port of 127.0.0.1, opens `--sessions` visitor sessions (`POST /v1/webchat/sessions`, then
the WebSocket) and has each ask `--turns` questions one after another, waiting for each `reply` frame. The
questions are the demo help centre's test questions and paraphrases of them, drawn with repeats (customers
ask the same things): a repeated question is not encoded twice. Reported: turns per second over the whole
run, and the p50/p95 time from sending a message to its `reply`. Baselines measured in the same run: one
visitor alone (sequential turns) and `GET /healthz` from the same number of concurrent clients (the
ceiling the HTTP stack leaves). The rate limits are raised (all visitors share one address), not turned off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import websockets

QUESTIONS = Path(__file__).resolve().parents[1] / "tests" / "knowledge" / "demo_questions.jsonl"
PREFIXES = ("", "hi, ", "quick question: ", "hello! ", "")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def question_pool() -> list[str]:
    base = [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line]
    return [prefix + question for question in base for prefix in PREFIXES]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def visitor(base: str, questions: list[str], latencies: list[float]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        session = (await client.post("/v1/webchat/sessions")).json()
    uri = base.replace("http", "ws", 1) + "/v1/webchat/ws"
    async with websockets.connect(uri, max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "auth", "token": session["token"]}))
        while json.loads(await ws.recv()).get("type") != "hello":
            pass
        for i, question in enumerate(questions):
            message_id = f"m{i}"
            start = time.perf_counter()
            await ws.send(json.dumps({"type": "message", "id": message_id, "text": question}))
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("type") == "reply" and frame.get("id") == message_id:
                    break
                if frame.get("type") == "error":
                    msg = f"the service answered an error: {frame}"
                    raise RuntimeError(msg)
            latencies.append((time.perf_counter() - start) * 1000)


async def run_visitors(base: str, sessions: int, turns: int, rng: random.Random) -> tuple[float, list[float]]:
    pool = question_pool()
    latencies: list[float] = []
    plans = [[rng.choice(pool) for _ in range(turns)] for _ in range(sessions)]
    start = time.perf_counter()
    await asyncio.gather(*(visitor(base, plan, latencies) for plan in plans))
    return time.perf_counter() - start, latencies


async def health(base: str, clients: int, requests: int) -> tuple[float, list[float]]:
    latencies: list[float] = []

    async def one(client: httpx.AsyncClient) -> None:
        for _ in range(requests):
            start = time.perf_counter()
            (await client.get("/healthz")).raise_for_status()
            latencies.append((time.perf_counter() - start) * 1000)

    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=clients)) as c:
        start = time.perf_counter()
        await asyncio.gather(*(one(c) for _ in range(clients)))
        return time.perf_counter() - start, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=32)
    parser.add_argument("--turns", type=int, default=25)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    frontdesk = Path(sys.executable).with_name("frontdesk")
    with tempfile.TemporaryDirectory(prefix="frontdesk-load-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
        env.update(FRONTDESK_DATA_DIR=str(Path(tmp) / "data"), FRONTDESK_LOG_LEVEL="warning")
        # Every visitor here comes from 127.0.0.1: the rate limits stay in the path (their counting is measured)
        # but high enough that one address may open all the sessions and send all the turns.
        env.update({f"FRONTDESK_RATE_LIMIT_{name}": "1000000/minute" for name in ("SESSIONS", "MESSAGES_PER_VISITOR")})
        env["FRONTDESK_RATE_LIMIT_MESSAGES_PER_ADDRESS"] = "1000000/minute"
        log = (Path(tmp) / "service.log").open("wb")
        service = subprocess.Popen(
            [str(frontdesk), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 600
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if service.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((Path(tmp) / "service.log").read_text()[-2000:])
                time.sleep(0.5)
            rng = random.Random(7)
            asyncio.run(run_visitors(base, 4, 5, rng))  # warm-up: model, caches, connections
            alone_seconds, alone = asyncio.run(run_visitors(base, 1, args.turns, rng))
            load_seconds, loaded = asyncio.run(run_visitors(base, args.sessions, args.turns, rng))
            health_seconds, health_latencies = asyncio.run(health(base, args.sessions, args.turns))
        finally:
            service.terminate()
            service.wait(timeout=30)
            log.close()
    rows = [
        (f"{args.sessions} visitors at once", len(loaded) / load_seconds, loaded),
        ("baseline: one visitor alone", len(alone) / alone_seconds, alone),
        (f"baseline: GET /healthz x{args.sessions}", len(health_latencies) / health_seconds, health_latencies),
    ]
    print(f"web chat over WebSocket: {args.sessions} sessions x {args.turns} turns, offline answerer, demo KB")
    print(f"{'measure':34} {'turns/s':>9} {'p50 ms':>8} {'p95 ms':>8}")
    for name, rate, values in rows:
        print(f"{name:34} {rate:9.1f} {statistics.median(values):8.1f} {pct(values, 95):8.1f}")
    print(f"throughput ratio, {args.sessions} visitors / one visitor: {rows[0][1] / rows[1][1]:.2f}")


if __name__ == "__main__":
    main()

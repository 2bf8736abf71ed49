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
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _wait_listening(port: int, process: subprocess.Popen[bytes], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if process.poll() is not None:
                msg = f"{what} exited with code {process.returncode}"
                raise SystemExit(msg) from None
            time.sleep(0.2)
    msg = f"{what} did not listen within {seconds:.0f} s"
    raise SystemExit(msg)


@contextlib.contextmanager
def _postgres_database(url: str) -> Iterator[str]:
    """A database of its own on the server of `url`, dropped afterwards."""
    import sqlalchemy as sa

    name = f"frontdesk_bench_{os.getpid()}"
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def count_per_turn(env: dict[str, str], turns: int) -> tuple[float, float, float]:
    """Database statements, transactions and thread hops per turn, counted in this process over the same kind
    of turns (a service of the same settings built here, its web chat driven directly, no HTTP)."""
    import anyio.to_thread
    import sqlalchemy as sa

    from frontdesk.runtime import build_runtime, build_webchat
    from frontdesk.settings import Settings

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        runtime = build_runtime(settings, migrate=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    service = build_webchat(settings, runtime.inbox)
    counts = {"statements": 0, "transactions": 0, "hops": 0}

    def statement(*_args: object) -> None:
        counts["statements"] += 1

    def transaction(*_args: object) -> None:
        counts["transactions"] += 1

    sa.event.listen(runtime.engine, "before_cursor_execute", statement)
    sa.event.listen(runtime.engine, "begin", transaction)
    real = anyio.to_thread.run_sync

    async def hop(*args: Any, **kwargs: Any) -> Any:
        counts["hops"] += 1
        return await real(*args, **kwargs)

    async def drive() -> None:
        rng = random.Random(11)
        pool = question_pool()
        for visitor_number in range(max(1, turns // 10)):
            session = await service.start_session()
            for i in range(10):
                async for _ in service.converse(session.visitor, f"c{visitor_number}-{i}", rng.choice(pool)):
                    pass

    anyio.to_thread.run_sync = hop  # type: ignore[assignment]
    try:
        asyncio.run(drive())
    finally:
        anyio.to_thread.run_sync = real
        runtime.close()
    done = max(1, turns // 10) * 10
    return counts["statements"] / done, counts["transactions"] / done, counts["hops"] / done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="32", help="visitors at once; several runs: 32,64,128")
    parser.add_argument("--turns", type=int, default=25)
    parser.add_argument("--workers", type=int, default=1, help="frontdesk serve --workers")
    parser.add_argument("--database-url", help="PostgreSQL server to use (a database of its own is made)")
    parser.add_argument("--redis-url", help="Redis for several workers, e.g. redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    sessions = [int(part) for part in args.sessions.split(",")]
    if args.workers > 1 and not (args.database_url and args.redis_url):
        msg = "--workers above 1 needs --database-url (PostgreSQL) and --redis-url"
        raise SystemExit(msg)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="frontdesk-load-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
        env.update(FRONTDESK_DATA_DIR=str(Path(tmp) / "data"), FRONTDESK_LOG_LEVEL="warning")
        # Every visitor here comes from 127.0.0.1: the rate limits stay in the path (their counting is measured)
        # but high enough that one address may open all the sessions and send all the turns.
        env.update({f"FRONTDESK_RATE_LIMIT_{name}": "1000000/minute" for name in ("SESSIONS", "MESSAGES_PER_VISITOR")})
        env["FRONTDESK_RATE_LIMIT_MESSAGES_PER_ADDRESS"] = "1000000/minute"
        storage = "SQLite, embedded Chroma"
        if args.database_url:
            env["FRONTDESK_DATABASE_URL"] = stack.enter_context(_postgres_database(args.database_url))
            storage = "PostgreSQL, embedded Chroma"
        if args.redis_url:
            env["FRONTDESK_REDIS_URL"] = args.redis_url
        if args.workers > 1:
            chroma_port = free_port()
            chroma = subprocess.Popen(
                [
                    str(bin_dir / "chroma"),
                    "run",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(chroma_port),
                    "--path",
                    tmp + "/c",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            stack.callback(chroma.wait, 30)
            stack.callback(chroma.terminate)
            _wait_listening(chroma_port, chroma, "chroma run")
            env.update(FRONTDESK_CHROMA_HOST="127.0.0.1", FRONTDESK_CHROMA_PORT=str(chroma_port))
            storage = f"PostgreSQL, Redis, a Chroma server, {args.workers} workers"
        log = stack.enter_context((Path(tmp) / "service.log").open("wb"))
        command = [str(bin_dir / "frontdesk"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        service = subprocess.Popen([*command, "--workers", str(args.workers)], env=env, stdout=log, stderr=log)
        stack.callback(service.wait, 30)
        stack.callback(service.terminate)
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
        loads = [(n, *asyncio.run(run_visitors(base, n, args.turns, rng))) for n in sessions]
        health_seconds, health_latencies = asyncio.run(health(base, sessions[0], args.turns))
        service.terminate()
        service.wait(timeout=30)
        statements, transactions, hops = count_per_turn(env, 200)
    rows = [(f"{n} visitors at once", len(values) / seconds, values) for n, seconds, values in loads]
    rows += [
        ("baseline: one visitor alone", len(alone) / alone_seconds, alone),
        (f"baseline: GET /healthz x{sessions[0]}", len(health_latencies) / health_seconds, health_latencies),
    ]
    print(f"web chat over WebSocket: {args.sessions} sessions x {args.turns} turns, offline answerer, demo KB")
    print(f"storage: {storage}")
    print(f"{'measure':34} {'turns/s':>9} {'p50 ms':>8} {'p95 ms':>8}")
    for name, rate, values in rows:
        print(f"{name:34} {rate:9.1f} {statistics.median(values):8.1f} {pct(values, 95):8.1f}")
    print(f"throughput ratio, {sessions[0]} visitors / one visitor: {rows[0][1] / rows[-2][1]:.2f}")
    print(f"throughput ratio, {sessions[0]} visitors / GET /healthz: {rows[0][1] / rows[-1][1]:.2f}")
    print(
        f"per turn (counted in-process, 200 turns): {statements:.1f} database statements in {transactions:.1f} "
        f"transactions, {hops:.1f} thread hops"
    )


if __name__ == "__main__":
    main()

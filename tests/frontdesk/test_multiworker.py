"""Several service workers: two `uvicorn` processes on one PostgreSQL database and the machine's Redis. A visitor's
web chat is held by worker A; a support agent signs in on worker B, accepts the conversation and replies; the
reply reaches the visitor's window on A (through the Redis relay: B's outbox delivers it, A holds the socket)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.network import free_port
from websockets.sync.client import ClientConnection, connect

from frontdesk import db
from frontdesk.console.accounts import AccountStore
from frontdesk.console.admin import create_agent
from routing import AgentStatus, ChannelKind, HumanAgent, Router

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
REPLY = "Hello, this is Ana from the support team: I can see your order."


def _worker(port: int, data_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "--factory", "frontdesk.app:create_app", "--host", "127.0.0.1"]
    log = (data_dir / "worker.log").open("wb")
    return subprocess.Popen(
        [*command, "--port", str(port)],
        env={**env, "FRONTDESK_DATA_DIR": str(data_dir)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"worker {base} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"worker {base} did not start within {seconds:.0f} s:\n{log.read_text()[-3000:]}")


def _frames_until(socket: ClientConnection, wanted: str, seconds: float = 20.0) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            frame = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            break
        frames.append(frame)
        if frame.get("type") == wanted:
            return frames
    pytest.fail(f"no {wanted!r} frame within {seconds:.0f} s; got {frames}")


def test_a_console_reply_on_one_worker_reaches_a_web_chat_held_by_another(
    scratch_postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    database = scratch_postgres_url
    engine = db.create_engine(database)
    db.upgrade(engine)
    agent = HumanAgent(
        id="ana",
        name="Ana Lopez",
        email="ana@example.com",
        languages=("en",),
        capacity={ChannelKind.CHAT: 3},
        status=AgentStatus.ONLINE,
    )
    create_agent(Router(engine), AccountStore(engine), agent, PASSWORD)
    engine.dispose()
    env = {
        **os.environ,
        "FRONTDESK_DATABASE_URL": database,
        "FRONTDESK_REDIS_URL": redis_url,
        "FRONTDESK_DEMO_KB": "false",
        "FRONTDESK_WEBCHAT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "FRONTDESK_LOG_LEVEL": "info",
        "FRONTDESK_RATE_LIMIT_SESSIONS": "1000/minute",  # counted in the shared Redis, with other tests' sessions
    }
    ports = free_port(), free_port()
    folders = tmp_path / "a", tmp_path / "b"
    workers = []
    for port, folder in zip(ports, folders, strict=True):
        folder.mkdir()
        workers.append(_worker(port, folder, env))
    a, b = (f"http://127.0.0.1:{port}" for port in ports)
    try:
        for base, process, folder in zip((a, b), workers, folders, strict=True):
            _wait_ready(base, process, folder / "worker.log")

        # The visitor chats on worker A and asks for a person.
        session = httpx.post(f"{a}/v1/webchat/sessions", timeout=10).json()
        with connect(f"ws://127.0.0.1:{ports[0]}/v1/webchat/ws", open_timeout=10) as visitor:
            visitor.send(json.dumps({"type": "auth", "token": session["token"]}))
            assert json.loads(visitor.recv(timeout=10))["type"] == "hello"
            visitor.send(json.dumps({"type": "human"}))
            _frames_until(visitor, "status")

            # The agent works on worker B.
            with httpx.Client(base_url=b, timeout=10) as console:
                me = console.post(
                    "/v1/console/session",
                    json={"login": "ana", "password": PASSWORD},
                    headers={"X-Requested-With": "frontdesk-console"},
                )
                assert me.status_code == 200, me.text
                csrf = {"X-CSRF-Token": me.json()["csrf_token"]}
                offers: list[dict[str, Any]] = []
                deadline = time.monotonic() + 15
                while not offers and time.monotonic() < deadline:
                    offers = console.get("/v1/console/offers").json()
                    time.sleep(0.2)
                assert offers, "the escalation made on worker A was offered to the agent on worker B"
                accepted = console.post(f"/v1/console/offers/{offers[0]['id']}/accept", headers=csrf)
                assert accepted.status_code == 200, accepted.text
                conversation_id = session["conversation_id"]
                sent = console.post(
                    f"/v1/console/conversations/{conversation_id}/replies", json={"text": REPLY}, headers=csrf
                )
                assert sent.status_code == 201, sent.text

            frames = _frames_until(visitor, "human_message")
        assert frames[-1]["text"] == REPLY
        assert any(f.get("type") == "notice" and "Ana" in f.get("text", "") for f in frames), frames
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(child) for child in children)
    return found


def test_serve_with_two_workers_answers_visitors(scratch_postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    """`frontdesk serve --workers 2`: one port, two processes, the demo help centre ingested once, answers."""
    chroma_port, port = free_port(), free_port()
    bin_dir = Path(sys.executable).parent
    chroma = subprocess.Popen(
        [
            str(bin_dir / "chroma"),
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(chroma_port),
            "--path",
            str(tmp_path / "c"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")},
        "FRONTDESK_DATA_DIR": str(tmp_path / "data"),
        "FRONTDESK_DATABASE_URL": scratch_postgres_url,
        "FRONTDESK_REDIS_URL": redis_url,
        "FRONTDESK_CHROMA_HOST": "127.0.0.1",
        "FRONTDESK_CHROMA_PORT": str(chroma_port),
        "FRONTDESK_CHROMA_COLLECTION": f"workers_{uuid.uuid4().hex[:8]}",
        "FRONTDESK_WEBCHAT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        # the limits count in the shared Redis, where earlier tests from 127.0.0.1 have counted too
        "FRONTDESK_RATE_LIMIT_SESSIONS": "1000/minute",
        "FRONTDESK_RATE_LIMIT_MESSAGES_PER_ADDRESS": "1000/minute",
    }
    log_path = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # the Chroma server listens
            try:
                httpx.get(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", timeout=1)
                break
            except httpx.HTTPError:
                assert chroma.poll() is None and time.monotonic() < deadline, "chroma run did not start"
                time.sleep(0.3)
        with log_path.open("wb") as log:
            serve = subprocess.Popen(
                [str(bin_dir / "frontdesk"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_ready(base, serve, log_path, seconds=180)
            deadline = time.monotonic() + 60
            while len(_children(serve.pid)) < 2:  # uvicorn starts its workers one after the other
                assert time.monotonic() < deadline, f"not two workers: {_children(serve.pid)}"
                time.sleep(0.3)
            for _ in range(4):  # new connections each time: both workers take some
                started = httpx.post(f"{base}/v1/webchat/sessions", timeout=30)
                assert started.status_code == 201, started.text
                session = started.json()
                answer = httpx.post(
                    f"{base}/v1/webchat/messages",
                    json={"text": "Where is your Lakeview store?"},
                    headers={"Authorization": f"Bearer {session['token']}"},
                    timeout=60,
                )
                assert answer.status_code == 200, answer.text
                assert "Lakeview" in answer.json()["reply"]["text"]
        finally:
            serve.terminate()
            serve.wait(timeout=60)
        assert "Ingested the demo knowledge base" in log_path.read_text(), "ingested once, by the parent"
        assert log_path.read_text().count("Ingested the demo knowledge base") == 1
    finally:
        chroma.terminate()
        chroma.wait(timeout=30)

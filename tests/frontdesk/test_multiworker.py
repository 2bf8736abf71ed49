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

"""Nothing acknowledged is lost: the service is killed (SIGKILL) after acknowledging a WhatsApp message, once
while the model is writing the answer and once while the reply is being handed to Twilio; after a restart the
customer gets exactly one reply each time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fakes.gemini import FakeGemini, FakeReply
from fakes.network import free_port, wait_for
from fakes.twilio import FakeTwilio

pytestmark = pytest.mark.slow

WHATSAPP = "whatsapp:+15559990000"
FRONTDESK = Path(sys.executable).with_name("frontdesk")


class Service:
    """`frontdesk serve` in its own process."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [str(FRONTDESK), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"the service exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the service to be ready", ready, timeout=300)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def servers() -> Iterator[tuple[FakeTwilio, FakeGemini]]:
    with FakeTwilio() as twilio, FakeGemini() as gemini:
        yield twilio, gemini


def test_a_reply_is_sent_once_after_the_service_is_killed(
    tmp_path: Path, servers: tuple[FakeTwilio, FakeGemini]
) -> None:
    twilio, gemini = servers
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")},
        "FRONTDESK_DATA_DIR": str(tmp_path / "data"),
        "FRONTDESK_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "FRONTDESK_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "FRONTDESK_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "FRONTDESK_TWILIO_WHATSAPP_FROM": WHATSAPP,
        "FRONTDESK_TWILIO_API_BASE_URL": twilio.base_url,
        "FRONTDESK_TWILIO_TIMEOUT": "60",
        "FRONTDESK_GEMINI_API_KEY": "test-key",
        "FRONTDESK_GEMINI_BASE_URL": gemini.base_url,
        "FRONTDESK_GEMINI_TIMEOUT": "60",
        "FRONTDESK_GEMINI_MAX_RETRIES": "0",
        "FRONTDESK_REPLY_LEASE_SECONDS": "2",
        "FRONTDESK_OUTBOX_RETRY_SECONDS": "0.5",
        "FRONTDESK_LOG_LEVEL": "warning",
    }
    service = Service(env, port, tmp_path / "service.log")
    answer = "Our Lakeview store is at 48 Harbour Road [1]."
    try:
        # 1. Killed while the model writes the answer: the message was acknowledged, no answer stored yet.
        gemini.default = FakeReply(text=answer, delay=120)
        service.start()
        first = "whatsapp:+15550001111"
        params = twilio.incoming_message(first, WHATSAPP, "Where is your Lakeview store?")
        acknowledged = twilio.post_webhook(f"{service.url}/twilio/messages", params)
        assert acknowledged.status_code == 200
        wait_for("the model call", lambda: gemini.requests, timeout=60)
        service.kill()
        assert [m for m in twilio.sent if m.to == first] == []

        gemini.default = FakeReply(text=answer)
        # 2. Restarted, it answers; killed again while Twilio has taken the reply but not yet said so.
        twilio.answer_delay = 120
        service.start()
        wait_for("the reply to reach Twilio", lambda: [m for m in twilio.sent if m.to == first], timeout=120)
        service.kill()
        twilio.answer_delay = 0
        service.start()
        sent = wait_for("the reply delivered", lambda: [m for m in twilio.sent if m.to == first], timeout=120)
        time.sleep(3)  # longer than a lease: a second copy would have gone by now
        sent = [m for m in twilio.sent if m.to == first]
        assert len(sent) == 1, f"expected one reply, got {[m.body for m in sent]}"
        assert "Lakeview" in sent[0].body
    finally:
        service.stop()

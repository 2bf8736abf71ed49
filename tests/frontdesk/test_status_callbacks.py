"""Twilio status callbacks through two service workers on one PostgreSQL database: a `failed` (window closed)
callback that Twilio retries, that reaches both workers at once, or that someone replays from a capture, adds
one note to the conversation and sends at most one WhatsApp template; a late `delivered` changes nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakes.network import wait_for
from fakes.twilio import FakeTwilio, WebResponse
from fastapi.testclient import TestClient

from frontdesk.app import create_app
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings
from knowledge.embeddings import SentenceTransformerEmbedder

PUBLIC = "https://support.example.test"
WHATSAPP = "whatsapp:+15559990000"
TEMPLATE = "HX" + "7" * 32
STATUS_PATH = "/twilio/messages/status"

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Captured:
    """A status callback as it travelled: what anyone who saw it on the wire could send again."""

    params: Mapping[str, str]
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Held:
    """The answer the capture gives the fake for a callback it kept (a `WebResponse`)."""

    status_code: int = 202
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return None


class Capture:
    """Stands where the fake posts its callbacks and keeps them instead of sending them (a `WebClient`)."""

    def __init__(self) -> None:
        self.callbacks: list[Captured] = []

    def post(self, url: str, *, data: Mapping[str, str], headers: Mapping[str, str]) -> WebResponse:
        assert url == PUBLIC + STATUS_PATH
        self.callbacks.append(Captured(dict(data), dict(headers)))
        return Held()


@pytest.fixture
def workers(
    scratch_postgres_url: str, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> Iterator[tuple[FakeTwilio, list[TestClient]]]:
    with FakeTwilio() as twilio, ExitStack() as stack:
        clients = []
        for name in ("a", "b"):
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                data_dir=tmp_path / name,
                database_url=scratch_postgres_url,
                public_base_url=PUBLIC,
                twilio_account_sid=twilio.account_sid,
                twilio_auth_token=twilio.auth_token,
                twilio_whatsapp_from=WHATSAPP,
                twilio_whatsapp_template_sid=TEMPLATE,
                twilio_api_base_url=twilio.base_url,
            )
            clients.append(stack.enter_context(TestClient(create_app(settings, embedder=embedder))))
        twilio.add_template(TEMPLATE, "We have an answer for you: reply to this message to read it.")
        yield twilio, clients


def _runtime(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def _post_all_at_once(clients: list[TestClient], callback: Captured, copies: int) -> list[Any]:
    barrier = threading.Barrier(copies)
    responses: list[Any] = []

    def post(client: TestClient) -> None:
        barrier.wait()
        responses.append(client.post(STATUS_PATH, data=dict(callback.params), headers=dict(callback.headers)))

    threads = [threading.Thread(target=post, args=(clients[i % len(clients)],)) for i in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(responses) == copies
    return responses


def test_a_failed_callback_reaching_two_workers_and_replayed_adds_one_note_and_one_template(
    workers: tuple[FakeTwilio, list[TestClient]],
) -> None:
    twilio, clients = workers
    customer = "whatsapp:+15550007777"
    params = twilio.incoming_message(customer, WHATSAPP, "Where is your Lakeview store?")
    assert twilio.post_webhook(PUBLIC + "/twilio/messages", params, send_to="/twilio/messages", client=clients[0])
    [reply] = wait_for("the WhatsApp reply", lambda: [m for m in twilio.sent if m.to == customer])
    runtime = _runtime(clients[0])
    [entry] = wait_for("the sent reply", lambda: [e for e in runtime.outbox.entries() if e.status == "sent"])

    capture = Capture()
    twilio.callback_client = capture
    twilio.set_status(reply.sid, "failed", error_code=63016)  # the window closed before WhatsApp delivered it
    twilio.set_status(reply.sid, "delivered")  # ...and a late, contradictory callback
    twilio.flush_callbacks()
    failed, late = capture.callbacks
    assert failed.params["MessageStatus"] == "failed" and late.params["MessageStatus"] == "delivered"

    responses = _post_all_at_once(clients, failed, copies=6)
    assert [r.status_code for r in responses] == [204] * 6
    replayed = clients[1].post(STATUS_PATH, data=dict(failed.params), headers=dict(failed.headers))
    assert replayed.status_code == 204
    assert clients[0].post(STATUS_PATH, data=dict(late.params), headers=dict(late.headers)).status_code == 204

    templates = wait_for("the template", lambda: [m for m in twilio.sent if m.content_sid == TEMPLATE])
    notes = [m.text for m in runtime.inbox.store.messages(entry.conversation_id) if m.role == "system"]
    assert notes == ["A reply was not delivered on whatsapp (failed, error 63016)."]
    assert len(templates) == 1 and templates[0].to == customer
    statuses = {s["provider_message_id"]: s["status"] for s in runtime.outbox.statuses(entry.conversation_id)}
    assert statuses[reply.sid] == "failed", "the late 'delivered' does not move the status backwards"
    [after] = runtime.outbox.entries(conversation_id=entry.conversation_id)
    assert after.provider_ids == [templates[0].sid]

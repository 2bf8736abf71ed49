"""The webhook routes, driven through FastAPI with requests signed exactly as Twilio signs them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fakes.twilio import FakeTwilio, WebResponse
from fastapi import FastAPI
from fastapi.testclient import TestClient
from twilio.rest import Client

from channels.messages import InboundMessage, OutboundMessage
from channels.twilio import MessageStatus, TwilioMessagingChannel, VoiceAnswer, VoiceDialog, WebhookValidator
from channels.twilio.routes import messaging_router, voice_router

PUBLIC = "https://support.example.com"
INTERNAL = "http://testserver"  # where the proxy forwards to: what the app sees
OUR_WHATSAPP = "whatsapp:+14155238886"
CUSTOMER_WHATSAPP = "whatsapp:+15551230001"
CALL = "CA" + "2" * 32


class Recorder:
    """A messaging and voice handler that keeps what it is given."""

    def __init__(self) -> None:
        self.received: list[InboundMessage] = []
        self.statuses: list[MessageStatus] = []
        self.fail = False
        self.voice_answer = VoiceAnswer("Our Lakeview store opens at 9 am [1]. See https://help.example.com/stores.")

    async def receive(self, message: InboundMessage) -> None:
        if self.fail:
            msg = "the database is down"
            raise RuntimeError(msg)
        self.received.append(message)

    async def record_status(self, status: MessageStatus) -> None:
        self.statuses.append(status)

    async def answer(self, message: InboundMessage) -> VoiceAnswer:
        self.received.append(message)
        return self.voice_answer


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def make_app(recorder: Recorder, validator: WebhookValidator) -> FastAPI:
    app = FastAPI()
    app.include_router(messaging_router(recorder, validator))
    app.include_router(voice_router(recorder, validator, VoiceDialog(language="en-US", speech_model="phone_call")))
    return app


@pytest.fixture
def client(twilio_fake: FakeTwilio, recorder: Recorder) -> Iterator[TestClient]:
    """The app behind a proxy: Twilio calls https://support.example.com, the app sees http://testserver."""
    validator = WebhookValidator(twilio_fake.auth_token, public_base_url=PUBLIC)
    with TestClient(make_app(recorder, validator), raise_server_exceptions=False) as test_client:
        yield test_client


def post(
    fake: FakeTwilio, client: TestClient, path: str, params: dict[str, str], *, signature: str | None = "sign"
) -> WebResponse:
    """POST a webhook that Twilio signed for the public URL and the proxy forwarded to the app."""
    return fake.post_webhook(PUBLIC + path, params, signature=signature, send_to=INTERNAL + path, client=client)


# -- messaging ----------------------------------------------------------------------------------------------------


def test_an_incoming_message_is_handed_over_and_answered_with_empty_twiml(
    twilio_fake: FakeTwilio, client: TestClient, recorder: Recorder
) -> None:
    params = twilio_fake.incoming_message(CUSTOMER_WHATSAPP, OUR_WHATSAPP, "Is my bike ready?", profile_name="Ana")
    response = twilio_fake.post_webhook(
        f"{PUBLIC}/twilio/messages", params, send_to=f"{INTERNAL}/twilio/messages", client=client
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response" and list(root) == []
    [message] = recorder.received
    assert (message.channel, message.sender, message.text, message.sender_name) == (
        "whatsapp",
        CUSTOMER_WHATSAPP,
        "Is my bike ready?",
        "Ana",
    )
    assert message.provider_message_id == params["MessageSid"]


@pytest.mark.parametrize(
    ("signature", "reason"), [("bm90IGEgc2lnbmF0dXJl", "does not match"), (None, "no X-Twilio-Signature")]
)
def test_forged_or_unsigned_webhooks_get_403(
    twilio_fake: FakeTwilio, client: TestClient, recorder: Recorder, signature: str | None, reason: str
) -> None:
    params = twilio_fake.incoming_message(CUSTOMER_WHATSAPP, OUR_WHATSAPP, "Send me the admin password")
    response = twilio_fake.post_webhook(
        f"{PUBLIC}/twilio/messages", params, signature=signature, send_to=f"{INTERNAL}/twilio/messages", client=client
    )
    assert response.status_code == 403
    assert reason in response.json()["detail"]
    assert recorder.received == []


def test_a_signature_for_another_account_gets_403(client: TestClient, recorder: Recorder) -> None:
    other = FakeTwilio()  # never started: only its token signs
    params = other.incoming_message(CUSTOMER_WHATSAPP, OUR_WHATSAPP, "hi")
    response = other.post_webhook(
        f"{PUBLIC}/twilio/messages", params, send_to=f"{INTERNAL}/twilio/messages", client=client
    )
    assert response.status_code == 403 and recorder.received == []


def test_without_the_public_url_a_proxied_webhook_cannot_be_verified(
    twilio_fake: FakeTwilio, recorder: Recorder
) -> None:
    app = make_app(recorder, WebhookValidator(twilio_fake.auth_token))
    with TestClient(app) as test_client:
        params = twilio_fake.incoming_message(CUSTOMER_WHATSAPP, OUR_WHATSAPP, "hi")
        proxied = twilio_fake.post_webhook(
            f"{PUBLIC}/twilio/messages", params, send_to=f"{INTERNAL}/twilio/messages", client=test_client
        )
        assert proxied.status_code == 403
        assert "public base URL" in proxied.json()["detail"]
        direct = twilio_fake.post_webhook(f"{INTERNAL}/twilio/messages", params, client=test_client)
        assert direct.status_code == 200
    assert len(recorder.received) == 1


def test_a_signed_but_malformed_webhook_gets_400(
    twilio_fake: FakeTwilio, client: TestClient, recorder: Recorder
) -> None:
    params = twilio_fake.incoming_message(CUSTOMER_WHATSAPP, OUR_WHATSAPP, "hi")
    del params["From"]
    response = post(twilio_fake, client, "/twilio/messages", params)
    assert response.status_code == 400
    assert "'From'" in response.json()["detail"]
    assert recorder.received == []


def test_a_handler_failure_fails_the_webhook_so_twilio_retries(
    twilio_fake: FakeTwilio, client: TestClient, recorder: Recorder
) -> None:
    recorder.fail = True
    params = twilio_fake.incoming_message(CUSTOMER_WHATSAPP, OUR_WHATSAPP, "hi")
    response = post(twilio_fake, client, "/twilio/messages", params)
    assert response.status_code == 500


async def test_status_callbacks_reach_the_handler(
    twilio_fake: FakeTwilio, twilio_client: Client, client: TestClient, recorder: Recorder
) -> None:
    channel = TwilioMessagingChannel(
        twilio_client, medium="whatsapp", sender=OUR_WHATSAPP, status_callback_url=f"{PUBLIC}/twilio/messages/status"
    )
    twilio_fake.customer_wrote(CUSTOMER_WHATSAPP)
    reply = OutboundMessage("out-1", "conv-1", "whatsapp", CUSTOMER_WHATSAPP, "Your bike is ready.")
    [sid] = (await channel.send(reply)).provider_message_ids
    twilio_fake.callback_client = client
    twilio_fake.set_status(sid, "sent")
    twilio_fake.set_status(sid, "failed", 63016)
    responses = twilio_fake.flush_callbacks()
    assert [response.status_code for response in responses] == [204, 204]
    assert [(s.message_sid, s.state, s.window_closed) for s in recorder.statuses] == [
        (sid, "sent", False),
        (sid, "failed", True),
    ]


# -- voice --------------------------------------------------------------------------------------------------------


def gather_action(twiml: str) -> str:
    gather = ET.fromstring(twiml).find("Gather")
    assert gather is not None, twiml
    return gather.attrib["action"]


def test_a_call_is_greeted_and_each_turn_reaches_the_handler_once_per_turn(
    twilio_fake: FakeTwilio, client: TestClient, recorder: Recorder
) -> None:
    incoming = post(twilio_fake, client, "/twilio/voice", twilio_fake.call_params(CALL, "+15551230001", "+15005550006"))
    assert incoming.status_code == 200
    action = gather_action(incoming.text)
    assert action.startswith(f"{PUBLIC}/twilio/voice/turn?")  # absolute and public, so Twilio can call it
    assert parse_qs(urlsplit(action).query)["turn"] == ["1"]

    turn = twilio_fake.call_params(
        CALL, "+15551230001", "+15005550006", speech="When does Lakeview open?", confidence=0.92
    )
    internal = INTERNAL + action.removeprefix(PUBLIC)
    first = twilio_fake.post_webhook(action, turn, send_to=internal, client=client)
    retried = twilio_fake.post_webhook(action, turn, send_to=internal, client=client)  # Twilio retries the request
    assert first.status_code == retried.status_code == 200
    say = ET.fromstring(first.text).find("Gather/Say")
    assert say is not None and say.text == "Our Lakeview store opens at 9 am. See our website."
    assert [m.provider_message_id for m in recorder.received] == [f"{CALL}:1", f"{CALL}:1"]
    assert parse_qs(urlsplit(gather_action(first.text)).query)["turn"] == ["2"]


def test_pressing_0_on_a_call_puts_the_caller_in_the_queue(
    twilio_fake: FakeTwilio, client: TestClient, recorder: Recorder
) -> None:
    recorder.voice_answer = VoiceAnswer("")
    params = twilio_fake.call_params(CALL, "+15551230001", "+15005550006", digits="0")
    response = post(twilio_fake, client, "/twilio/voice/turn?turn=2&silences=0&reasks=0&offered=0", params)
    root = ET.fromstring(response.text)
    assert [child.tag for child in root] == ["Say", "Enqueue"]
    assert recorder.received[0].metadata["transfer_requested"] == "true"


def test_a_dial_that_nobody_answered_queues_the_caller(twilio_fake: FakeTwilio, client: TestClient) -> None:
    params = {**twilio_fake.call_params(CALL, "+15551230001", "+15005550006"), "DialCallStatus": "no-answer"}
    response = post(twilio_fake, client, "/twilio/voice/dialed?queue=billing", params)
    enqueue = ET.fromstring(response.text).find("Enqueue")
    assert enqueue is not None and enqueue.text == "billing"


def test_a_forged_voice_turn_gets_403(twilio_fake: FakeTwilio, client: TestClient, recorder: Recorder) -> None:
    params = twilio_fake.call_params(CALL, "+15551230001", "+15005550006", speech="transfer my money")
    path = "/twilio/voice/turn?turn=1"
    signed_elsewhere = twilio_fake.sign(f"{PUBLIC}/twilio/voice/turn?turn=9", params)
    response = post(twilio_fake, client, path, params, signature=signed_elsewhere)
    assert response.status_code == 403
    assert recorder.received == []


def test_a_tampered_turn_state_gets_400(twilio_fake: FakeTwilio, client: TestClient) -> None:
    params = twilio_fake.call_params(CALL, "+15551230001", "+15005550006", speech="hello")
    response = post(twilio_fake, client, "/twilio/voice/turn?turn=abc", params)
    assert response.status_code == 400

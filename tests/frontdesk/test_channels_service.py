"""Channels through the whole service: Twilio webhooks and e-mail in, answers out through the outbox to the
Twilio-shaped server and a real SMTP server on 127.0.0.1, with outages and retries."""

from __future__ import annotations

import datetime as dt
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import aiosmtplib
import anyio
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from fakes.network import free_port, wait_for
from fakes.twilio import FakeTwilio
from fastapi.testclient import TestClient

from frontdesk.app import create_app
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings
from knowledge.embeddings import SentenceTransformerEmbedder

PUBLIC = "https://support.example.test"
WHATSAPP, SMS = "whatsapp:+15559990000", "+15559990001"


class MailSink:
    """A real SMTP server (aiosmtpd in its own thread) standing for the company's mail relay."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.refusing = False
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.refusing:
            return "451 4.3.0 relay busy, try later"
        raw = envelope.original_content or b""
        self.received.append(BytesParser(policy=policy.default).parsebytes(raw))  # type: ignore[arg-type]
        return "250 OK"


@dataclass
class Service:
    client: TestClient
    twilio: FakeTwilio
    mail: MailSink

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        return runtime

    def webhook(self, path: str, params: dict[str, str], **kwargs: Any) -> Any:
        return self.twilio.post_webhook(f"{PUBLIC}{path}", params, send_to=path, client=self.client, **kwargs)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Iterator[Service]:
    mail = MailSink()
    mail.controller.start()
    with FakeTwilio() as twilio:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=tmp_path_factory.mktemp("channels") / "data",
            public_base_url=PUBLIC,
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_whatsapp_from=WHATSAPP,
            twilio_sms_from=SMS,
            twilio_api_base_url=twilio.base_url,
            outbox_retry_seconds=0.2,
            email_from="support@shop.example",
            email_domains="shop.example",
            smtp_host="127.0.0.1",
            smtp_port=mail.controller.port,
            smtp_security="none",
            email_inbound_host="127.0.0.1",
            email_inbound_port=0,
        )
        with TestClient(create_app(settings, embedder=embedder)) as client:
            twilio.callback_client = client
            yield Service(client, twilio, mail)
    mail.controller.stop()


def _sent_to(service: Service, customer: str) -> list[Any]:
    return [m for m in service.twilio.sent if m.to == customer]


def test_a_whatsapp_message_is_acknowledged_then_answered_through_the_api(service: Service) -> None:
    customer = "whatsapp:+15550001111"
    params = service.twilio.incoming_message(customer, WHATSAPP, "Where is your Lakeview store?")
    response = service.webhook("/twilio/messages", params)
    assert response.status_code == 200 and ET.fromstring(response.text).tag == "Response"
    assert len(ET.fromstring(response.text)) == 0, "the webhook answers empty TwiML; the reply goes by the API"
    [reply] = wait_for("the WhatsApp reply", lambda: _sent_to(service, customer))
    assert reply.from_ == WHATSAPP and "Lakeview" in reply.body
    assert "*Sources:*" in reply.body, "WhatsApp gets its citations listed under the answer"
    again = service.webhook("/twilio/messages", params)  # Twilio retries the same MessageSid
    assert again.status_code == 200
    time.sleep(0.5)
    assert len(_sent_to(service, customer)) == 1, "a retried webhook is not answered twice"

    forged = service.webhook("/twilio/messages", params, signature="bm9wZQ==")
    assert forged.status_code == 403

    service.twilio.set_status(reply.sid, "delivered")
    service.twilio.flush_callbacks()
    conversation = service.runtime.outbox.entries()[0].conversation_id
    statuses = wait_for(
        "the delivered status",
        lambda: [s for s in service.runtime.outbox.statuses(conversation) if s["status"] == "delivered"],
    )
    assert statuses[0]["provider_message_id"] == reply.sid


def test_an_sms_reply_survives_a_provider_outage(service: Service) -> None:
    customer = "+15550002222"
    service.twilio.go_down("503")
    params = service.twilio.incoming_message(customer, SMS, "How do I pause my subscription?")
    assert service.webhook("/twilio/messages", params).status_code == 200
    outbox = service.runtime.outbox
    wait_for(
        "a failed first attempt",
        lambda: [e for e in outbox.entries() if e.message.recipient == customer and e.attempts >= 2],
    )
    assert _sent_to(service, customer) == []
    service.twilio.come_back()
    [reply] = wait_for("the SMS after the outage", lambda: _sent_to(service, customer))
    assert "pause" in reply.body.lower() and "*" not in reply.body, "SMS gets plain text"
    assert "\nSources:" in reply.body
    time.sleep(0.5)
    assert len(_sent_to(service, customer)) == 1
    [entry] = [e for e in outbox.entries() if e.message.recipient == customer]
    assert entry.status == "sent"


def test_a_closed_whatsapp_window_is_shown_to_a_person(service: Service) -> None:
    customer = "whatsapp:+15550003333"
    params = service.twilio.incoming_message(customer, WHATSAPP, "Where is your Lakeview store?")
    service.twilio.customer_wrote(customer, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    assert service.webhook("/twilio/messages", params).status_code == 200
    outbox = service.runtime.outbox
    [entry] = wait_for(
        "the refused reply",
        lambda: [e for e in outbox.entries(status="failed") if e.message.recipient == customer],
    )
    assert "24-hour" in (entry.last_error or "") or "63016" in (entry.last_error or "")
    notes = [m for m in service.runtime.inbox.store.messages(entry.conversation_id) if m.role == "system"]
    assert notes and "could not be delivered" in notes[0].text


def test_a_call_is_answered_by_voice(service: Service) -> None:
    call = "CA" + "1" * 32
    incoming = service.webhook("/twilio/voice", service.twilio.call_params(call, "+15550004444", SMS))
    gather = ET.fromstring(incoming.text).find("Gather")
    assert gather is not None and gather.get("speechModel") == "phone_call" and gather.get("language") == "en-US"
    action = gather.get("action") or ""
    turn = service.twilio.call_params(call, "+15550004444", SMS, speech="Where is your Lakeview store?")
    answer = service.twilio.post_webhook(action, turn, send_to=action.removeprefix(PUBLIC), client=service.client)
    say = ET.fromstring(answer.text).find("Gather/Say")
    assert say is not None and "Lakeview" in (say.text or "") and "http" not in (say.text or "")


def _mail(subject: str, body: str, *, sender: str, to: str, msgid: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"], message["Message-ID"] = sender, to, subject, msgid
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def test_an_email_is_answered_in_its_thread_and_a_reply_finds_the_conversation(service: Service) -> None:
    listener = service.client.app.state.smtp_listener  # type: ignore[attr-defined]
    first = _mail(
        "Store question",
        "Hello,\n\nWhere is your Lakeview store?\n\nThanks, Ana",
        sender="Ana <ana@customer.test>",
        to="support@shop.example",
        msgid="<q1@customer.test>",
    )
    anyio.run(lambda: aiosmtplib.send(first, hostname="127.0.0.1", port=listener.port))
    [answer] = wait_for("the e-mail answer", lambda: list(service.mail.received))
    assert answer["To"] == "ana@customer.test" and answer["In-Reply-To"] == "<q1@customer.test>"
    assert answer["Subject"] == "Re: Store question" and "+" in answer["Reply-To"]
    text = answer.get_body(preferencelist=("plain",))
    html = answer.get_body(preferencelist=("html",))
    assert text is not None and "Lakeview" in text.get_content()
    assert html is not None and "<a href=" in html.get_content(), "citations are links in the HTML part"
    # The customer's client drops every threading header and changes the subject; the reply address holds.
    follow = _mail(
        "one more thing",
        "And is there parking?",
        sender="ana@customer.test",
        to=answer["Reply-To"],
        msgid="<q2@customer.test>",
    )
    anyio.run(lambda: aiosmtplib.send(follow, hostname="127.0.0.1", port=listener.port))
    wait_for("the second answer", lambda: len(service.mail.received) >= 2)
    conversations = {e.conversation_id for e in service.runtime.outbox.entries() if e.channel == "email"}
    assert len(conversations) == 1
    [conversation] = conversations
    customer = [m for m in service.runtime.inbox.store.messages(conversation) if m.role == "customer"]
    assert len(customer) == 2


def test_raw_mail_over_http(service: Service, tmp_path: Path) -> None:
    raw = _mail(
        "Out of office",
        "I am away.",
        sender="bob@customer.test",
        to="support@shop.example",
        msgid="<ooo@x>",
        Auto_Submitted="auto-replied",
    ).as_bytes()
    mime = {"content-type": "message/rfc822"}
    assert service.client.post("/v1/email/inbound", content=raw, headers=mime).status_code == 401
    _, key = service.runtime.api_keys.create("mail-provider", ["email:inbound"])
    headers = {**mime, "Authorization": f"Bearer {key}"}
    response = service.client.post("/v1/email/inbound", content=raw, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] and not body["answered"] and "auto" in body["ignored"].lower()
    assert service.client.post("/v1/email/inbound", content=b"", headers=headers).status_code == 400
    assert service.client.post("/v1/email/inbound", content=b"not an e-mail at all", headers=headers).status_code == 422

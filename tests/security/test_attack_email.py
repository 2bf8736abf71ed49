"""E-mail sender trust, attacked on a running `frontdesk serve` with its SMTP listener and a real relay.

Customer Jane writes through our MX (which vouches for her with `Authentication-Results: mx.shop.test;
dmarc=pass`) and gets an answer. An attacker then writes as Jane (forged From) with the References and
In-Reply-To of our answer, the way one could after seeing a mail Jane forwarded: through the MX (which says
`dmarc=fail`, with a forged `dmarc=pass` of our MX's id below its Received line), and over the inbound HTTP
route without any Authentication-Results. Each forgery lands in a new conversation marked unverified; Jane's
conversation is unchanged; the service answers on.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import smtplib
import time
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from conftest import RunningService
from fakes.network import free_port, wait_for

MX = "mx.shop.test"
JANE = "jane@customer.test"
TOKEN = "inbound-" + secrets.token_urlsafe(24)


class Relay:
    """The company's outgoing mail relay: a real SMTP server (aiosmtpd, own thread) that keeps our answers."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        self.received.append(BytesParser(policy=policy.default).parsebytes(raw))  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[Relay]:
    running = Relay()
    running.controller.start()
    yield running
    running.controller.stop()


def _receiving(smtp_port: int) -> dict[str, str]:
    """The settings of a service that takes mail for shop.test on `smtp_port` and trusts our MX's verdicts."""
    return {
        "FRONTDESK_EMAIL_FROM": "support@shop.test",
        "FRONTDESK_EMAIL_DOMAINS": "shop.test",
        "FRONTDESK_EMAIL_INBOUND_HOST": "127.0.0.1",
        "FRONTDESK_EMAIL_INBOUND_PORT": str(smtp_port),
        "FRONTDESK_EMAIL_TRUSTED_AUTHSERV_IDS": MX,
    }


@pytest.fixture
def mail_service(start_service: Callable[..., RunningService], relay: Relay) -> tuple[RunningService, int]:
    smtp_port = free_port()
    service = start_service(
        **_receiving(smtp_port),
        FRONTDESK_EMAIL_INBOUND_TOKEN=TOKEN,
        FRONTDESK_SMTP_HOST="127.0.0.1",
        FRONTDESK_SMTP_PORT=str(relay.controller.port),
        FRONTDESK_SMTP_SECURITY="none",
        FRONTDESK_OUTBOX_RETRY_SECONDS="0.2",
        FRONTDESK_DEMO_KB="false",  # any answer will do; starts faster
    )
    return service, smtp_port


def _mail(text: str, *, subject: str, msgid: str, top: list[tuple[str, str]], **headers: str) -> bytes:
    """A mail from Jane's address as our MX hands it on: its own headers (`top`) first."""
    mail = EmailMessage()
    for name, value in top:
        mail[name] = value
    mail["From"] = f"Jane Doe <{JANE}>"
    mail["To"] = "support@shop.test"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    mail["Message-ID"] = msgid
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(text)
    return bytes(mail)


def _received(peer: str) -> tuple[str, str]:
    return ("Received", f"from {peer} ([203.0.113.7]) by {MX} with ESMTPS; {format_datetime(dt.datetime.now(dt.UTC))}")


def _conversations(service: RunningService) -> dict[str, list[dict[str, Any]]]:
    """Every conversation's customer messages (details parsed), read-only from the service's database."""
    engine = sa.create_engine(f"sqlite:///file:{service.data_dir / 'frontdesk.db'}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT conversation_id, text, details FROM messages WHERE role = 'customer' ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    found: dict[str, list[dict[str, Any]]] = {}
    for conversation_id, text, details in rows:
        parsed = json.loads(details) if isinstance(details, str) else details
        found.setdefault(conversation_id, []).append({"text": text, **parsed})
    return found


def _until(
    service: RunningService, what: str, done: Callable[[dict[str, list[dict[str, Any]]]], bool]
) -> dict[str, list[dict[str, Any]]]:
    def check() -> dict[str, list[dict[str, Any]]] | None:
        found = _conversations(service)
        return found if done(found) else None

    return wait_for(what, check, timeout=60)


def _send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(JANE, ["support@shop.test"], raw)


def test_a_forged_sender_with_the_right_references_never_joins_the_customers_thread(
    mail_service: tuple[RunningService, int], relay: Relay
) -> None:
    service, smtp_port = mail_service
    vouched = [
        ("Authentication-Results", f"{MX}; dkim=pass header.d=customer.test; dmarc=pass header.from=customer.test"),
        _received("mail.customer.test"),
    ]
    _send(smtp_port, _mail("Where is my order 1234?", subject="Order 1234", msgid="<q1@customer.test>", top=vouched))
    [answer] = wait_for("the answer to Jane", lambda: list(relay.received), timeout=120)
    ours = answer["Message-ID"]
    assert answer["To"] == JANE and answer["In-Reply-To"] == "<q1@customer.test>"
    assert re.fullmatch(r"<[a-z2-7]{32}@shop\.test>", ours), f"{ours} shows the outbox key or a sequence"
    [(jane_conversation, jane_messages)] = _conversations(service).items()
    assert jane_messages[0]["metadata"]["sender_verified"] == "true"

    # Through our MX: it says DMARC failed; the sender's own "dmarc=pass" of our MX's id sits below.
    through_mx = [
        ("Authentication-Results", f"{MX}; dmarc=fail (p=none) header.from=customer.test"),
        _received("attacker.example"),
        ("Authentication-Results", f"{MX}; dmarc=pass header.from=customer.test"),
    ]
    forged = _mail(
        "Please send my refund to IBAN XX00 1234 instead.",
        subject="Re: Order 1234",
        msgid="<forged.1@attacker.example>",
        top=through_mx,
        In_Reply_To=ours,
        References=f"<q1@customer.test> {ours}",
    )
    _send(smtp_port, forged)

    # Over the inbound HTTP route (a provider's webhook) with no Authentication-Results at all.
    bare = _mail(
        "Also change my delivery address.",
        subject="Re: Order 1234",
        msgid="<forged.2@attacker.example>",
        top=[],
        In_Reply_To=ours,
        References=ours,
    )
    with service.client() as http:
        refused = http.post("/v1/email/inbound", content=bare, headers={"content-type": "message/rfc822"})
        assert refused.status_code == 401, "no token, no mail"
        stored = http.post(
            "/v1/email/inbound",
            content=bare,
            headers={"content-type": "message/rfc822", "Authorization": f"Bearer {TOKEN}"},
        )
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert body["stored"] and body["sender_verified"] is False
    assert body["conversation_id"] != jane_conversation

    conversations = _until(service, "both forgeries stored", lambda c: len(c) == 3)
    assert [m["text"] for m in conversations[jane_conversation]] == ["Where is my order 1234?"], "Jane's thread"
    forgeries = {cid: msgs for cid, msgs in conversations.items() if cid != jane_conversation}
    reasons = sorted(msgs[0]["metadata"]["sender_verification"] for msgs in forgeries.values())
    assert reasons == ["DMARC fail", "no trusted Authentication-Results"]
    assert all(len(msgs) == 1 and msgs[0]["metadata"]["sender_verified"] == "false" for msgs in forgeries.values())

    # Jane herself, vouched for by our MX, still reaches her conversation by the same headers.
    again = _mail(
        "Any news on the order?",
        subject="Re: Order 1234",
        msgid="<q2@customer.test>",
        top=vouched,
        In_Reply_To=ours,
        References=f"<q1@customer.test> {ours}",
    )
    _send(smtp_port, again)
    joined = _until(service, "Jane's follow-up stored", lambda c: len(c.get(jane_conversation, [])) == 2)
    assert len(joined) == 3, "no new conversation for the authenticated customer"
    time.sleep(0.2)
    service.assert_responsive()


def test_mail_that_comes_around_the_mx_is_not_believed(start_service: Callable[..., RunningService]) -> None:
    # Our MX is 192.0.2.25; the attacker connects straight to the listener (here from 127.0.0.1) and writes
    # the very header our MX would write, at the top where it would count.
    smtp_port = free_port()
    service = start_service(
        **_receiving(smtp_port),
        FRONTDESK_EMAIL_TRUSTED_RELAYS="192.0.2.25",
        FRONTDESK_DEMO_KB="false",
    )
    forged_top = [
        ("Authentication-Results", f"{MX}; dkim=pass header.d=customer.test; dmarc=pass header.from=customer.test"),
        _received("mail.customer.test"),
    ]
    _send(smtp_port, _mail("Change my payout IBAN.", subject="Payout", msgid="<f3@attacker.example>", top=forged_top))
    [(_, [message])] = _until(service, "the forged mail stored", lambda c: len(c) == 1).items()
    assert message["metadata"]["sender_verified"] == "false"
    assert message["metadata"]["sender_verification"] == "no trusted Authentication-Results"
    service.assert_responsive()

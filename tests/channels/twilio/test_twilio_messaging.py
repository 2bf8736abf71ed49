"""WhatsApp and SMS: webhook parsing, and sending through the real twilio client against the fake server."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

import anyio
import pytest
from fakes.twilio import FakeTwilio
from twilio.rest import Client

from channels.base import Channel, DeliveryError
from channels.messages import Link, OutboundMessage, ThreadKey
from channels.twilio import (
    MalformedWebhookError,
    TwilioMessagingChannel,
    create_client,
    parse_inbound_message,
    parse_message_status,
)

OUR_WHATSAPP = "whatsapp:+14155238886"
OUR_SMS = "+15005550006"
CUSTOMER = "+15551230001"
CUSTOMER_WHATSAPP = f"whatsapp:{CUSTOMER}"
TEMPLATE_SID = "HX" + "a1" * 16
CALLBACK = "https://support.example.com/twilio/messages/status"


def reply(text: str, *, channel: str = "whatsapp", recipient: str = CUSTOMER_WHATSAPP, **kw: object) -> OutboundMessage:
    return OutboundMessage(
        message_id="out-" + hashlib.sha1(text.encode()).hexdigest()[:10],
        conversation_id="conv-1",
        channel=channel,
        recipient=recipient,
        text=text,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def whatsapp(twilio_client: Client) -> TwilioMessagingChannel:
    return TwilioMessagingChannel(twilio_client, medium="whatsapp", sender="+14155238886", status_callback_url=CALLBACK)


@pytest.fixture
def sms(twilio_client: Client) -> TwilioMessagingChannel:
    return TwilioMessagingChannel(twilio_client, medium="sms", sender=OUR_SMS)


# -- incoming webhooks --------------------------------------------------------------------------------------------


def test_an_incoming_whatsapp_message(twilio_fake: FakeTwilio) -> None:
    form = twilio_fake.incoming_message(CUSTOMER_WHATSAPP, OUR_WHATSAPP, "Where is my order?", profile_name="Ana")
    message = parse_inbound_message(form)
    assert message.channel == "whatsapp"
    assert (message.sender, message.recipient, message.text) == (CUSTOMER_WHATSAPP, OUR_WHATSAPP, "Where is my order?")
    assert message.provider_message_id == form["MessageSid"]
    assert message.sender_name == "Ana"
    assert message.metadata["wa_id"] == "15551230001"
    assert message.thread_keys == (ThreadKey(f"twilio:whatsapp:{CUSTOMER}:+14155238886", open_only=True),)


def test_an_sms_with_media_only_gets_a_text(twilio_fake: FakeTwilio) -> None:
    media = [("https://api.twilio.com/media/ME1", "image/jpeg"), ("https://api.twilio.com/media/ME2", "audio/ogg")]
    form = twilio_fake.incoming_message(CUSTOMER, OUR_SMS, "", media=media)
    message = parse_inbound_message(form)
    assert message.channel == "sms"
    assert message.text == "[image] [voice message]"
    assert [(a.url, a.content_type, a.size) for a in message.attachments] == [
        ("https://api.twilio.com/media/ME1", "image/jpeg", 0),
        ("https://api.twilio.com/media/ME2", "audio/ogg", 0),
    ]
    assert message.attachments[0].filename == f"{form['MessageSid']}-0.jpg"
    assert message.thread_keys[0].value == f"twilio:sms:{CUSTOMER}:{OUR_SMS}"


@pytest.mark.parametrize(
    ("change", "problem"),
    [({"From": ""}, "'From'"), ({"NumMedia": "two"}, "NumMedia"), ({"NumMedia": "1"}, "MediaUrl0")],
)
def test_a_malformed_incoming_message_is_refused(twilio_fake: FakeTwilio, change: dict[str, str], problem: str) -> None:
    form = {**twilio_fake.incoming_message(CUSTOMER, OUR_SMS, "hi"), **change}
    with pytest.raises(MalformedWebhookError, match=problem):
        parse_inbound_message(form)


def test_status_callbacks() -> None:
    delivered = parse_message_status({"MessageSid": "SM1", "MessageStatus": "delivered", "To": CUSTOMER_WHATSAPP})
    assert (delivered.state, delivered.channel, delivered.final, delivered.failed) == (
        "delivered",
        "whatsapp",
        True,
        False,
    )
    closed = parse_message_status(
        {"MessageSid": "SM2", "MessageStatus": "failed", "ErrorCode": "63016", "To": CUSTOMER_WHATSAPP}
    )
    assert closed.failed and closed.window_closed and closed.error_code == "63016"
    queued = parse_message_status({"MessageSid": "SM3", "SmsStatus": "queued", "To": CUSTOMER})
    assert (queued.state, queued.channel, queued.final) == ("queued", "sms", False)
    with pytest.raises(MalformedWebhookError, match="unknown MessageStatus 'lost'"):
        parse_message_status({"MessageSid": "SM4", "MessageStatus": "lost"})


# -- sending ------------------------------------------------------------------------------------------------------


def test_the_channels_implement_the_protocol(whatsapp: TwilioMessagingChannel, sms: TwilioMessagingChannel) -> None:
    assert isinstance(whatsapp, Channel) and isinstance(sms, Channel)
    assert (whatsapp.name, sms.name, whatsapp.sender) == ("whatsapp", "sms", OUR_WHATSAPP)


async def test_send_a_whatsapp_reply(twilio_fake: FakeTwilio, whatsapp: TwilioMessagingChannel) -> None:
    twilio_fake.customer_wrote(CUSTOMER_WHATSAPP)
    message = reply("**Refunds** take 5 days [1].", citations=(Link("Refunds", "https://help.example.com/r"),))
    delivery = await whatsapp.send(message)
    [sent] = twilio_fake.sent
    assert delivery.provider_message_ids == (sent.sid,)
    assert sent.sid.startswith("SM") and len(sent.sid) == 34
    assert (sent.to, sent.from_, sent.status_callback) == (CUSTOMER_WHATSAPP, OUR_WHATSAPP, CALLBACK)
    assert sent.body == "*Refunds* take 5 days [1].\n\n*Sources:*\n[1] Refunds: https://help.example.com/r"
    assert delivery.thread_keys == (ThreadKey(f"twilio:whatsapp:{CUSTOMER}:+14155238886", open_only=True),)
    request = twilio_fake.requests[-1]
    assert request.authorized and request.path.endswith(f"/Accounts/{twilio_fake.account_sid}/Messages.json")


async def test_a_bare_number_is_addressed_on_whatsapp(
    twilio_fake: FakeTwilio, whatsapp: TwilioMessagingChannel
) -> None:
    twilio_fake.customer_wrote(CUSTOMER_WHATSAPP)
    await whatsapp.send(reply("Hello", recipient=CUSTOMER))
    assert twilio_fake.sent[0].to == CUSTOMER_WHATSAPP


async def test_a_long_sms_goes_in_numbered_parts_in_order(twilio_fake: FakeTwilio, sms: TwilioMessagingChannel) -> None:
    text = "\n\n".join(f"Step {n}: " + "tighten the bolt a little more. " * 12 for n in range(1, 9))
    delivery = await sms.send(reply(f"**Setup**\n\n{text}", channel="sms", recipient=CUSTOMER))
    bodies = [message.body for message in twilio_fake.sent]
    assert len(bodies) == 2 and len(delivery.provider_message_ids) == 2
    assert all(len(body) <= 1600 for body in bodies)
    assert bodies[0].startswith("(1/2) Setup\n\nStep 1:") and bodies[1].startswith("(2/2) Step ")
    assert "**" not in "".join(bodies)
    assert delivery.provider_message_ids == tuple(message.sid for message in twilio_fake.sent)


async def test_whatsapp_window_closed_without_a_template(
    twilio_fake: FakeTwilio, whatsapp: TwilioMessagingChannel
) -> None:
    twilio_fake.customer_wrote(CUSTOMER_WHATSAPP, at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
    with pytest.raises(DeliveryError) as caught:
        await whatsapp.send(reply("Your bike is ready."))
    assert not caught.value.retryable
    assert caught.value.code == "63016"
    assert "24-hour" in caught.value.reason and "template" in caught.value.reason
    assert twilio_fake.sent == []


async def test_whatsapp_window_closed_sends_the_template(twilio_fake: FakeTwilio, twilio_client: Client) -> None:
    twilio_fake.add_template(TEMPLATE_SID, "Hi, we have an answer about {{1}}. Reply to read it.")
    channel = TwilioMessagingChannel(
        twilio_client,
        medium="whatsapp",
        sender=OUR_WHATSAPP,
        template_content_sid=TEMPLATE_SID,
        template_variables=lambda message: {"1": message.subject or "your question"},
    )
    delivery = await channel.send(reply("Your bike is ready.", subject="your repair"))
    [sent] = twilio_fake.sent
    assert sent.content_sid == TEMPLATE_SID
    assert json.loads(sent.content_variables or "") == {"1": "your repair"}
    assert sent.body == "Hi, we have an answer about your repair. Reply to read it."
    assert delivery.provider_message_ids == (sent.sid,)
    assert delivery.note is not None and TEMPLATE_SID in delivery.note and "window" in delivery.note


async def test_a_refused_template_is_a_lasting_failure(twilio_fake: FakeTwilio, twilio_client: Client) -> None:
    channel = TwilioMessagingChannel(
        twilio_client, medium="whatsapp", sender=OUR_WHATSAPP, template_content_sid=TEMPLATE_SID
    )  # the template was never approved: the fake does not know it
    with pytest.raises(DeliveryError) as caught:
        await channel.send(reply("Your bike is ready."))
    assert (caught.value.retryable, caught.value.code) == (False, "21655")
    assert TEMPLATE_SID in caught.value.reason


async def test_send_template_after_a_window_closed_status(twilio_fake: FakeTwilio, twilio_client: Client) -> None:
    twilio_fake.add_template(TEMPLATE_SID, "We have news about your request. Reply to continue.")
    channel = TwilioMessagingChannel(
        twilio_client, medium="whatsapp", sender=OUR_WHATSAPP, template_content_sid=TEMPLATE_SID
    )
    status = parse_message_status(
        {"MessageSid": "SM9", "MessageStatus": "undelivered", "ErrorCode": "63016", "To": CUSTOMER_WHATSAPP}
    )
    assert status.window_closed
    delivery = await channel.send_template(reply("Your bike is ready."))
    [sent] = twilio_fake.sent
    assert (sent.content_sid, sent.content_variables, sent.body) == (
        TEMPLATE_SID,
        None,
        "We have news about your request. Reply to continue.",
    )
    assert delivery.note is not None and "send the reply again" in delivery.note


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(429, 20429, True), (500, 20500, True), (503, 20503, True), (400, 21211, False), (400, 21610, False)],
)
async def test_provider_errors_say_whether_to_retry(
    twilio_fake: FakeTwilio, sms: TwilioMessagingChannel, status: int, code: int, retryable: bool
) -> None:
    twilio_fake.fail_next(status, code)
    with pytest.raises(DeliveryError) as caught:
        await sms.send(reply("Hello", channel="sms", recipient=CUSTOMER))
    assert caught.value.retryable is retryable
    assert caught.value.code == str(code)
    assert f"HTTP {status}" in caught.value.reason


async def test_wrong_credentials_are_not_retried(twilio_fake: FakeTwilio) -> None:
    client = create_client(twilio_fake.account_sid, "wrong-token", api_base_url=twilio_fake.base_url)
    channel = TwilioMessagingChannel(client, medium="sms", sender=OUR_SMS)
    with pytest.raises(DeliveryError) as caught:
        await channel.send(reply("Hello", channel="sms", recipient=CUSTOMER))
    assert (caught.value.retryable, caught.value.code) == (False, "20003")


@pytest.mark.parametrize("how", ["503", "refuse"])
async def test_provider_down_is_retryable_and_recovers(
    twilio_fake: FakeTwilio, sms: TwilioMessagingChannel, how: str
) -> None:
    twilio_fake.go_down(how)  # type: ignore[arg-type]
    try:
        with pytest.raises(DeliveryError) as caught:
            await sms.send(reply("Hello", channel="sms", recipient=CUSTOMER))
        assert caught.value.retryable
        assert caught.value.code == ("20503" if how == "503" else "network")
    finally:
        twilio_fake.come_back()
    delivery = await sms.send(reply("Hello", channel="sms", recipient=CUSTOMER))
    assert delivery.provider_message_ids == (twilio_fake.sent[-1].sid,)


async def test_a_reply_for_another_channel_is_refused(sms: TwilioMessagingChannel) -> None:
    with pytest.raises(DeliveryError, match="for channel 'whatsapp'") as caught:
        await sms.send(reply("Hello"))
    assert not caught.value.retryable


async def test_a_retry_after_a_half_sent_reply_sends_only_the_rest(
    twilio_fake: FakeTwilio, sms: TwilioMessagingChannel
) -> None:
    message = reply("\n\n".join(["A paragraph of help. " * 40] * 3), channel="sms", recipient=CUSTOMER)
    assert len(sms.render(message)) == 3
    twilio_fake.fail_next(500, 20500, after=1)
    with pytest.raises(DeliveryError, match="parts already sent") as caught:
        await sms.send(message)
    assert caught.value.retryable
    delivery = await sms.send(message)
    assert [m.body[:6] for m in twilio_fake.sent] == ["(1/3) ", "(2/3) ", "(3/3) "]
    assert delivery.provider_message_ids == tuple(m.sid for m in twilio_fake.sent)


# -- find_delivered -----------------------------------------------------------------------------------------------


async def test_find_delivered_recognises_a_sent_reply(twilio_fake: FakeTwilio, sms: TwilioMessagingChannel) -> None:
    since = dt.datetime.now(dt.UTC)
    message = reply("\n\n".join(["Long answer. " * 100] * 2), channel="sms", recipient=CUSTOMER)
    delivery = await sms.send(message)
    found = await sms.find_delivered(message, since)
    assert found is not None and found.provider_message_ids == delivery.provider_message_ids
    query = twilio_fake.requests[-1].query
    assert query["To"] == [CUSTOMER] and query["From"] == [OUR_SMS] and "DateSent>" in query


async def test_after_a_crash_mid_reply_only_the_missing_parts_are_sent(
    twilio_fake: FakeTwilio, twilio_client: Client
) -> None:
    since = dt.datetime.now(dt.UTC)
    message = reply("\n\n".join(["A paragraph of help. " * 40] * 3), channel="sms", recipient=CUSTOMER)
    crashed = TwilioMessagingChannel(twilio_client, medium="sms", sender=OUR_SMS)
    twilio_fake.fail_next(500, 20500, after=1)
    with pytest.raises(DeliveryError):
        await crashed.send(message)  # part 1 went out, then the worker died
    restarted = TwilioMessagingChannel(twilio_client, medium="sms", sender=OUR_SMS)
    assert await restarted.find_delivered(message, since) is None
    delivery = await restarted.send(message)
    assert [m.body[:6] for m in twilio_fake.sent] == ["(1/3) ", "(2/3) ", "(3/3) "]
    assert delivery.provider_message_ids == tuple(m.sid for m in twilio_fake.sent)


async def test_find_delivered_without_a_record(twilio_fake: FakeTwilio, sms: TwilioMessagingChannel) -> None:
    since = dt.datetime.now(dt.UTC)
    await sms.send(reply("Another reply", channel="sms", recipient=CUSTOMER))
    assert await sms.find_delivered(reply("This one", channel="sms", recipient=CUSTOMER), since) is None


async def test_find_delivered_ignores_older_and_failed_messages(
    twilio_fake: FakeTwilio, sms: TwilioMessagingChannel
) -> None:
    message = reply("Same words", channel="sms", recipient=CUSTOMER)
    delivery = await sms.send(message)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    assert await sms.find_delivered(message, later) is None
    twilio_fake.set_status(delivery.provider_message_ids[0], "failed", 30003)
    assert await sms.find_delivered(message, later - dt.timedelta(minutes=20)) is None


async def test_find_delivered_when_twilio_is_down_is_retryable(
    twilio_fake: FakeTwilio, sms: TwilioMessagingChannel
) -> None:
    twilio_fake.go_down("503")
    with pytest.raises(DeliveryError) as caught:
        await sms.find_delivered(reply("x", channel="sms", recipient=CUSTOMER), dt.datetime.now(dt.UTC))
    assert caught.value.retryable and caught.value.code == "20503"
    assert "HTTP 503" in caught.value.reason


async def test_sending_does_not_block_the_event_loop(twilio_fake: FakeTwilio, sms: TwilioMessagingChannel) -> None:
    twilio_fake.delay = 0.3
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        await sms.send(reply("Hello", channel="sms", recipient=CUSTOMER))
        group.cancel_scope.cancel()
    assert time.monotonic() - started >= 0.3
    assert ticks >= 10  # the loop kept running while the synchronous client waited


# -- construction -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"medium": "email", "sender": OUR_SMS}, "'whatsapp' or 'sms'"),
        ({"medium": "sms", "sender": OUR_SMS, "template_content_sid": TEMPLATE_SID}, "templates are for WhatsApp"),
        ({"medium": "whatsapp", "sender": OUR_SMS, "template_content_sid": "HX12"}, "32 hex"),
        ({"medium": "sms", "sender": OUR_WHATSAPP}, "WhatsApp address"),
        ({"medium": "sms", "sender": OUR_SMS, "max_length": 5000}, "max_length"),
        ({"medium": "sms", "sender": "MG" + "0" * 32}, "Messaging Service"),
    ],
)
def test_bad_configurations_are_refused(twilio_client: Client, kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        TwilioMessagingChannel(twilio_client, **kwargs)  # type: ignore[arg-type]


def test_create_client_checks_the_account_sid() -> None:
    with pytest.raises(ValueError, match="'AC'"):
        create_client("US123", "token")

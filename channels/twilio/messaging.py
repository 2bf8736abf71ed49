"""Twilio Messaging webhooks (WhatsApp and SMS): an incoming message as an `InboundMessage`, and the status
callbacks Twilio sends for the messages we sent.

One webhook serves both media: an address starting with `whatsapp:` is WhatsApp, anything else SMS. A
customer's messages to one of our numbers form one conversation until it is resolved; the next message after
that starts a new one (the thread key is `open_only`).
"""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast, get_args

from channels.messages import Attachment, InboundMessage, ThreadKey, utc_now
from channels.twilio.webhooks import MalformedWebhookError, optional, required

MessagingMedium = Literal["whatsapp", "sms"]
WHATSAPP_PREFIX = "whatsapp:"
WINDOW_CLOSED_CODE = "63016"

DeliveryState = Literal[
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "read",
    "undelivered",
    "failed",
    "canceled",
    "partially_delivered",
    "receiving",
    "received",
]
FINAL_STATES: frozenset[str] = frozenset({"delivered", "read", "undelivered", "failed", "canceled"})
FAILED_STATES: frozenset[str] = frozenset({"undelivered", "failed", "canceled"})

_MEDIA_LABELS = {"image": "[image]", "audio": "[voice message]", "video": "[video]", "text": "[file]"}


def medium_of(address: str) -> MessagingMedium:
    """`whatsapp` for a `whatsapp:+...` address, `sms` for a phone number or short code."""
    return "whatsapp" if address.lower().startswith(WHATSAPP_PREFIX) else "sms"


def bare_number(address: str) -> str:
    """The phone number of an address, without the `whatsapp:` prefix."""
    return address[len(WHATSAPP_PREFIX) :] if medium_of(address) == "whatsapp" else address


def address_for(medium: MessagingMedium, number: str) -> str:
    """A number as Twilio addresses it on `medium` (`whatsapp:+1555...` or `+1555...`)."""
    number = number.strip()
    if not number:
        msg = f"a {medium} address needs a number, got an empty one"
        raise ValueError(msg)
    if medium == "whatsapp":
        return number if medium_of(number) == "whatsapp" else f"{WHATSAPP_PREFIX}{number}"
    if medium_of(number) == "whatsapp":
        msg = f"{number!r} is a WhatsApp address; an SMS needs a plain phone number"
        raise ValueError(msg)
    return number


def conversation_key(medium: MessagingMedium, customer: str, ours: str) -> ThreadKey:
    """The key that ties a customer's messages to one of our numbers into one open conversation."""
    return ThreadKey(f"twilio:{medium}:{bare_number(customer)}:{bare_number(ours)}", open_only=True)


def _label(content_type: str) -> str:
    major = content_type.split("/", 1)[0].lower()
    if content_type.lower() == "application/pdf":
        return "[document]"
    return _MEDIA_LABELS.get(major, "[file]")


def _attachments(form: Mapping[str, str], message_sid: str) -> tuple[Attachment, ...]:
    raw = optional(form, "NumMedia") or "0"
    try:
        count = int(raw)
    except ValueError:
        msg = f"NumMedia must be a whole number, got {raw!r} in message {message_sid}"
        raise MalformedWebhookError(msg) from None
    if not 0 <= count <= 20:
        msg = f"NumMedia must be between 0 and 20, got {count} in message {message_sid}"
        raise MalformedWebhookError(msg)
    attachments = []
    for index in range(count):
        url = required(form, f"MediaUrl{index}", "incoming message")
        content_type = optional(form, f"MediaContentType{index}") or "application/octet-stream"
        extension = mimetypes.guess_extension(content_type.split(";", 1)[0]) or ""
        filename = f"{message_sid}-{index}{extension}"
        attachments.append(Attachment(filename=filename, content_type=content_type, size=0, url=url))
    return tuple(attachments)


def _text(form: Mapping[str, str], attachments: tuple[Attachment, ...]) -> str:
    body = (form.get("Body") or "").strip()
    if body:
        return body
    button = optional(form, "ButtonText")
    if button:
        return button
    latitude, longitude = optional(form, "Latitude"), optional(form, "Longitude")
    if latitude and longitude:
        place = optional(form, "Label") or optional(form, "Address")
        return f"[location: {latitude}, {longitude}{f' ({place})' if place else ''}]"
    if attachments:
        return " ".join(_label(attachment.content_type) for attachment in attachments)
    return "[empty message]"


def parse_inbound_message(form: Mapping[str, str], *, received_at: dt.datetime | None = None) -> InboundMessage:
    """An incoming WhatsApp or SMS message from Twilio's webhook form.

    The medium follows the `From` address; media become attachments that point at Twilio's media URLs (the
    inbox fetches them with the account's credentials), and a message with only media gets a text such as
    "[image]" so that it reads in the inbox. `MalformedWebhookError` when a field it always has is missing.
    """
    message_sid = (
        optional(form, "MessageSid") or optional(form, "SmsMessageSid") or required(form, "MessageSid", "message")
    )
    sender = required(form, "From", "incoming message")
    recipient = required(form, "To", "incoming message")
    medium = medium_of(sender)
    attachments = _attachments(form, message_sid)
    metadata = {
        key: value
        for key, value in {
            "account_sid": optional(form, "AccountSid"),
            "messaging_service_sid": optional(form, "MessagingServiceSid"),
            "wa_id": optional(form, "WaId"),
            "button_payload": optional(form, "ButtonPayload"),
            "replied_to": optional(form, "OriginalRepliedMessageSid"),
            "message_type": optional(form, "MessageType"),
            "from_country": optional(form, "FromCountry"),
        }.items()
        if value is not None
    }
    return InboundMessage(
        channel=medium,
        sender=sender,
        text=_text(form, attachments),
        provider_message_id=message_sid,
        thread_keys=(conversation_key(medium, sender, recipient),),
        recipient=recipient,
        sender_name=optional(form, "ProfileName"),
        attachments=attachments,
        metadata=metadata,
        received_at=received_at or utc_now(),
    )


@dataclass(frozen=True, slots=True)
class MessageStatus:
    """A status callback for a message we sent: where it is now and, when it failed, Twilio's error code."""

    message_sid: str
    state: DeliveryState
    channel: MessagingMedium
    recipient: str | None = None
    sender: str | None = None
    error_code: str | None = None
    account_sid: str | None = None

    @property
    def final(self) -> bool:
        """True when the message will not change state again (delivered, read, failed...)."""
        return self.state in FINAL_STATES

    @property
    def failed(self) -> bool:
        """True when the message did not reach the customer."""
        return self.state in FAILED_STATES

    @property
    def window_closed(self) -> bool:
        """True when WhatsApp refused a free-form message outside the 24-hour customer-care window (63016):
        only an approved template can reach the customer until they write again."""
        return self.failed and self.error_code == WINDOW_CLOSED_CODE


def parse_message_status(form: Mapping[str, str]) -> MessageStatus:
    """A Twilio message status callback (`MessageSid`, `MessageStatus`, `ErrorCode`) as a `MessageStatus`."""
    message_sid = required(form, "MessageSid", "message status")
    state = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if state not in get_args(DeliveryState):
        msg = f"unknown MessageStatus {state!r} for message {message_sid}; known: {', '.join(get_args(DeliveryState))}"
        raise MalformedWebhookError(msg)
    recipient, sender = optional(form, "To"), optional(form, "From")
    error_code = optional(form, "ErrorCode")
    return MessageStatus(
        message_sid=message_sid,
        state=cast(DeliveryState, state),
        channel=medium_of(recipient or sender or ""),
        recipient=recipient,
        sender=sender,
        error_code=None if error_code in (None, "0") else error_code,
        account_sid=optional(form, "AccountSid"),
    )

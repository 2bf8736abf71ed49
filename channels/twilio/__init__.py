"""Twilio channels: WhatsApp and SMS through the Messages API, phone calls through Twilio Voice.

- `webhooks`: signature check (`WebhookValidator`, `validate_signature`) and the public URL behind a proxy;
- `messaging`: incoming-message and status-callback webhooks as `InboundMessage` and `MessageStatus`;
- `client`: `create_client` (the REST client, pointable at the fake server) and Twilio errors as `DeliveryError`;
- `messaging_channel`: `TwilioMessagingChannel`, the `Channel` that sends WhatsApp and SMS replies;
- `formatting`: Markdown for WhatsApp and SMS, splitting long replies, text for speech;
- `voice` and `voice_dialog`: the Voice webhook, turn state, answers and transfers, and their TwiML;
- `routes`: FastAPI routers for all the webhooks (`messaging_router`, `voice_router`), imported on their own.
"""

from channels.twilio.client import create_client, delivery_error
from channels.twilio.formatting import Speech, render_text, speech_text, split_message
from channels.twilio.messaging import (
    MessageStatus,
    conversation_key,
    medium_of,
    parse_inbound_message,
    parse_message_status,
)
from channels.twilio.messaging_channel import TwilioMessagingChannel
from channels.twilio.voice import (
    Transfer,
    TurnState,
    VoiceAnswer,
    VoiceHandler,
    VoiceRequest,
    parse_voice_request,
    turn_message,
)
from channels.twilio.voice_dialog import VoiceDialog, VoicePrompts
from channels.twilio.webhooks import MalformedWebhookError, WebhookValidator, public_url, validate_signature

__all__ = [
    "MalformedWebhookError",
    "MessageStatus",
    "Speech",
    "Transfer",
    "TurnState",
    "TwilioMessagingChannel",
    "VoiceAnswer",
    "VoiceDialog",
    "VoiceHandler",
    "VoicePrompts",
    "VoiceRequest",
    "WebhookValidator",
    "conversation_key",
    "create_client",
    "delivery_error",
    "medium_of",
    "parse_inbound_message",
    "parse_message_status",
    "parse_voice_request",
    "public_url",
    "render_text",
    "speech_text",
    "split_message",
    "turn_message",
    "validate_signature",
]

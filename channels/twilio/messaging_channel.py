"""Sending replies on WhatsApp or SMS through Twilio's Messages API (the `Channel` for those media).

The twilio client is synchronous, so every call runs in a worker thread. A long reply is cut into numbered
parts. When WhatsApp refuses a free-form reply because the customer's 24-hour window is closed (error 63016),
an approved template is sent instead if one is configured; otherwise the refusal says what a person must do.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import anyio
from twilio.base import values
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from channels.base import DeliveryError
from channels.messages import Delivery, OutboundMessage
from channels.twilio.client import delivery_error
from channels.twilio.formatting import render_text, split_message
from channels.twilio.messaging import (
    FAILED_STATES,
    WINDOW_CLOSED_CODE,
    MessagingMedium,
    address_for,
    conversation_key,
)

logger = logging.getLogger(__name__)

MAX_BODY = 1600
"""Twilio's limit on one message body, SMS and WhatsApp alike (longer SMS are concatenated segments)."""

_PARTIAL_KEPT = 1000
TemplateVariables = Callable[[OutboundMessage], Mapping[str, str]]


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


class TwilioMessagingChannel:
    """The WhatsApp or the SMS channel: delivers replies from one of our numbers through Twilio.

    `client` is built once by the caller (see `create_client`). `sender` is our number (with or without the
    `whatsapp:` prefix). `status_callback_url` receives Twilio's delivery statuses. For WhatsApp,
    `template_content_sid` (`HX...`) is the approved template sent when the 24-hour window is closed, and
    `template_variables` fills its `ContentVariables` from the reply (none are sent without it).
    """

    def __init__(
        self,
        client: Client,
        *,
        medium: MessagingMedium,
        sender: str,
        status_callback_url: str | None = None,
        template_content_sid: str | None = None,
        template_variables: TemplateVariables | None = None,
        max_length: int = MAX_BODY,
        clock_skew: dt.timedelta = dt.timedelta(minutes=2),
    ) -> None:
        if medium not in ("whatsapp", "sms"):
            msg = f"a Twilio messaging channel is 'whatsapp' or 'sms', got {medium!r}"
            raise ValueError(msg)
        if template_content_sid is not None and medium != "whatsapp":
            msg = f"templates are for WhatsApp's closed window; the {medium} channel got {template_content_sid!r}"
            raise ValueError(msg)
        if template_content_sid is not None and not re.fullmatch(r"HX[0-9a-fA-F]{32}", template_content_sid):
            msg = f"a template ContentSid is 'HX' and 32 hex digits, got {template_content_sid!r}"
            raise ValueError(msg)
        if sender.startswith("MG"):
            msg = f"give the channel our sending number, not a Messaging Service SID ({sender!r} is not supported)"
            raise ValueError(msg)
        if not 20 <= max_length <= MAX_BODY:
            msg = f"max_length must be between 20 and {MAX_BODY}, got {max_length}"
            raise ValueError(msg)
        self._client = client
        self._medium: MessagingMedium = medium
        self.sender = address_for(medium, sender)
        self.status_callback_url = status_callback_url
        self.template_content_sid = template_content_sid
        self.template_variables = template_variables
        self.max_length = max_length
        self.clock_skew = clock_skew
        self._partial: OrderedDict[str, list[str]] = OrderedDict()

    @property
    def name(self) -> str:
        """`whatsapp` or `sms`."""
        return self._medium

    def render(self, message: OutboundMessage) -> list[str]:
        """The bodies `send` posts for a reply: rendered for the medium, cut at `max_length`."""
        return split_message(render_text(message.text, message.citations, medium=self._medium), self.max_length)

    def _recipient(self, message: OutboundMessage) -> str:
        if message.channel != self._medium:
            msg = f"the {self._medium} channel was given reply {message.message_id} for channel {message.channel!r}"
            raise DeliveryError(msg, retryable=False, code="wrong-channel")
        try:
            return address_for(self._medium, message.recipient)
        except ValueError as exc:
            raise DeliveryError(str(exc), retryable=False, code="bad-recipient") from exc

    def _delivery(self, recipient: str, sids: list[str], note: str | None = None) -> Delivery:
        key = conversation_key(self._medium, recipient, self.sender)
        return Delivery(provider_message_ids=tuple(sids), thread_keys=(key,), note=note)

    async def _create(self, what: str, **fields: Any) -> str:
        call = partial(self._client.messages.create, from_=self.sender, **fields)
        try:
            created = await anyio.to_thread.run_sync(call)
        except (TwilioException, OSError) as exc:
            raise delivery_error(exc, what) from exc
        return str(created.sid)

    async def send(self, message: OutboundMessage) -> Delivery:
        """Deliver a reply, in numbered parts when it is long; a template when WhatsApp's window is closed."""
        recipient = self._recipient(message)
        parts = self.render(message)
        callback = self.status_callback_url or values.unset
        # Parts sent by an earlier attempt that failed half-way are not sent again by the retry.
        sids = self._partial.pop(message.message_id, [])[: len(parts) - 1]
        for index, body in enumerate(parts[len(sids) :], start=len(sids) + 1):
            what = f"reply {message.message_id} to {recipient}"
            if len(parts) > 1:
                what += f" (part {index}/{len(parts)})"
            try:
                sids.append(await self._create(what, to=recipient, body=body, status_callback=callback))
            except DeliveryError as exc:
                if exc.code == WINDOW_CLOSED_CODE and not sids:
                    return await self._window_closed(message, recipient, exc)
                if not sids:
                    raise
                self._remember_partial(message.message_id, sids)
                reason = f"{exc.reason}; parts already sent: {', '.join(sids)} (a retry sends only the rest)"
                raise DeliveryError(reason, retryable=exc.retryable, code=exc.code) from exc
        return self._delivery(recipient, sids)

    def _remember_partial(self, message_id: str, sids: list[str]) -> None:
        self._partial[message_id] = sids
        while len(self._partial) > _PARTIAL_KEPT:
            self._partial.popitem(last=False)

    async def _window_closed(self, message: OutboundMessage, recipient: str, exc: DeliveryError) -> Delivery:
        if self.template_content_sid is None:
            msg = (
                f"WhatsApp's 24-hour customer-care window with {recipient} is closed (error 63016): a free-form "
                "reply cannot be delivered until the customer writes again. Send an approved template to reopen "
                "the conversation (configure a template ContentSid), or reach the customer another way."
            )
            raise DeliveryError(msg, retryable=False, code=WINDOW_CLOSED_CODE) from exc
        return await self.send_template(message)

    async def send_template(self, message: OutboundMessage) -> Delivery:
        """Send the configured WhatsApp template to the reply's recipient instead of the reply itself (what
        `send` does on error 63016; call it too when a status callback reports `window_closed`)."""
        if self.template_content_sid is None:
            msg = f"the {self._medium} channel has no template ContentSid configured for reply {message.message_id}"
            raise DeliveryError(msg, retryable=False, code=WINDOW_CLOSED_CODE)
        recipient = self._recipient(message)
        variables = dict(self.template_variables(message)) if self.template_variables is not None else {}
        sid = await self._create(
            f"template {self.template_content_sid} for reply {message.message_id} to {recipient}",
            to=recipient,
            content_sid=self.template_content_sid,
            content_variables=json.dumps(variables) if variables else values.unset,
            status_callback=self.status_callback_url or values.unset,
        )
        note = (
            f"WhatsApp's 24-hour window was closed, so template {self.template_content_sid} was sent instead of "
            "the reply; send the reply again once the customer answers."
        )
        logger.info(
            "reply %s to %s: window closed, sent template %s (%s)",
            message.message_id,
            recipient,
            self.template_content_sid,
            sid,
        )
        return self._delivery(recipient, [sid], note)

    async def find_delivered(self, message: OutboundMessage, since: dt.datetime) -> Delivery | None:
        """Twilio's record of this reply if every part of it was sent from our number to the recipient since
        `since` (less `clock_skew`) and did not fail; None otherwise. When only the first parts were sent, they
        are remembered and the `send` that follows sends the rest. (A template sent instead of the reply cannot
        be recognised: its text is Twilio's.)"""
        recipient = self._recipient(message)
        after = _utc(since) - self.clock_skew
        call = partial(self._client.messages.list, to=recipient, from_=self.sender, date_sent_after=after, limit=200)
        try:
            records = await anyio.to_thread.run_sync(call)
        except (TwilioException, OSError) as exc:
            raise delivery_error(exc, f"the list of messages to {recipient}") from exc
        candidates = [
            record
            for record in records
            if record.status not in FAILED_STATES and _utc(record.date_created or record.date_sent or after) >= after
        ]
        sids: list[str] = []
        for body in self.render(message):
            match = next((r for r in candidates if r.body == body and r.sid not in sids), None)
            if match is None:
                if sids:  # the first parts went out before the crash: the next `send` sends only the rest
                    self._remember_partial(message.message_id, sids)
                return None
            sids.append(str(match.sid))
        return self._delivery(recipient, sids)

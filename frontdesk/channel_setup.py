"""Channels from settings: Twilio (WhatsApp, SMS, voice) and e-mail, wired to the inbox and the outbox.

`install_channels(app, settings)` mounts the webhook routes of every configured channel when the app is built;
`start_channels(runtime)` registers their outbound side and starts the SMTP listener in the lifespan. The
handlers reach the runtime through the app's state, so routes exist before the expensive parts are built.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
from fastapi import APIRouter, FastAPI, HTTPException, Request, status

from channels.email import (
    EmailChannel,
    EmailParseError,
    SenderRateLimiter,
    SmtpListener,
    SupportMailbox,
    read_inbound_email,
)
from channels.messages import InboundMessage
from channels.twilio import (
    MessageStatus,
    Transfer,
    TwilioMessagingChannel,
    VoiceAnswer,
    VoiceDialog,
    WebhookValidator,
    create_client,
)
from channels.twilio.routes import messaging_router, voice_router
from channels.webchat.tokens import load_or_create_secret
from conversations.inbox import final_answer
from conversations.outbox import StatusChange
from frontdesk.api.auth import bearer, email_inbound_caller
from frontdesk.api.client_address import Network, in_networks, parse_address, trusted_networks
from frontdesk.api.deps import SettingsDep
from frontdesk.runtime import Runtime, email_mailbox
from frontdesk.settings import Settings

logger = logging.getLogger(__name__)

RuntimeGetter = Callable[[], Runtime]
MESSAGE_ID_SECRET_FILE = "email_message_id.key"
TRANSFERRING = "I'm putting you through to a person now. Please hold."
ONE_MOMENT = "One moment, please."


def twilio_enabled(settings: Settings) -> bool:
    return bool(settings.twilio_account_sid and settings.twilio_auth_token)


def email_message_id_secret(settings: Settings) -> bytes:
    """The key of our Message-IDs: the setting, or one generated once in the data folder (mode 0600), so a
    reply resent after a restart keeps its Message-ID."""
    if settings.email_message_id_secret is not None:
        return settings.email_message_id_secret.get_secret_value().strip().encode()
    return load_or_create_secret(settings.data_dir / MESSAGE_ID_SECRET_FILE)


class InboxMessaging:
    """WhatsApp and SMS webhooks into the inbox (the Twilio routes' `MessagingHandler`)."""

    def __init__(self, runtime: RuntimeGetter) -> None:
        self._runtime = runtime

    async def receive(self, message: InboundMessage) -> None:
        await self._runtime().inbox.receive(message)

    async def record_status(self, status: MessageStatus) -> None:
        """Record a status once: a repeated or late callback (Twilio retries them; a captured one can be
        replayed) adds no second note, no second interaction event and no second template."""
        runtime = self._runtime()

        def record() -> StatusChange | None:  # the status and its interaction event in one hop off the loop
            change = runtime.outbox.record_status(
                status.channel, status.message_sid, status.state, error_code=status.error_code
            )
            if change is not None and change.recorded and runtime.inbox.interactions is not None:
                runtime.inbox.interactions.delivery(
                    change.entry.conversation_id, status.channel, status.state, status.error_code
                )
            return change

        change = await anyio.to_thread.run_sync(record)
        if change is None or not change.recorded:
            return
        entry = change.entry
        if not status.window_closed:
            return
        channel = runtime.channels.get(status.channel)
        if not isinstance(channel, TwilioMessagingChannel) or channel.template_content_sid is None:
            return
        if not await anyio.to_thread.run_sync(runtime.outbox.claim_template, entry.id):
            return  # another part of the reply, or another worker, already sent the template
        try:
            delivery = await channel.send_template(entry.message)
        except Exception:
            logger.exception("the WhatsApp template for outbox row %d could not be sent", entry.id)
            return
        await anyio.to_thread.run_sync(lambda: runtime.outbox.mark_sent(entry, delivery))


class InboxVoice:
    """Phone calls into the inbox (the Twilio routes' `VoiceHandler`): each turn answered in-band, in time."""

    def __init__(self, runtime: RuntimeGetter, *, default_queue: str, timeout: float) -> None:
        self._runtime = runtime
        self.default_queue = default_queue
        self.timeout = timeout

    async def answer(self, message: InboundMessage) -> VoiceAnswer:
        inbox = self._runtime().inbox
        if message.metadata.get("transfer_requested") == "true":
            receipt = await inbox.receive(message, answer=False)
            await anyio.to_thread.run_sync(
                lambda: inbox.store.update_state(
                    receipt.conversation_id, status="escalated", escalation_reason="customer_asked_for_human"
                )
            )
            handoff = inbox.handoff
            if handoff is not None:  # a ticket for the person who takes the call (reconciliation retries a failure)
                await anyio.to_thread.run_sync(
                    handoff.ask_for_person, receipt.conversation_id, "customer_asked_for_human"
                )
            return VoiceAnswer(TRANSFERRING, transfer=Transfer(queue=self.default_queue))
        with anyio.fail_after(self.timeout):
            answered = await final_answer(inbox.converse(message))
        reply = answered.reply
        if reply is None:  # Twilio retried a turn still being answered
            return VoiceAnswer(ONE_MOMENT)
        if reply.escalation is not None:
            queue = _queue_name(reply.escalation.skill) or self.default_queue
            return VoiceAnswer(f"{reply.text} {TRANSFERRING}", transfer=Transfer(queue=queue))
        return VoiceAnswer(reply.text)


def _queue_name(skill: str | None) -> str | None:
    if not skill:
        return None
    cleaned = "".join(ch if ch.isalnum() or ch in " .:_-" else "-" for ch in skill)[:64]
    return cleaned or None


class EmailIntake:
    """Receives raw e-mail (from the SMTP listener or the HTTP route) into the inbox.

    The sender's verdict comes from the Authentication-Results of `trusted_authserv_ids`: an authenticated
    mail joins its conversation by its reply address, threading headers or subject; any other only by its
    reply address, else it starts a new conversation marked `sender_verified: false` (in its metadata).
    Over SMTP, those headers are believed only from `trusted_relays` (the MX in front of us): a client that
    connects straight to the listener could write any header, so its mail is judged with no trusted id.
    """

    def __init__(
        self,
        runtime: RuntimeGetter,
        mailbox: SupportMailbox,
        *,
        max_bytes: int,
        reply_limit: int,
        trusted_authserv_ids: tuple[str, ...] = (),
        trusted_relays: tuple[Network, ...] = (),
    ) -> None:
        self._runtime = runtime
        self.mailbox = mailbox
        self.max_bytes = max_bytes
        self.trusted_authserv_ids = trusted_authserv_ids
        self.trusted_relays = trusted_relays
        self.limiter = SenderRateLimiter(max_replies=reply_limit, window=dt.timedelta(hours=1))

    async def deliver(
        self, raw: bytes, envelope_from: str | None, rcpt_tos: tuple[str, ...], *, relayed: bool = True
    ) -> dict[str, object]:
        """Store one raw message; raise when it could not be stored (the SMTP client is told to retry).

        `relayed` says the mail came through a server whose Authentication-Results may be believed."""
        trusted_ids = self.trusted_authserv_ids if relayed else ()
        parsed = await anyio.to_thread.run_sync(
            lambda: read_inbound_email(
                raw,
                self.mailbox,
                envelope_from=envelope_from,
                envelope_recipients=rcpt_tos,
                max_bytes=self.max_bytes,
                trusted_authserv_ids=trusted_ids,
            )
        )
        if parsed.message is None:
            logger.info("ignored an e-mail with nothing to store: %s", parsed.ignore_reason)
            return {"stored": False, "ignored": parsed.ignore_reason}
        message = parsed.message
        reason = parsed.ignore_reason
        if reason is None and not self.limiter.allow(message.sender):
            reason = "too many messages from this sender in the last hour"
        if reason is not None:
            message = dataclasses.replace(message, metadata={**message.metadata, "not_answered": reason})
        receipt = await self._runtime().inbox.receive(message, answer=reason is None)
        return {
            "stored": True,
            "conversation_id": receipt.conversation_id,
            "duplicate": receipt.duplicate,
            "answered": receipt.queued,
            "ignored": reason,
            "sender_verified": message.metadata.get("sender_verified") == "true",
        }

    async def smtp_deliver(self, raw: bytes, envelope_from: str, rcpt_tos: tuple[str, ...], peer: str) -> None:
        address = parse_address(peer)
        relayed = address is not None and in_networks(address, self.trusted_relays)
        await self.deliver(raw, envelope_from or None, rcpt_tos, relayed=relayed)


def _email_router(intake: EmailIntake, token: str | None, runtime: Callable[[], Runtime]) -> APIRouter:
    router = APIRouter(prefix="/v1/email", tags=["email"])

    @router.post("/inbound", status_code=status.HTTP_200_OK)
    async def inbound(request: Request, settings: SettingsDep) -> dict[str, object]:
        """Accept one raw MIME message (message/rfc822), as mail providers' inbound webhooks post it; needs
        `FRONTDESK_EMAIL_INBOUND_TOKEN` or a key with `email:inbound`, checked before the body is read."""
        given = bearer(request)
        if given is None or token is None or not hmac.compare_digest(given.encode(), token.encode()):
            await email_inbound_caller(request, settings, runtime())
        raw = bytearray()
        async for chunk in request.stream():
            raw.extend(chunk)
            if len(raw) > intake.max_bytes:
                raise HTTPException(
                    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"the message is larger than {intake.max_bytes} bytes"
                )
        if not raw:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "the request body must be a raw e-mail message")
        try:
            return await intake.deliver(bytes(raw), None, ())
        except EmailParseError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc

    return router


def install_channels(app: FastAPI, settings: Settings) -> None:
    """Mount the webhook routes of every channel the settings configure."""

    def runtime() -> Runtime:
        current: Runtime = app.state.runtime
        return current

    if twilio_enabled(settings):
        assert settings.twilio_auth_token is not None
        validator = WebhookValidator(settings.twilio_auth_token.get_secret_value(), settings.public_base_url)
        app.include_router(messaging_router(InboxMessaging(runtime), validator))
        dialog = VoiceDialog(
            language=settings.twilio_voice_language,
            speech_model=settings.twilio_voice_speech_model,
            voice=settings.twilio_voice_voice,
            min_confidence=settings.twilio_voice_min_confidence,
            max_silences=settings.twilio_voice_max_silences,
            default_queue=settings.twilio_voice_default_queue,
            queue_wait_url=settings.twilio_voice_wait_url,
        )
        handler = InboxVoice(
            runtime, default_queue=settings.twilio_voice_default_queue, timeout=settings.voice_answer_timeout
        )
        app.include_router(voice_router(handler, validator, dialog))
    mailbox = email_mailbox(settings)
    if mailbox is not None:
        intake = EmailIntake(
            runtime,
            mailbox,
            max_bytes=settings.email_max_bytes,
            reply_limit=settings.email_reply_limit,
            trusted_authserv_ids=settings.email_trusted_authserv_id_list,
            trusted_relays=trusted_networks(settings.email_trusted_relays),
        )
        app.state.email_intake = intake
        token = settings.email_inbound_token.get_secret_value() if settings.email_inbound_token else None
        app.include_router(_email_router(intake, token, runtime))


@asynccontextmanager
async def start_channels(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    """Register the outbound side of the configured channels and run the SMTP listener while the app runs."""
    settings = runtime.settings
    async with AsyncExitStack() as stack:
        if twilio_enabled(settings):
            assert settings.twilio_account_sid is not None and settings.twilio_auth_token is not None
            client = create_client(
                settings.twilio_account_sid,
                settings.twilio_auth_token.get_secret_value(),
                api_base_url=settings.twilio_api_base_url,
                timeout=settings.twilio_timeout,
            )
            base = (settings.public_base_url or "").rstrip("/")
            callback = f"{base}/twilio/messages/status" if base else None
            if settings.twilio_whatsapp_from:
                runtime.add_channel(
                    TwilioMessagingChannel(
                        client,
                        medium="whatsapp",
                        sender=settings.twilio_whatsapp_from,
                        status_callback_url=callback,
                        template_content_sid=settings.twilio_whatsapp_template_sid,
                    )
                )
            if settings.twilio_sms_from:
                runtime.add_channel(
                    TwilioMessagingChannel(
                        client, medium="sms", sender=settings.twilio_sms_from, status_callback_url=callback
                    )
                )
        mailbox = email_mailbox(settings)
        if mailbox is not None:
            smtp = settings.smtp()
            if smtp is not None:
                secret = await anyio.to_thread.run_sync(email_message_id_secret, settings)
                runtime.add_channel(EmailChannel(smtp, mailbox, message_id_secret=secret))
            intake: EmailIntake | None = getattr(app.state, "email_intake", None)
            if settings.email_inbound_host and intake is not None:
                listener = SmtpListener(
                    mailbox,
                    intake.smtp_deliver,
                    host=settings.email_inbound_host,
                    port=settings.email_inbound_port,
                    max_bytes=settings.email_max_bytes,
                )
                await stack.enter_async_context(listener)
                app.state.smtp_listener = listener
                logger.info("receiving e-mail on %s:%d", settings.email_inbound_host, listener.port)
        yield

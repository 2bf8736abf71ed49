"""FastAPI routes for Twilio's webhooks, built around small handler protocols the composition root implements.

Every request's `X-Twilio-Signature` is checked first (403 with the reason when it is missing or forged),
then its form is read (400 when a field it always carries is missing). An incoming message is handed to the
handler, which must persist it before the webhook answers empty TwiML: a handler that raises turns into a
500, so Twilio reports the failure and, where it retries, tries again.

Routes under `prefix` (default `/twilio`): `POST /messages` (incoming WhatsApp and SMS), `POST
/messages/status` (status callbacks), `POST /voice` (incoming call), `POST /voice/turn` (each `<Gather>`
result), `POST /voice/dialed` (a `<Dial>` to a person ended).
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request, Response, status
from twilio.twiml.messaging_response import MessagingResponse

from channels.base import SignatureError
from channels.messages import InboundMessage
from channels.twilio.messaging import MessageStatus, parse_inbound_message, parse_message_status
from channels.twilio.voice import TurnState, VoiceHandler, parse_voice_request
from channels.twilio.voice_dialog import ActionUrl, DialActionUrl, VoiceDialog
from channels.twilio.webhooks import MalformedWebhookError, WebhookValidator

TWIML_MEDIA_TYPE = "text/xml"


class MessagingHandler(Protocol):
    """What the composition root provides for WhatsApp and SMS webhooks."""

    async def receive(self, message: InboundMessage) -> None:
        """Persist an incoming message (idempotent on `provider_message_id`) and schedule its answer; return
        only once it is stored, and raise when it could not be, so that the webhook fails."""
        ...

    async def record_status(self, status: MessageStatus) -> None:
        """Record a delivery status of a message we sent (`status.message_sid` is the id `send` returned);
        `status.window_closed` means WhatsApp refused it outside the 24-hour window."""
        ...


async def _signed_form(request: Request, validator: WebhookValidator) -> dict[str, str]:
    """The request's form after its signature checked out (403 otherwise)."""
    form = await request.form()
    params = {key: [str(value) for value in form.getlist(key)] for key in form}
    try:
        validator.validate(str(request.url), params, request.headers)
    except SignatureError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from exc
    fields: dict[str, str] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            msg = f"Twilio webhooks are url-encoded forms; field {key!r} is a file"
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=msg)
        fields[key] = value
    return fields


def _bad_request(exc: MalformedWebhookError) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc))


def _twiml(xml: str) -> Response:
    return Response(content=xml, media_type=TWIML_MEDIA_TYPE)


def messaging_router(handler: MessagingHandler, validator: WebhookValidator, *, prefix: str = "/twilio") -> APIRouter:
    """The WhatsApp and SMS webhooks: point the number's "a message comes in" URL at `{prefix}/messages` and
    give `{prefix}/messages/status` to the channel as its status callback URL."""
    router = APIRouter(prefix=prefix, tags=["twilio"])

    @router.post("/messages", name="twilio_incoming_message")
    async def incoming_message(request: Request) -> Response:
        """An incoming WhatsApp or SMS message."""
        form = await _signed_form(request, validator)
        try:
            message = parse_inbound_message(form)
        except MalformedWebhookError as exc:
            raise _bad_request(exc) from exc
        await handler.receive(message)
        return _twiml(str(MessagingResponse()))

    @router.post("/messages/status", name="twilio_message_status", status_code=status.HTTP_204_NO_CONTENT)
    async def message_status(request: Request) -> Response:
        """A delivery status of a message we sent."""
        form = await _signed_form(request, validator)
        try:
            update = parse_message_status(form)
        except MalformedWebhookError as exc:
            raise _bad_request(exc) from exc
        await handler.record_status(update)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


def voice_router(
    handler: VoiceHandler, validator: WebhookValidator, dialog: VoiceDialog, *, prefix: str = "/twilio"
) -> APIRouter:
    """The Voice webhooks: point the number's "a call comes in" URL at `{prefix}/voice`; the TwiML it answers
    sends the rest of the call to `{prefix}/voice/turn` and `{prefix}/voice/dialed`."""
    router = APIRouter(prefix=prefix, tags=["twilio"])

    def public(request: Request, route: str, query: dict[str, str]) -> str:
        url = validator.url_for(str(request.url_for(route)))
        return f"{url}?{urlencode(query)}" if query else url

    def action(request: Request) -> ActionUrl:
        return lambda state: public(request, "twilio_voice_turn", state.query())

    def dial_action(request: Request) -> DialActionUrl:
        return lambda queue: public(request, "twilio_voice_dialed", {"queue": queue})

    @router.post("/voice", name="twilio_incoming_call")
    async def incoming_call(request: Request) -> Response:
        """An incoming call: greet and listen."""
        form = await _signed_form(request, validator)
        try:
            parse_voice_request(form)
        except MalformedWebhookError as exc:
            raise _bad_request(exc) from exc
        return _twiml(dialog.greet(action(request)))

    @router.post("/voice/turn", name="twilio_voice_turn")
    async def voice_turn(request: Request) -> Response:
        """What the caller said or pressed in the last `<Gather>`."""
        form = await _signed_form(request, validator)
        try:
            call = parse_voice_request(form)
            state = TurnState.from_query(request.query_params)
        except MalformedWebhookError as exc:
            raise _bad_request(exc) from exc
        return _twiml(await dialog.respond(call, state, handler, action(request), dial_action(request)))

    @router.post("/voice/dialed", name="twilio_voice_dialed")
    async def voice_dialed(request: Request) -> Response:
        """A `<Dial>` to a person ended: hang up, or queue the caller when nobody answered."""
        form = await _signed_form(request, validator)
        return _twiml(dialog.after_dial(form.get("DialCallStatus"), request.query_params.get("queue")))

    return router

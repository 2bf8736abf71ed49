"""Phone calls through Twilio Voice: the webhook form, the turn state carried in action URLs, and the answers.

A call is a loop of `<Gather>` turns. Twilio posts each turn's speech (or key press) to the Gather's action
URL; the URL carries the turn number, so a retried request is the same message (`CallSid:turn`) to the inbox.
What the agent says is cut to a few sentences for the ear, and the caller can press 0 or ask for a person to
be put through to a human (`<Dial>` to the assigned person, else `<Enqueue>` on the skill's queue).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from channels.messages import InboundMessage, ThreadKey, utc_now
from channels.twilio.webhooks import MalformedWebhookError, optional, required

TRANSFER_DIGIT = "0"
# Numbers Twilio puts in From when the caller withheld or has no caller ID: never a customer's identity.
_ANONYMOUS = frozenset({"anonymous", "+266696687", "+7378742833", "+2562533", "+86282452253", "+8656696"})
_QUEUE_NAME = re.compile(r"^[\w .:-]{1,64}$")


@dataclass(frozen=True, slots=True)
class VoiceRequest:
    """One Twilio Voice webhook: the call, and what the caller said (`speech`, with the recogniser's
    `confidence`) or pressed (`digits`) in the last `<Gather>`."""

    call_sid: str
    caller: str
    called: str
    call_status: str | None = None
    speech: str | None = None
    confidence: float | None = None
    digits: str | None = None
    account_sid: str | None = None

    @property
    def identified(self) -> bool:
        """True when the caller's number is known (not withheld), so it may tie calls together."""
        return self.caller.lower() not in _ANONYMOUS and bool(re.fullmatch(r"\+?\d{6,15}", self.caller))


def parse_voice_request(form: Mapping[str, str]) -> VoiceRequest:
    """The fields of a Voice webhook form (`CallSid`, `From`, `To`, `SpeechResult`, `Confidence`, `Digits`,
    `CallStatus`); `MalformedWebhookError` when a call field is missing or the confidence is not a number."""
    call_sid = required(form, "CallSid", "voice")
    raw_confidence = optional(form, "Confidence")
    confidence = None
    if raw_confidence is not None:
        try:
            confidence = float(raw_confidence)
        except ValueError:
            msg = f"Confidence must be a number between 0 and 1, got {raw_confidence!r} in call {call_sid}"
            raise MalformedWebhookError(msg) from None
    return VoiceRequest(
        call_sid=call_sid,
        caller=required(form, "From", "voice"),
        called=required(form, "To", "voice"),
        call_status=optional(form, "CallStatus"),
        speech=optional(form, "SpeechResult"),
        confidence=confidence,
        digits=optional(form, "Digits"),
        account_sid=optional(form, "AccountSid"),
    )


@dataclass(frozen=True, slots=True)
class TurnState:
    """Where a call is, carried in the query string of each `<Gather>` action URL.

    `turn` numbers the caller's messages to the agent (a silence or a re-ask keeps it), `silences` and `reasks`
    count consecutive empty and unclear answers, `offered_text` says the last answer offered a text message.
    """

    turn: int = 1
    silences: int = 0
    reasks: int = 0
    offered_text: bool = False

    def query(self) -> dict[str, str]:
        """The state as query parameters."""
        return {
            "turn": str(self.turn),
            "silences": str(self.silences),
            "reasks": str(self.reasks),
            "offered": "1" if self.offered_text else "0",
        }

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> TurnState:
        """The state from an action URL's query; the first turn when it carries none."""
        try:
            state = cls(
                turn=int(query.get("turn", "1")),
                silences=int(query.get("silences", "0")),
                reasks=int(query.get("reasks", "0")),
                offered_text=query.get("offered", "0") == "1",
            )
        except ValueError:
            msg = f"the voice action URL carries an unreadable turn state: {dict(query)!r}"
            raise MalformedWebhookError(msg) from None
        if state.turn < 1 or state.silences < 0 or state.reasks < 0:
            msg = f"the voice action URL carries an impossible turn state: {dict(query)!r}"
            raise MalformedWebhookError(msg)
        return state

    def next_turn(self, *, offered_text: bool = False) -> TurnState:
        """The state after the agent answered."""
        return TurnState(turn=self.turn + 1, offered_text=offered_text)

    def after_silence(self) -> TurnState:
        """The state after the caller said nothing."""
        return replace(self, silences=self.silences + 1)

    def after_reask(self) -> TurnState:
        """The state after asking the caller to repeat."""
        return replace(self, silences=0, reasks=self.reasks + 1)


@dataclass(frozen=True, slots=True)
class Transfer:
    """Where to put a caller through: `number` (the assigned person, `<Dial>`) or `queue` (the skill's queue,
    `<Enqueue>`, with hold music from `wait_url` when given)."""

    number: str | None = None
    queue: str | None = None
    wait_url: str | None = None
    caller_id: str | None = None

    def __post_init__(self) -> None:
        if (self.number is None) == (self.queue is None):
            msg = f"a transfer needs exactly one of number and queue, got number={self.number!r}, queue={self.queue!r}"
            raise ValueError(msg)
        if self.queue is not None and not _QUEUE_NAME.match(self.queue):
            msg = f"a queue name has 1 to 64 letters, digits, spaces or '.:_-', got {self.queue!r}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class VoiceAnswer:
    """What to tell the caller (`text`, Markdown allowed: it is cut down for speech), then either listen
    again, put the caller through (`transfer`), or end the call (`hang_up`)."""

    text: str
    transfer: Transfer | None = None
    hang_up: bool = False

    def __post_init__(self) -> None:
        if self.transfer is not None and self.hang_up:
            msg = f"a voice answer cannot both transfer ({self.transfer}) and hang up"
            raise ValueError(msg)


class VoiceHandler(Protocol):
    """What the composition root provides for calls."""

    async def answer(self, message: InboundMessage) -> VoiceAnswer:
        """Store one caller turn and answer it, within about 10 seconds (Twilio gives up at 15).

        A repeated `provider_message_id` (Twilio retrying the request) must return the same answer without
        asking the agent again. `metadata["transfer_requested"] == "true"` means the caller pressed 0: answer
        with the transfer (a `Dial` to an assigned person or the skill's queue); without one the caller goes
        to the default queue. Raise on failure: the caller then hears an apology and is put through to a
        person.
        """
        ...


def call_thread_keys(
    call: VoiceRequest, *, reopen_within: dt.timedelta | None = dt.timedelta(hours=24)
) -> tuple[ThreadKey, ...]:
    """The keys of a call's conversation: the call itself, then (for a known number) the caller's open
    conversation with this number of ours that was active within `reopen_within`."""
    keys = [ThreadKey(f"twilio:voice-call:{call.call_sid}")]
    if call.identified:
        keys.append(ThreadKey(f"twilio:voice:{call.caller}:{call.called}", open_only=True, max_age=reopen_within))
    return tuple(keys)


def turn_message(
    call: VoiceRequest,
    state: TurnState,
    text: str,
    *,
    transfer_requested: bool = False,
    reopen_within: dt.timedelta | None = dt.timedelta(hours=24),
) -> InboundMessage:
    """The caller's turn as an `InboundMessage` on channel `voice`, idempotent on `CallSid:turn`."""
    metadata = {"call_sid": call.call_sid, "turn": str(state.turn)}
    if call.confidence is not None:
        metadata["speech_confidence"] = f"{call.confidence:.3f}"
    if state.reasks:
        metadata["reasks"] = str(state.reasks)
    if state.offered_text:
        metadata["offered_text_details"] = "true"
    if transfer_requested:
        metadata["transfer_requested"] = "true"
    return InboundMessage(
        channel="voice",
        sender=call.caller,
        text=text,
        provider_message_id=f"{call.call_sid}:{state.turn}",
        thread_keys=call_thread_keys(call, reopen_within=reopen_within),
        recipient=call.called,
        metadata=metadata,
        received_at=utc_now(),
    )

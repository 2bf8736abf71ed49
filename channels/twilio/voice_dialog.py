"""The spoken side of a call: TwiML for the greeting, each answer, re-asks, silences and transfers.

Speech recognition is pinned (model and language are constructor arguments) because Twilio changes its
defaults. Each `<Gather>` accepts speech or one key and posts to its action URL even when nothing was said,
so silences are counted here. Low recognition confidence asks the caller to repeat before the agent is asked.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

from channels.messages import InboundMessage
from channels.twilio.formatting import speech_text
from channels.twilio.voice import (
    TRANSFER_DIGIT,
    Transfer,
    TurnState,
    VoiceAnswer,
    VoiceHandler,
    VoiceRequest,
    turn_message,
)

logger = logging.getLogger(__name__)

ActionUrl = Callable[[TurnState], str]
"""Builds the public URL of the next `<Gather>` action for a turn state."""
DialActionUrl = Callable[[str], str]
"""Builds the public URL Twilio posts to when a `<Dial>` ends, given the queue to fall back on."""


@dataclass(frozen=True, slots=True)
class VoicePrompts:
    """Everything the call says that does not come from the agent."""

    greeting: str = (
        "Hello, thanks for calling. How can I help you today? You can press 0 at any time to speak to a person."
    )
    reprompt: str = "Sorry, I didn't hear anything. How can I help you?"
    not_understood: str = "Sorry, I didn't catch that. Could you say it again?"
    text_offer: str = "I can send you the details by text message if you like."
    goodbye: str = "Thank you for calling. Goodbye."
    connecting: str = "Let me put you through to a colleague."
    queue_fallback: str = "Nobody could take your call just now, so I'm putting you through to the next free colleague."
    trouble: str = "Sorry, I'm having trouble answering right now."
    pressed_transfer: str = "The caller pressed 0 to speak to a person."


class VoiceDialog:
    """Decides each step of a call and writes its TwiML.

    `language` and `speech_model` pin Twilio's recogniser (`phone_call` suits phone audio); `voice` picks the
    text-to-speech voice (Twilio's default when None). Answers are cut to `max_sentences` sentences and
    `max_chars` characters, then offer a text message. A recognition `Confidence` below `min_confidence`
    is asked again up to `max_reasks` times; `max_silences` silences in a row end the call. A caller with no
    assigned person is transferred to `default_queue`.
    """

    def __init__(
        self,
        *,
        language: str = "en-US",
        speech_model: str = "phone_call",
        voice: str | None = None,
        speech_timeout: str | int = "auto",
        input_timeout: int = 5,
        hints: Sequence[str] = (),
        min_confidence: float = 0.4,
        max_reasks: int = 2,
        max_silences: int = 3,
        max_chars: int = 450,
        max_sentences: int = 3,
        default_queue: str = "support",
        queue_wait_url: str | None = None,
        reopen_within: dt.timedelta | None = dt.timedelta(hours=24),
        prompts: VoicePrompts | None = None,
    ) -> None:
        if not 0 <= min_confidence <= 1:
            msg = f"min_confidence is a recognition confidence between 0 and 1, got {min_confidence}"
            raise ValueError(msg)
        if max_silences < 1 or max_reasks < 0:
            msg = f"max_silences must be at least 1 and max_reasks at least 0, got {max_silences} and {max_reasks}"
            raise ValueError(msg)
        if speech_timeout != "auto" and not (isinstance(speech_timeout, int) and speech_timeout > 0):
            msg = f"speech_timeout is 'auto' or a positive number of seconds, got {speech_timeout!r}"
            raise ValueError(msg)
        if not language or not speech_model:
            msg = f"pin the recogniser: language and speech_model must be set, got {language!r} and {speech_model!r}"
            raise ValueError(msg)
        self.language = language
        self.speech_model = speech_model
        self.voice = voice
        self.speech_timeout = speech_timeout
        self.input_timeout = input_timeout
        self.hints = tuple(hints)
        self.min_confidence = min_confidence
        self.max_reasks = max_reasks
        self.max_silences = max_silences
        self.max_chars = max_chars
        self.max_sentences = max_sentences
        self.default_queue = default_queue
        self.queue_wait_url = queue_wait_url
        self.reopen_within = reopen_within
        self.prompts = prompts or VoicePrompts()
        Transfer(queue=default_queue)  # validates the queue name now rather than mid-call

    # -- TwiML pieces ------------------------------------------------------------------------------------------

    def _say(self, parent: VoiceResponse, text: str) -> None:
        parent.say(text, voice=self.voice, language=self.language)

    def _listen(self, text: str, action: str) -> str:
        response = VoiceResponse()
        gather = response.gather(
            input="speech dtmf",
            action=action,
            method="POST",
            language=self.language,
            speech_model=self.speech_model,
            speech_timeout=self.speech_timeout,
            timeout=self.input_timeout,
            num_digits=1,
            action_on_empty_result=True,
            hints=", ".join(self.hints) or None,
        )
        self._say(gather, text)
        return str(response)

    def _hang_up(self, text: str) -> str:
        response = VoiceResponse()
        self._say(response, text)
        response.hangup()
        return str(response)

    def _transfer(self, text: str, transfer: Transfer, dial_action: DialActionUrl | None) -> str:
        response = VoiceResponse()
        self._say(response, text)
        if transfer.number is not None:
            action = dial_action(self.default_queue) if dial_action is not None else None
            dial = response.dial(action=action, method="POST" if action else None, caller_id=transfer.caller_id)
            dial.number(transfer.number)
        else:
            response.enqueue(transfer.queue, wait_url=transfer.wait_url or self.queue_wait_url)
        return str(response)

    # -- steps -------------------------------------------------------------------------------------------------

    def greet(self, action: ActionUrl) -> str:
        """TwiML that answers an incoming call: the greeting inside the first `<Gather>`."""
        return self._listen(self.prompts.greeting, action(TurnState()))

    def speak(
        self, answer: VoiceAnswer, state: TurnState, action: ActionUrl, dial_action: DialActionUrl | None = None
    ) -> str:
        """TwiML for the agent's answer: said briefly, then listen again, transfer or hang up."""
        speech = speech_text(answer.text, max_chars=self.max_chars, max_sentences=self.max_sentences)
        if answer.transfer is not None:
            return self._transfer(speech.text or self.prompts.connecting, answer.transfer, dial_action)
        if answer.hang_up:
            return self._hang_up(speech.text or self.prompts.goodbye)
        offer = speech.truncated or not speech.text
        text = f"{speech.text} {self.prompts.text_offer}".strip() if offer else speech.text
        return self._listen(text, action(state.next_turn(offered_text=offer)))

    async def respond(
        self,
        call: VoiceRequest,
        state: TurnState,
        handler: VoiceHandler,
        action: ActionUrl,
        dial_action: DialActionUrl | None = None,
    ) -> str:
        """TwiML for the caller's turn: a transfer on 0, a re-prompt on silence, a re-ask when unclear, else the
        handler's answer."""
        if call.digits == TRANSFER_DIGIT:
            message = turn_message(
                call, state, self.prompts.pressed_transfer, transfer_requested=True, reopen_within=self.reopen_within
            )
            answer = await self._ask(handler, message)
            if answer is None:
                return self._transfer(self.prompts.trouble, self._default_transfer(), dial_action)
            transfer = answer.transfer or self._default_transfer()
            return self.speak(VoiceAnswer(answer.text, transfer=transfer), state, action, dial_action)
        if call.speech is None and call.digits is None:
            if state.silences + 1 >= self.max_silences:
                return self._hang_up(self.prompts.goodbye)
            return self._listen(self.prompts.reprompt, action(state.after_silence()))
        unclear = call.speech is None or (call.confidence is not None and call.confidence < self.min_confidence)
        if unclear and state.reasks < self.max_reasks:
            return self._listen(self.prompts.not_understood, action(state.after_reask()))
        if call.speech is None:  # only keys other than 0, again and again: a person will sort it out
            return self._transfer(self.prompts.connecting, self._default_transfer(), dial_action)
        answer = await self._ask(handler, turn_message(call, state, call.speech, reopen_within=self.reopen_within))
        if answer is None:
            return self._transfer(self.prompts.trouble, self._default_transfer(), dial_action)
        return self.speak(answer, state, action, dial_action)

    def after_dial(self, dial_status: str | None, queue: str | None) -> str:
        """TwiML once a `<Dial>` to a person ended: hang up after a completed call, else queue the caller."""
        if dial_status in ("completed", "answered"):
            response = VoiceResponse()
            response.hangup()
            return str(response)
        transfer = Transfer(queue=queue or self.default_queue, wait_url=self.queue_wait_url)
        return self._transfer(self.prompts.queue_fallback, transfer, None)

    def _default_transfer(self) -> Transfer:
        return Transfer(queue=self.default_queue, wait_url=self.queue_wait_url)

    async def _ask(self, handler: VoiceHandler, message: InboundMessage) -> VoiceAnswer | None:
        try:
            return await handler.answer(message)
        except Exception:  # the caller must not hear Twilio's "application error": apologise and transfer
            logger.exception("the voice handler failed on %s; transferring the caller", message.provider_message_id)
            return None

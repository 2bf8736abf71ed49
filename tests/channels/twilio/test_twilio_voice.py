"""Phone calls: the TwiML for each step, parsed back as XML, and the messages the handler receives."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest

from channels.messages import InboundMessage, ThreadKey
from channels.twilio import (
    MalformedWebhookError,
    Transfer,
    TurnState,
    VoiceAnswer,
    VoiceDialog,
    VoiceRequest,
    parse_voice_request,
)
from channels.twilio.voice import call_thread_keys

CALL = "CA" + "1" * 32
CALLER = "+15551230001"
OURS = "+15005550006"
ACTION_BASE = "https://support.example.com/twilio/voice/turn"


class Handler:
    """Answers with what the test scripts; records what it was asked."""

    def __init__(self, answer: VoiceAnswer | None = None, error: Exception | None = None) -> None:
        self.answer_with = answer or VoiceAnswer("Refunds take 5 business days [1].")
        self.error = error
        self.messages: list[InboundMessage] = []

    async def answer(self, message: InboundMessage) -> VoiceAnswer:
        self.messages.append(message)
        if self.error is not None:
            raise self.error
        return self.answer_with


def action(state: TurnState) -> str:
    return f"{ACTION_BASE}?{'&'.join(f'{k}={v}' for k, v in state.query().items())}"


def dial_action(queue: str) -> str:
    return f"https://support.example.com/twilio/voice/dialed?queue={queue}"


def parse(twiml: str) -> ET.Element:
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    return root


def state_of(url: str) -> TurnState:
    return TurnState.from_query({k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()})


def call(**kw: object) -> VoiceRequest:
    return VoiceRequest(call_sid=CALL, caller=CALLER, called=OURS, **kw)  # type: ignore[arg-type]


def test_the_greeting_gathers_speech_and_a_key_with_pinned_recognition() -> None:
    dialog = VoiceDialog(language="en-GB", speech_model="phone_call", hints=("refund", "warranty"))
    root = parse(dialog.greet(action))
    [gather] = list(root)
    assert gather.tag == "Gather"
    assert gather.attrib == {
        "input": "speech dtmf",
        "speechModel": "phone_call",
        "language": "en-GB",
        "speechTimeout": "auto",
        "numDigits": "1",
        "timeout": "5",
        "action": action(TurnState()),
        "method": "POST",
        "actionOnEmptyResult": "true",
        "hints": "refund, warranty",
    }
    [say] = list(gather)
    assert say.tag == "Say" and say.attrib["language"] == "en-GB"
    assert "press 0" in (say.text or "")


async def test_an_answer_is_said_briefly_then_the_call_listens_again() -> None:
    long_answer = (
        "**Refunds** take *5 business days* [1]. See [our policy](https://help.example.com/refunds) for details [2]. "
        "You can also visit https://help.example.com/contact. A fourth sentence adds more. And a fifth one too."
    )
    handler = Handler(VoiceAnswer(long_answer))
    dialog = VoiceDialog()
    twiml = await dialog.respond(
        call(speech="how long do refunds take", confidence=0.93), TurnState(turn=2), handler, action
    )
    [gather] = list(parse(twiml))
    said = gather.find("Say")
    assert said is not None and said.text is not None
    assert said.text.startswith(
        "Refunds take 5 business days. See our policy for details. You can also visit our website."
    )
    assert said.text.endswith(dialog.prompts.text_offer)
    assert "http" not in said.text and "[" not in said.text and "*" not in said.text
    assert len(said.text) <= 450 + len(dialog.prompts.text_offer) + 1
    assert state_of(gather.attrib["action"]) == TurnState(turn=3, offered_text=True)
    [message] = handler.messages
    assert (message.channel, message.text, message.provider_message_id) == (
        "voice",
        "how long do refunds take",
        f"{CALL}:2",
    )
    assert message.metadata["speech_confidence"] == "0.930"


async def test_a_short_answer_offers_nothing_more() -> None:
    dialog = VoiceDialog()
    twiml = await dialog.respond(
        call(speech="parking?", confidence=0.8), TurnState(), Handler(VoiceAnswer("Yes, parking is free.")), action
    )
    gather = parse(twiml).find("Gather")
    assert gather is not None
    assert [say.text for say in gather] == ["Yes, parking is free."]
    assert state_of(gather.attrib["action"]) == TurnState(turn=2)


async def test_low_confidence_asks_again_without_the_agent() -> None:
    handler = Handler()
    dialog = VoiceDialog(min_confidence=0.5, max_reasks=1)
    state = TurnState(turn=4)
    twiml = await dialog.respond(call(speech="refund the fridge", confidence=0.21), state, handler, action)
    gather = parse(twiml).find("Gather")
    assert gather is not None and handler.messages == []
    assert [say.text for say in gather] == [dialog.prompts.not_understood]
    again = state_of(gather.attrib["action"])
    assert again == TurnState(turn=4, reasks=1)
    await dialog.respond(call(speech="refund the bike", confidence=0.3), again, handler, action)
    [message] = handler.messages  # the re-asks are spent: the agent gets its best guess
    assert (message.text, message.provider_message_id, message.metadata["reasks"]) == (
        "refund the bike",
        f"{CALL}:4",
        "1",
    )


async def test_silence_prompts_again_then_says_goodbye() -> None:
    handler = Handler()
    dialog = VoiceDialog(max_silences=2)
    twiml = await dialog.respond(call(), TurnState(turn=2), handler, action)
    gather = parse(twiml).find("Gather")
    assert gather is not None
    assert [say.text for say in gather] == [dialog.prompts.reprompt]
    assert state_of(gather.attrib["action"]) == TurnState(turn=2, silences=1)
    root = parse(await dialog.respond(call(), TurnState(turn=2, silences=1), handler, action))
    assert [(child.tag, child.text) for child in root] == [("Say", dialog.prompts.goodbye), ("Hangup", None)]
    assert handler.messages == []


async def test_pressing_0_without_an_assigned_person_enqueues_on_the_default_queue() -> None:
    handler = Handler(VoiceAnswer(""))
    dialog = VoiceDialog(default_queue="support", queue_wait_url="https://support.example.com/hold.xml")
    root = parse(await dialog.respond(call(digits="0"), TurnState(turn=3), handler, action, dial_action))
    assert [child.tag for child in root] == ["Say", "Enqueue"]
    assert root[0].text == dialog.prompts.connecting
    enqueue = root[1]
    assert (enqueue.text, enqueue.attrib["waitUrl"]) == ("support", "https://support.example.com/hold.xml")
    [message] = handler.messages
    assert message.metadata["transfer_requested"] == "true"
    assert message.provider_message_id == f"{CALL}:3"


async def test_a_transfer_to_the_skill_queue() -> None:
    answer = VoiceAnswer("I'll connect you with our billing team.", transfer=Transfer(queue="billing"))
    root = parse(await VoiceDialog().respond(call(digits="0"), TurnState(), Handler(answer), action))
    assert [(child.tag, child.text) for child in root] == [
        ("Say", "I'll connect you with our billing team."),
        ("Enqueue", "billing"),
    ]


async def test_a_caller_asking_for_a_person_is_dialled_through_to_the_assigned_human() -> None:
    answer = VoiceAnswer("Connecting you to Maria.", transfer=Transfer(number="+15557654321", caller_id=OURS))
    handler = Handler(answer)
    root = parse(
        await VoiceDialog().respond(
            call(speech="I want a human", confidence=0.9), TurnState(), handler, action, dial_action
        )
    )
    assert [child.tag for child in root] == ["Say", "Dial"]
    dial = root[1]
    assert dial.attrib["action"] == dial_action("support") and dial.attrib["callerId"] == OURS
    [number] = list(dial)
    assert (number.tag, number.text) == ("Number", "+15557654321")
    assert handler.messages[0].text == "I want a human"


def test_after_a_dial_nobody_answered_the_caller_is_queued() -> None:
    dialog = VoiceDialog()
    root = parse(dialog.after_dial("no-answer", "billing"))
    assert [(child.tag, child.text) for child in root] == [
        ("Say", dialog.prompts.queue_fallback),
        ("Enqueue", "billing"),
    ]
    assert [child.tag for child in parse(dialog.after_dial("completed", "billing"))] == ["Hangup"]


async def test_a_failing_handler_apologises_and_transfers() -> None:
    dialog = VoiceDialog()
    root = parse(
        await dialog.respond(
            call(speech="hello", confidence=0.9), TurnState(), Handler(error=RuntimeError("db down")), action
        )
    )
    assert [(child.tag, child.text) for child in root] == [("Say", dialog.prompts.trouble), ("Enqueue", "support")]


async def test_the_handler_can_end_the_call() -> None:
    root = parse(
        await VoiceDialog().respond(
            call(speech="that's all", confidence=0.9), TurnState(), Handler(VoiceAnswer("Bye!", hang_up=True)), action
        )
    )
    assert [(child.tag, child.text) for child in root] == [("Say", "Bye!"), ("Hangup", None)]


def test_the_webhook_form_is_parsed() -> None:
    form = {
        "CallSid": CALL,
        "From": CALLER,
        "To": OURS,
        "SpeechResult": "hi",
        "Confidence": "0.87",
        "CallStatus": "in-progress",
    }
    request = parse_voice_request(form)
    assert (request.speech, request.confidence, request.digits, request.call_status) == (
        "hi",
        0.87,
        None,
        "in-progress",
    )
    with pytest.raises(MalformedWebhookError, match="Confidence"):
        parse_voice_request({**form, "Confidence": "high"})
    with pytest.raises(MalformedWebhookError, match="'CallSid'"):
        parse_voice_request({"From": CALLER, "To": OURS})


def test_turn_state_from_a_tampered_query_is_refused() -> None:
    assert TurnState.from_query({}) == TurnState()
    with pytest.raises(MalformedWebhookError):
        TurnState.from_query({"turn": "x"})
    with pytest.raises(MalformedWebhookError):
        TurnState.from_query({"turn": "0"})


def test_thread_keys_tie_a_call_and_never_anonymous_callers() -> None:
    keys = call_thread_keys(call(), reopen_within=dt.timedelta(hours=2))
    assert keys == (
        ThreadKey(f"twilio:voice-call:{CALL}"),
        ThreadKey(f"twilio:voice:{CALLER}:{OURS}", open_only=True, max_age=dt.timedelta(hours=2)),
    )
    anonymous = VoiceRequest(call_sid=CALL, caller="+266696687", called=OURS)
    assert call_thread_keys(anonymous) == (ThreadKey(f"twilio:voice-call:{CALL}"),)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"speech_model": ""}, "pin the recogniser"),
        ({"speech_timeout": "later"}, "speech_timeout"),
        ({"default_queue": "no/slashes"}, "queue name"),
    ],
)
def test_bad_dialog_settings_are_refused(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        VoiceDialog(**kwargs)  # type: ignore[arg-type]


def test_a_transfer_needs_one_target() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Transfer()
    with pytest.raises(ValueError, match="exactly one"):
        Transfer(number="+15550000000", queue="support")

"""The web chat's frames: what the client may send, and how bad frames are refused with a reason."""

from __future__ import annotations

import json

import pytest

from channels.messages import Link
from channels.webchat import protocol
from channels.webchat.protocol import HumanFrame, MessageFrame, ProtocolError, RatingFrame, TypingFrame


def test_each_client_frame_parses() -> None:
    message = protocol.parse_client_frame('{"type": "message", "id": "m-1", "text": "Hi there"}')
    assert message == MessageFrame(type="message", id="m-1", text="Hi there")
    assert isinstance(protocol.parse_client_frame('{"type": "human"}'), HumanFrame)
    rating = protocol.parse_client_frame(b'{"type": "rating", "score": 4, "comment": "quick"}')
    assert isinstance(rating, RatingFrame) and rating.score == 4 and rating.comment == "quick"
    assert isinstance(protocol.parse_client_frame('{"type": "typing", "extra": 1}'), TypingFrame)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "dance"}', "invalid 'dance' frame"),
        ('{"text": "hi"}', "invalid 'untyped' frame"),
        ('{"type": "message", "text": "hi"}', "id: Field required"),
        ('{"type": "message", "id": "has space", "text": "hi"}', "id: String should match"),
        ('{"type": "message", "id": "m", "text": "   "}', "blank"),
        (json.dumps({"type": "message", "id": "m", "text": "x" * 4001}), "at most 4000"),
        ('{"type": "rating", "score": 6}', "score: Input should be less than or equal to 5"),
        ('{"type": "rating", "score": 0}', "greater than or equal to 1"),
        ("x" * 20_000, "at most 16384 are accepted"),
    ],
)
def test_bad_frames_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        protocol.parse_client_frame(raw)


def test_answers_lose_their_markers_and_list_each_source_once() -> None:
    links = (Link("Stores", "https://x.example/stores"), Link("Stores", "https://x.example/stores"), Link("Hours"))
    frame = protocol.reply(
        "m-1",
        "We are at 45 Harbour Road [1]. Open daily [1, 2].",
        links,
        message_id=7,
        customer_message_id=6,
        escalated=False,
    )
    assert frame["text"] == "We are at 45 Harbour Road. Open daily."
    assert frame["citations"] == [
        {"title": "Stores", "url": "https://x.example/stores"},
        {"title": "Hours", "url": None},
    ]
    assert protocol.delta("m-1", "Road [2] ")["text"] == "Road "
    human = protocol.delivered("human_message", "human-3", "See [1] in the manual", ())
    assert human["text"] == "See [1] in the manual", "a person's text is shown as written"

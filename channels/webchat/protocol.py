"""The web chat's wire protocol: JSON frames on the WebSocket (and, the same shapes, as server-sent events).

Client to server:

- `{"type": "auth", "token": "..."}`: the visitor token, as the first frame (or `?token=` on the URL).
- `{"type": "message", "id": "<client message id>", "text": "..."}`: a visitor's message. The id makes a
  retry safe: the same id is stored and answered once, a retry gets the stored answer.
- `{"type": "human"}`: ask for a person.
- `{"type": "rating", "score": 1..5, "comment": "..."}`: rate the conversation (the latest rating counts).
- `{"type": "typing"}`: the visitor is typing.

Server to client:

- `hello`: the conversation's `status`, a `notice` while a person is awaited, the latest `rating` and the
  `history` (oldest first). Sent on every (re)connection; the widget redraws from it.
- `typing`: `who` (`agent` or `human`) is writing; `delta`: a piece of the answer to message `id`;
  `reply`: the whole answer to message `id` with its `citations` (`title`, `url`).
- `customer_message`: a message the visitor sent from another window of the same conversation.
- `human_message`, `agent_message`, `notice`: a message delivered later through the outbox (a person's
  reply; an answer finished after a restart; a system notice).
- `status`: the conversation changed hands (`escalated`: waiting for a person), with the `reason`, a `text`
  for the transcript and a short `notice` to show while it lasts.
- `rated`: the rating was stored. `error`: `code` and a human-readable `reason` (and the message `id`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from channels.messages import Link

MAX_TEXT = 4000
MAX_COMMENT = 1000
MAX_FRAME_BYTES = 16_384
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
_MARKER = re.compile(r"(?<!\s)\s*\[\d{1,2}(?:\s*,\s*\d{1,2})*\]")  # tried from a blank run's start: linear

Frame = dict[str, Any]


class ProtocolError(ValueError):
    """A client frame that is not valid JSON or not a known, well-formed frame."""


def _not_blank(value: str) -> str:
    if not value.strip():
        msg = "the message is blank"
        raise ValueError(msg)
    return value


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class MessageFrame(_Frame):
    """A visitor's message."""

    type: Literal["message"]
    id: str = Field(pattern=CLIENT_ID_PATTERN)
    text: str = Field(min_length=1, max_length=MAX_TEXT)

    _blank = field_validator("text")(_not_blank)


class HumanFrame(_Frame):
    """The visitor asks for a person."""

    type: Literal["human"]


class RatingFrame(_Frame):
    """The visitor rates the conversation."""

    type: Literal["rating"]
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


class TypingFrame(_Frame):
    """The visitor is typing."""

    type: Literal["typing"]


ClientFrame = Annotated[MessageFrame | HumanFrame | RatingFrame | TypingFrame, Field(discriminator="type")]
_CLIENT_FRAME: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


def parse_client_frame(raw: str | bytes) -> MessageFrame | HumanFrame | RatingFrame | TypingFrame:
    """One client frame, or `ProtocolError` naming what is wrong with it."""
    if len(raw) > MAX_FRAME_BYTES:
        msg = f"the frame has {len(raw)} bytes; at most {MAX_FRAME_BYTES} are accepted"
        raise ProtocolError(msg)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        msg = f"the frame is not valid JSON: {exc}"
        raise ProtocolError(msg) from exc
    if not isinstance(data, dict):
        msg = f"a frame is a JSON object with a 'type', got {type(data).__name__}"
        raise ProtocolError(msg)
    try:
        return _CLIENT_FRAME.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'frame'}: {err['msg']}" for err in exc.errors()
        )
        msg = f"invalid {data.get('type', 'untyped')!r} frame: {problems}"
        raise ProtocolError(msg) from exc


def strip_markers(text: str) -> str:
    """Text without its `[n]` citation markers (the widget lists the sources under the answer instead)."""
    return _MARKER.sub("", text)


def links_json(links: Sequence[Link]) -> list[Frame]:
    """Citations as the widget shows them: each source once, in order."""
    seen: set[tuple[str, str | None]] = set()
    shown: list[Frame] = []
    for link in links:
        key = (link.title, link.url)
        if key not in seen:
            seen.add(key)
            shown.append({"title": link.title, "url": link.url})
    return shown


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One message of the conversation as the visitor sees it."""

    id: int
    role: Literal["customer", "agent", "human", "system"]
    text: str
    created_at: dt.datetime
    citations: tuple[Link, ...] = ()
    client_id: str | None = None

    def as_json(self) -> Frame:
        """The item as a JSON object."""
        data: Frame = {
            "id": self.id,
            "role": self.role,
            "text": strip_markers(self.text) if self.role == "agent" else self.text,
            "created_at": self.created_at.isoformat(),
            "citations": links_json(self.citations),
        }
        if self.client_id is not None:
            data["client_id"] = self.client_id
        return data


def hello(
    conversation_id: str, status: str, history: Sequence[HistoryItem], *, notice: str | None, rating: int | None
) -> Frame:
    """The first frame on every connection."""
    return {
        "type": "hello",
        "conversation_id": conversation_id,
        "status": status,
        "notice": notice,
        "rating": rating,
        "history": [item.as_json() for item in history],
    }


def typing(who: Literal["agent", "human"], *, active: bool = True) -> Frame:
    """Someone on our side is writing."""
    return {"type": "typing", "who": who, "active": active}


def customer_message(client_id: str, text: str) -> Frame:
    """The visitor's own message, for the conversation's other windows."""
    return {"type": "customer_message", "id": client_id, "text": text}


def delta(client_id: str, text: str) -> Frame:
    """A piece of the answer to message `client_id`."""
    return {"type": "delta", "id": client_id, "text": strip_markers(text)}


def reply(
    client_id: str,
    text: str,
    citations: Sequence[Link],
    *,
    message_id: int | None,
    customer_message_id: int | None,
    escalated: bool,
) -> Frame:
    """The whole answer to message `client_id` (`message_id` is the stored answer's id)."""
    return {
        "type": "reply",
        "id": client_id,
        "message_id": message_id,
        "customer_message_id": customer_message_id,
        "text": strip_markers(text),
        "citations": links_json(citations),
        "escalated": escalated,
    }


def delivered(
    kind: Literal["human_message", "agent_message", "notice"], message_id: str, text: str, citations: Sequence[Link]
) -> Frame:
    """A message delivered through the outbox."""
    shown = strip_markers(text) if kind == "agent_message" else text
    return {"type": kind, "message_id": message_id, "text": shown, "citations": links_json(citations)}


def status(state: str, *, reason: str | None = None, text: str | None = None, notice: str | None = None) -> Frame:
    """The conversation's status changed: `text` is a message for the transcript, `notice` a short line for
    as long as the status lasts."""
    return {"type": "status", "status": state, "reason": reason, "text": text, "notice": notice}


def rated(score: int) -> Frame:
    """The rating was stored."""
    return {"type": "rated", "score": score}


def error(code: str, reason: str, *, client_id: str | None = None) -> Frame:
    """Something the client sent could not be handled."""
    frame: Frame = {"type": "error", "code": code, "reason": reason}
    if client_id is not None:
        frame["id"] = client_id
    return frame

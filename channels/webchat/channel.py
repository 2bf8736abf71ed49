"""`WebchatChannel`: delivers replies from the outbox (a person's answer, say) to the visitor's open windows.

A web chat has no provider that stores messages for the visitor: the conversation's history is the mailbox,
and the widget loads it on every (re)connection. So a reply counts as delivered once it is stored, which
the outbox guarantees before it calls `send`: pushed at once to every window the visitor has open, or, when
none is open, shown the next time the visitor opens the chat. Retrying a push to a window that does not
exist would gain nothing, and marking the reply failed would alarm the team about a visitor who merely left.
The `Delivery.note` says which of the two happened.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from channels.messages import Delivery, OutboundMessage
from channels.webchat import protocol
from channels.webchat.hub import WebchatHub
from channels.webchat.relay import LocalRelay, Relay

OFFLINE_NOTE = "visitor offline: kept in the conversation history, shown when the chat is next opened"
RELAYED_NOTE = "published to every worker's open chat windows; kept in the conversation history"
RELAYED = -1  # remembered for a reply published through a relay (windows on other workers are not counted)

_KINDS: dict[str, Literal["human_message", "agent_message", "notice"]] = {
    "human": "human_message",
    "agent": "agent_message",
    "system": "notice",
}


class WebchatChannel:
    """The web chat `Channel`: pushes outbox replies to the visitor's open windows through the hub."""

    def __init__(self, hub: WebchatHub, *, name: str = "webchat", relay: Relay | None = None) -> None:
        if not name:
            msg = "a channel needs a name"
            raise ValueError(msg)
        self.hub = hub
        self.relay: Relay = relay or LocalRelay(hub)
        self._name = name

    @property
    def name(self) -> str:
        """`webchat`, as its conversations record it."""
        return self._name

    async def send(self, message: OutboundMessage) -> Delivery:
        """Push the reply to the visitor's open windows; with none open it waits in the history."""
        frame = protocol.delivered(_KINDS[message.author], message.message_id, message.text, message.citations)
        windows = await self.relay.publish(message.conversation_id, frame)
        self.hub.remember_delivery(message.message_id, RELAYED if windows is None else windows)
        return Delivery(provider_message_ids=(f"{self._name}:{message.message_id}",), note=_note(windows))

    async def find_delivered(self, message: OutboundMessage, since: dt.datetime) -> Delivery | None:
        """The delivery of this reply if this process pushed it already (so it is not pushed twice)."""
        windows = self.hub.delivered_to(message.message_id)
        if windows is None:
            return None
        return Delivery(provider_message_ids=(f"{self._name}:{message.message_id}",), note=_note(windows))


def _note(windows: int | None) -> str:
    if windows is None or windows == RELAYED:
        return RELAYED_NOTE
    return f"shown in {windows} open chat window{'s' if windows != 1 else ''}" if windows else OFFLINE_NOTE

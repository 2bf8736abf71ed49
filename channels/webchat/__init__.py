"""The web chat channel: a widget on the customer's site talks to Frontdesk over a WebSocket (REST fallback).

- `tokens`: visitor tokens, HMAC-signed, binding a visitor to one conversation (`VisitorTokens`);
- `protocol`: the JSON frames both ways and their limits;
- `hub`: the open browser windows of each conversation (`WebchatHub`);
- `channel`: `WebchatChannel`, the `Channel` that pushes outbox replies to those windows;
- `static/`: the embeddable widget (`widget.js`, `widget.css`), plain JavaScript with no build step.
"""

from pathlib import Path

from channels.webchat.channel import WebchatChannel
from channels.webchat.hub import Connection, ConnectionGone, WebchatHub
from channels.webchat.protocol import ProtocolError, parse_client_frame
from channels.webchat.tokens import TokenError, VisitorSession, VisitorTokens, load_or_create_secret, new_visitor_id

STATIC_DIR = Path(__file__).with_name("static")

__all__ = [
    "STATIC_DIR",
    "Connection",
    "ConnectionGone",
    "ProtocolError",
    "TokenError",
    "VisitorSession",
    "VisitorTokens",
    "WebchatChannel",
    "WebchatHub",
    "load_or_create_secret",
    "new_visitor_id",
    "parse_client_frame",
]

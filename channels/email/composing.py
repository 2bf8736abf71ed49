"""An `OutboundMessage` turned into a MIME e-mail: text and HTML alternatives, threading and loop headers.

The reply's light Markdown (paragraphs, `**bold**`, lists, `[title](url)` links) becomes HTML through
markdown-it with raw HTML disabled, so nothing a model or a customer wrote can inject markup; the text part
keeps the Markdown readable (`title (url)`). Citations close both parts as a numbered "Sources" list that
matches the reply's `[n]` markers.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape

from markdown_it import MarkdownIt

from channels.messages import Link, OutboundMessage

MAX_REFERENCES = 20
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "breaks": True}).disable(
    ["image", "heading", "lheading", "code", "fence", "html_block", "html_inline", "hr"]
)
_MD_LINK = re.compile(r"\[([^\[\]\n]+)\]\(([^()\s]+)\)")
# a bold span is at most 200 characters, so an unclosed "**" never rescans the rest of a long line
_MD_BOLD = re.compile(r"\*\*(?=\S)(.{1,200}?)(?<=\S)\*\*|__(?=\S)(.{1,200}?)(?<=\S)__")
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|vs|antw|odp|res|rif|r)\s*(?:\[\d+\])?\s*[:：]", re.IGNORECASE)
MIN_MESSAGE_ID_SECRET_BYTES = 16
_MESSAGE_ID = re.compile(r"^[^<>\s@]+@[^<>\s@]+$")
_SAFE_URL = re.compile(r"^(?:https?://|mailto:)", re.IGNORECASE)
_HTML_PAGE = (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
    '<body style="font-family: Arial, Helvetica, sans-serif; font-size: 14px; line-height: 1.5; color: #1f2328;">\n'
    "{body}</body></html>\n"
)


def outbound_message_id(message_id: str, domain: str, secret: bytes) -> str:
    """The Message-ID (without brackets) of the reply whose outbox key is `message_id`: the same on every
    attempt, so a reply sent twice after a crash is one message to the customer's mail client, and
    unguessable without the install's `secret` (HMAC-SHA256 of the key, 160 bits in base32), so neither the
    outbox key nor the ids of other customers' replies can be read off or guessed from one we sent."""
    if len(secret) < MIN_MESSAGE_ID_SECRET_BYTES:
        msg = f"the Message-ID secret must have at least {MIN_MESSAGE_ID_SECRET_BYTES} bytes, got {len(secret)}"
        raise ValueError(msg)
    digest = hmac.new(secret, message_id.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return f"{_base32(digest[:20])}@{domain}"


def random_message_id(domain: str) -> str:
    """A fresh `<random@domain>` Message-ID header value for a mail that is never resent (alerts, offers):
    160 bits from `secrets`, unlike `email.utils.make_msgid`, which shows the time and process id and draws
    from the non-cryptographic `random`."""
    return f"<{_base32(secrets.token_bytes(20))}@{domain}>"


def _base32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def reply_subject(subject: str | None, *, replying: bool, default: str) -> str:
    """The subject of a reply: `Re: <subject>` when answering, without stacking a second `Re:`."""
    clean = " ".join((subject or "").split()) or default
    if replying and not _REPLY_PREFIX.match(clean):
        clean = f"Re: {clean}"
    return clean


def render_text(text: str, citations: Sequence[Link] = ()) -> str:
    """The plain-text part: Markdown links as `title (url)`, bold markers dropped, then the sources."""
    body = _MD_LINK.sub(lambda m: m[2] if m[1] == m[2] else f"{m[1]} ({m[2]})", text.strip())
    body = _MD_BOLD.sub(lambda m: m[1] or m[2], body)
    if citations:
        lines = [f"[{n}] {link.title}" + (f": {link.url}" if link.url else "") for n, link in enumerate(citations, 1)]
        body += "\n\nSources:\n" + "\n".join(lines)
    return body + "\n"


def render_html(text: str, citations: Sequence[Link] = ()) -> str:
    """The HTML part: the Markdown rendered safely, then the sources as a numbered list of links."""
    body = _MARKDOWN.render(text.strip())
    if citations:
        items = []
        for link in citations:
            title = escape(link.title)
            if link.url and _SAFE_URL.match(link.url):
                items.append(f'<li><a href="{escape(link.url, quote=True)}">{title}</a></li>')
            else:
                items.append(f"<li>{title}</li>")
        body += '<p style="margin-top: 24px;"><strong>Sources</strong></p>\n<ol>\n' + "\n".join(items) + "\n</ol>\n"
    return _HTML_PAGE.format(body=body)


def thread_ids(in_reply_to: str | None, references: Iterable[str]) -> tuple[str | None, list[str]]:
    """In-Reply-To and References for a reply, as bare ids: ids that are not Message-IDs (a made-up hash)
    are dropped, and the message replied to ends the References chain (RFC 5322, 3.6.4)."""
    chain: list[str] = []
    for value in [*references, *([in_reply_to] if in_reply_to else [])]:
        clean = value.strip().strip("<>")
        if _MESSAGE_ID.match(clean):
            if clean in chain:
                chain.remove(clean)
            chain.append(clean)
    parent = in_reply_to.strip().strip("<>") if in_reply_to else None
    return (parent if parent in chain else None), chain[-MAX_REFERENCES:]


def compose(
    message: OutboundMessage,
    *,
    recipient: str,
    from_address: str,
    from_name: str | None,
    message_id: str,
    now: dt.datetime,
    default_subject: str,
    reply_to: str | None = None,
) -> EmailMessage:
    """The MIME message for `message` to `recipient`; `ValueError` when an address is not valid."""
    parent, chain = thread_ids(message.in_reply_to, message.references)
    mail = EmailMessage()
    mail["From"] = Address(display_name=from_name or "", addr_spec=from_address)
    mail["To"] = Address(addr_spec=recipient)
    mail["Subject"] = reply_subject(message.subject, replying=parent is not None, default=default_subject)
    mail["Date"] = format_datetime(now.astimezone(dt.UTC))
    mail["Message-ID"] = f"<{message_id}>"
    if parent is not None:
        mail["In-Reply-To"] = f"<{parent}>"
    if chain:
        mail["References"] = " ".join(f"<{ref}>" for ref in chain)
    if reply_to:
        mail["Reply-To"] = Address(display_name=from_name or "", addr_spec=reply_to)
    if message.author == "agent":
        mail["Auto-Submitted"] = "auto-replied"
    elif message.author == "system":
        mail["Auto-Submitted"] = "auto-generated"
    if message.author != "human":
        mail["X-Auto-Response-Suppress"] = "OOF, AutoReply"  # asks Exchange not to auto-answer machine mail
    mail.set_content(render_text(message.text, message.citations))
    mail.add_alternative(render_html(message.text, message.citations), subtype="html")
    return mail

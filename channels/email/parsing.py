"""A raw RFC 5322 e-mail (bytes) turned into an `InboundMessage` on the `email` channel.

What the message carries: `sender` is the From address (lowercased; the display name in `sender_name`),
`recipient` the first of our addresses it was delivered to (without a reply token), `subject` the decoded
subject, `text` what the customer just wrote (the text/plain body, else the HTML body as text, without
quoted history and signature; the whole body when nothing is left; the subject when the body is empty),
`attachments` every file and inline image (not the alternative text/HTML bodies), `provider_message_id`
the Message-ID (without brackets), or, when a message has none, a hash of its origin headers and body, so
that the same message delivered twice is still recognised. `thread_keys` (to look up) and `record_keys`
(to record) come from `channels.email.threads`. `metadata` keeps the Message-ID, In-Reply-To, References,
Date, Reply-To and Cc headers, the body format and the whole body text when quotes were cut (`full_text`),
and whether the sender is authenticated: `sender_verified` ("true" or "false") and `sender_verification`
(why), the verdict of the receiving servers named in `trusted_authserv_ids` (`channels.email.authentication`).
Only an authenticated message is threaded by its headers or its subject (`channels.email.threads`).
Broken encodings never raise: unknown charsets and bad bytes are decoded with replacement.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from channels.base import ChannelError
from channels.email.addresses import SupportMailbox, base_address, normalise_address
from channels.email.authentication import sender_verdict
from channels.email.bodies import DEFAULT_LANGUAGES, html_to_text, new_text, tidy
from channels.email.mime import addresses, attachments, body_parts, header, headers, part_text
from channels.email.threads import DEFAULT_SUBJECT_WINDOW, lookup_keys, message_ids, record_keys
from channels.messages import InboundMessage

CHANNEL = "email"
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
MAX_TEXT_CHARS = 100_000
_ORIGIN_HEADERS = ("from", "to", "cc", "date", "subject")


class EmailParseError(ChannelError):
    """Bytes that are not an e-mail we can take: not a message at all, no sender, too big, or nothing in it."""


def read_mime(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> EmailMessage:
    """Parse raw bytes into the stdlib's `EmailMessage` (policy.default), refusing what is not an e-mail."""
    if not isinstance(raw, bytes | bytearray):
        msg = f"a raw e-mail must be bytes, got {type(raw).__name__}"
        raise TypeError(msg)
    if len(raw) > max_bytes:
        msg = f"the message has {len(raw)} bytes, more than the limit of {max_bytes}"
        raise EmailParseError(msg)
    if not raw.strip():
        msg = "the message is empty"
        raise EmailParseError(msg)
    mime = BytesParser(policy=policy.default).parsebytes(bytes(raw))
    if not mime.keys():
        msg = f"not an e-mail: no header found at the start of {bytes(raw[:40])!r}"
        raise EmailParseError(msg)
    return mime


def parse_email(
    raw: bytes,
    mailbox: SupportMailbox,
    *,
    envelope_recipients: Sequence[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    languages: tuple[str, ...] = DEFAULT_LANGUAGES,
    subject_window: dt.timedelta = DEFAULT_SUBJECT_WINDOW,
    trusted_authserv_ids: Sequence[str] = (),
) -> InboundMessage:
    """The `InboundMessage` of a raw e-mail sent to `mailbox`; `EmailParseError` when it cannot be one."""
    mime = read_mime(raw, max_bytes=max_bytes)
    return message_from_mime(
        mime,
        raw,
        mailbox,
        envelope_recipients=envelope_recipients,
        languages=languages,
        subject_window=subject_window,
        trusted_authserv_ids=trusted_authserv_ids,
    )


def message_from_mime(
    mime: EmailMessage,
    raw: bytes,
    mailbox: SupportMailbox,
    *,
    envelope_recipients: Sequence[str] = (),
    languages: tuple[str, ...] = DEFAULT_LANGUAGES,
    subject_window: dt.timedelta = DEFAULT_SUBJECT_WINDOW,
    trusted_authserv_ids: Sequence[str] = (),
) -> InboundMessage:
    """Like `parse_email`, for a message already read with `read_mime` (`raw` is still needed for its hash)."""
    senders = addresses(mime, "From")
    if not senders:
        msg = f"the message has no usable From address (From: {(header(mime, 'From') or '')[:120]!r})"
        raise EmailParseError(msg)
    sender_name, sender = senders[0]
    subject = header(mime, "Subject")
    delivered = [normalise_address(rcpt) for rcpt in envelope_recipients]
    delivered += [address for _, address in addresses(mime, "Delivered-To", "X-Original-To", "To", "Cc")]
    ours = [address for address in delivered if mailbox.receives_for(address)]
    own_id = next(iter(message_ids(header(mime, "Message-ID"))), None)
    in_reply_to = message_ids(" ".join(headers(mime, "In-Reply-To")))
    references = message_ids(" ".join(headers(mime, "References")))
    full, fresh, source = _body_text(mime, languages)
    text = fresh or full or (subject or "")
    trust = sender_verdict(mime, [address for _, address in senders], trusted_authserv_ids)
    metadata: dict[str, str] = {"format": source, **trust.metadata()}
    if len(full) > MAX_TEXT_CHARS or len(text) > MAX_TEXT_CHARS:
        metadata["truncated"] = "true"  # only the first MAX_TEXT_CHARS characters were read
        if len(text) >= MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS] + "\n[...]"
    if full and full != text:
        metadata["full_text"] = full[:MAX_TEXT_CHARS]
    for key, value in (
        ("message_id", own_id),
        ("in_reply_to", " ".join(in_reply_to)),
        ("references", " ".join(references[-20:])),
        ("date", header(mime, "Date")),
    ):
        if value:
            metadata[key] = value
    reply_to = [address for _, address in addresses(mime, "Reply-To") if address != sender]
    if reply_to:
        metadata["reply_to"] = reply_to[0]
    cc = [address for _, address in addresses(mime, "Cc") if not mailbox.receives_for(address)]
    if cc:
        metadata["cc"] = ", ".join(cc)
    files = tuple(attachments(mime, body_parts(mime)))
    if not text.strip() and not files:
        msg = f"the message from {sender!r} has no text, no subject and no attachment"
        raise EmailParseError(msg)
    return InboundMessage(
        channel=CHANNEL,
        sender=sender,
        sender_name=sender_name if sender_name and sender_name.lower() != sender else None,
        text=text,
        subject=subject,
        recipient=base_address(ours[0]) if ours else (delivered[0] if delivered else None),
        provider_message_id=_bounded_id(own_id) if own_id else origin_hash(raw),
        thread_keys=lookup_keys(
            sender=sender,
            subject=subject,
            recipients=delivered,
            in_reply_to=in_reply_to,
            references=references,
            domains=mailbox.domains,
            window=subject_window,
            authenticated=trust.verified,
        ),
        record_keys=record_keys(sender=sender, subject=subject, message_id=own_id, authenticated=trust.verified),
        attachments=files,
        metadata=metadata,
    )


def origin_hash(raw: bytes) -> str:
    """A stable id for a message without Message-ID: the hash of its origin headers and body, which stay the
    same when a relay prepends trace headers (Received, Return-Path, Delivered-To) or changes line endings."""
    data = bytes(raw).replace(b"\r\n", b"\n")
    head, _, body = data.partition(b"\n\n")
    unfolded = re.sub(rb"\n[ \t]+", b" ", head).split(b"\n")
    origin = sorted(line.strip() for line in unfolded if line.split(b":", 1)[0].strip().lower() in _ORIGIN_HEADERS)
    return "sha256:" + hashlib.sha256(b"\n".join(origin) + b"\n\n" + body).hexdigest()


def _bounded_id(message_id: str) -> str:
    return message_id if len(message_id) <= 250 else "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


def _body_text(mime: EmailMessage, languages: tuple[str, ...]) -> tuple[str, str, str]:
    """(full text, new text, "plain" | "html" | "none")."""
    by_type = {part.get_content_type(): part for part in body_parts(mime)}
    plain = tidy(part_text(by_type["text/plain"])) if "text/plain" in by_type else ""
    if plain:
        return plain, new_text(plain, languages=languages), "plain"
    if "text/html" in by_type:
        html = part_text(by_type["text/html"])
        full = html_to_text(html)
        return full, new_text(html_to_text(html, drop_quotes=True), languages=languages), "html"
    return "", "", "none"

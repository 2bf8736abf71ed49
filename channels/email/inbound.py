"""One received e-mail, start to finish: parsed into an `InboundMessage` and checked against mail loops.

This is the function behind both doors mail comes in by: the SMTP listener's stored raw messages and an HTTP
endpoint that accepts a raw MIME message (from a provider's inbound webhook or a mail server's pipe).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from channels.email.addresses import SupportMailbox
from channels.email.bodies import DEFAULT_LANGUAGES
from channels.email.loops import should_ignore
from channels.email.parsing import DEFAULT_MAX_BYTES, EmailParseError, message_from_mime, read_mime
from channels.email.threads import DEFAULT_SUBJECT_WINDOW
from channels.messages import InboundMessage


@dataclass(frozen=True, slots=True)
class InboundEmail:
    """A received e-mail: the message for the inbox (None only for ignorable mail that has no usable
    content, such as a bounce without a From) and why it must not be answered automatically, if it must not."""

    message: InboundMessage | None
    ignore_reason: str | None = None

    @property
    def answerable(self) -> bool:
        """Whether the inbox may answer this message automatically."""
        return self.message is not None and self.ignore_reason is None


def read_inbound_email(
    raw: bytes,
    mailbox: SupportMailbox,
    *,
    envelope_from: str | None = None,
    envelope_recipients: Sequence[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    languages: tuple[str, ...] = DEFAULT_LANGUAGES,
    subject_window: dt.timedelta = DEFAULT_SUBJECT_WINDOW,
    trusted_authserv_ids: Sequence[str] = (),
) -> InboundEmail:
    """Parse a raw e-mail sent to `mailbox` and check it against mail loops.

    `trusted_authserv_ids` name the receiving servers whose Authentication-Results say whether the sender is
    authenticated (`channels.email.authentication`). Pure and synchronous (CPU work: run it in a worker thread
    for large messages). Raises `EmailParseError`
    when the bytes are not an e-mail, or when a message that should be answered has no sender or no content.
    """
    mime = read_mime(raw, max_bytes=max_bytes)
    reason = should_ignore(mime, mailbox, envelope_from=envelope_from)
    try:
        message = message_from_mime(
            mime,
            raw,
            mailbox,
            envelope_recipients=envelope_recipients,
            languages=languages,
            subject_window=subject_window,
            trusted_authserv_ids=trusted_authserv_ids,
        )
    except EmailParseError:
        if reason is None:
            raise
        return InboundEmail(message=None, ignore_reason=reason)
    return InboundEmail(message=message, ignore_reason=reason)

"""The e-mail channel: inbound mail (an SMTP listener or a raw MIME message) to `InboundMessage`s, replies
out through an SMTP relay.

- `read_inbound_email(raw, mailbox)` parses a raw message and checks it against mail loops (`InboundEmail`);
  `parse_email` only parses. Thread keys: `InboundMessage.thread_keys` to look up, `.record_keys` to record
  (rules in `channels.email.threads`).
- `SmtpListener(mailbox, deliver)` receives mail for our domains and hands each raw message to `deliver`.
- `EmailChannel(SmtpSettings(...), mailbox, message_id_secret=...)` sends replies (the `Channel` protocol),
  with unguessable Message-IDs that stay the same on a resend; `random_message_id` for one-off mails.
- `sender_verdict` says whether the From address is authenticated by a trusted receiving server's
  Authentication-Results (`SenderVerdict`); only authenticated mail is threaded by its headers or subject.
- `SenderRateLimiter` brakes automatic replies per sender; `new_reply_token` and `reply_address` build the
  per-conversation Reply-To address.
"""

from channels.email.addresses import SupportMailbox
from channels.email.authentication import SenderVerdict, sender_verdict
from channels.email.composing import random_message_id
from channels.email.inbound import InboundEmail, read_inbound_email
from channels.email.loops import SenderRateLimiter, should_ignore
from channels.email.parsing import DEFAULT_MAX_BYTES, EmailParseError, parse_email, read_mime
from channels.email.sending import EmailChannel, SmtpSecurity, SmtpSettings
from channels.email.smtp_server import DeliverCallback, InboundSmtpHandler, SmtpListener
from channels.email.threads import (
    DEFAULT_SUBJECT_WINDOW,
    lookup_keys,
    message_id_key,
    new_reply_token,
    normalise_subject,
    record_keys,
    reply_address,
    reply_key,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_SUBJECT_WINDOW",
    "DeliverCallback",
    "EmailChannel",
    "EmailParseError",
    "InboundEmail",
    "InboundSmtpHandler",
    "SenderRateLimiter",
    "SenderVerdict",
    "SmtpListener",
    "SmtpSecurity",
    "SmtpSettings",
    "SupportMailbox",
    "lookup_keys",
    "message_id_key",
    "new_reply_token",
    "normalise_subject",
    "parse_email",
    "random_message_id",
    "read_inbound_email",
    "read_mime",
    "record_keys",
    "reply_address",
    "reply_key",
    "sender_verdict",
    "should_ignore",
]

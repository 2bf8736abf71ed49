"""`EmailChannel`: replies delivered through an SMTP relay with aiosmtplib.

Every reply gets a Message-ID derived from its outbox key with the install's secret (HMAC-SHA256, base32, at
the support domain), so a reply sent again after a crash carries the same Message-ID and mail clients show
it once, while no one outside can tell or guess the Message-IDs of our other replies. SMTP cannot be asked
whether it took a message, so `find_delivered` always answers None and relies on that.

Errors become `DeliveryError`s: a refused connection, a timeout, any 4xx answer and problems of our own
configuration (authentication, TLS, a refused sender) are retryable, because nothing is wrong with the reply
and an operator can fix the rest; a 5xx refusal of the recipient or of the message itself is final.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal, get_args

import aiosmtplib

from channels.base import DeliveryError
from channels.email.addresses import SupportMailbox, base_address, is_address, normalise_address
from channels.email.composing import compose, outbound_message_id
from channels.email.threads import message_id_key, reply_key, reply_token
from channels.messages import Delivery, OutboundMessage, ThreadKey, utc_now

log = logging.getLogger(__name__)

SmtpSecurity = Literal["starttls", "tls", "none"]
_DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """How to reach the SMTP relay: `security` is `starttls` (port 587 by default), `tls` (implicit TLS,
    465) or `none` (25, no encryption, for a relay on the same host). `ca_file` trusts a private CA or a
    self-signed relay certificate; `local_hostname` is the EHLO name (default: the support domain)."""

    host: str
    port: int | None = None
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    ca_file: str | None = None
    validate_certs: bool = True
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        if not self.host.strip():
            msg = "the SMTP host is empty"
            raise ValueError(msg)
        if self.security not in get_args(SmtpSecurity):
            msg = f"SMTP security must be one of {get_args(SmtpSecurity)}, got {self.security!r}"
            raise ValueError(msg)
        if self.port is not None and not 0 < self.port < 65536:
            msg = f"the SMTP port must be between 1 and 65535, got {self.port}"
            raise ValueError(msg)
        if (self.username is None) != (self.password is None):
            msg = f"give both an SMTP username and a password, or neither (username={self.username!r})"
            raise ValueError(msg)
        if self.timeout <= 0:
            msg = f"the SMTP timeout must be positive, got {self.timeout}"
            raise ValueError(msg)

    @property
    def effective_port(self) -> int:
        """The configured port, or the usual one for the security mode."""
        return self.port if self.port is not None else _DEFAULT_PORTS[self.security]


class EmailChannel:
    """The `email` channel: sends replies from `mailbox` through the relay in `smtp`.

    `message_id_secret` (16+ bytes, kept across restarts) makes the Message-IDs unguessable and stable.
    `OutboundMessage.sender` picks the From address when it is one of ours (the address the customer wrote
    to); `metadata["reply_to"]` sets the per-conversation Reply-To address (`threads.reply_address`).
    """

    def __init__(
        self,
        smtp: SmtpSettings,
        mailbox: SupportMailbox,
        *,
        message_id_secret: bytes,
        default_subject: str = "Your request",
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        outbound_message_id("check", mailbox.domain, message_id_secret)  # refuses a short secret now
        self.smtp = smtp
        self.mailbox = mailbox
        self._message_id_secret = message_id_secret
        self.default_subject = default_subject
        self._clock = clock

    @property
    def name(self) -> str:
        return "email"

    def message_id_for(self, message: OutboundMessage) -> str:
        """The Message-ID (without brackets) that `message` carries, on every attempt."""
        return outbound_message_id(message.message_id, self.mailbox.domain, self._message_id_secret)

    async def send(self, message: OutboundMessage) -> Delivery:
        """Send one reply; `DeliveryError` when the relay does not take it (see the module docstring)."""
        recipient = normalise_address(message.recipient)
        if not is_address(recipient):
            msg = f"reply {message.message_id!r}: {message.recipient!r} is not an e-mail address"
            raise DeliveryError(msg, retryable=False, code="invalid-recipient")
        reply_to = message.metadata.get("reply_to")
        if reply_to is not None and not is_address(normalise_address(reply_to)):
            msg = f"reply {message.message_id!r}: the Reply-To {reply_to!r} is not an e-mail address"
            raise DeliveryError(msg, retryable=False, code="invalid-reply-to")
        sender = self.mailbox.address
        if message.sender and self.mailbox.is_own(message.sender):
            sender = base_address(message.sender)
        message_id = self.message_id_for(message)
        try:
            mail = compose(
                message,
                recipient=recipient,
                from_address=sender,
                from_name=self.mailbox.display_name,
                message_id=message_id,
                now=self._clock(),
                default_subject=self.default_subject,
                reply_to=normalise_address(reply_to) if reply_to else None,
            )
        except ValueError as exc:
            msg = f"reply {message.message_id!r} to {message.recipient!r} cannot be written as an e-mail: {exc}"
            raise DeliveryError(msg, retryable=False, code="invalid-message") from exc
        await self._transmit(mail, sender, recipient, message.message_id)
        keys: list[ThreadKey] = [message_id_key(message_id)]
        token = reply_token(reply_to, self.mailbox.domains) if reply_to else None
        if token is not None:
            keys.append(reply_key(token))
        return Delivery(provider_message_ids=(message_id,), thread_keys=tuple(keys))

    async def find_delivered(self, message: OutboundMessage, since: dt.datetime) -> Delivery | None:
        """Always None: SMTP keeps no record we could ask. A resend is harmless, though: it carries the same
        Message-ID (`message_id_for`), which mail clients use to show one message."""
        return None

    async def _transmit(self, mail: EmailMessage, sender: str, recipient: str, key: str) -> None:
        smtp = self.smtp
        where = f"{smtp.host}:{smtp.effective_port}"
        try:
            async with asyncio.timeout(smtp.timeout * 4):  # per-command timeouts cannot bound a trickling server
                await aiosmtplib.send(
                    mail,
                    sender=sender,
                    recipients=[recipient],
                    hostname=smtp.host,
                    port=smtp.effective_port,
                    username=smtp.username,
                    password=smtp.password,
                    local_hostname=smtp.local_hostname or self.mailbox.domain,
                    timeout=smtp.timeout,
                    use_tls=smtp.security == "tls",
                    start_tls=smtp.security == "starttls",
                    validate_certs=smtp.validate_certs,
                    cert_bundle=smtp.ca_file,
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            detail = "; ".join(f"{refused.code} {refused.message}" for refused in exc.recipients)
            msg = f"reply {key!r}: {where} refused the recipient {recipient!r}: {detail}"
            raise DeliveryError(msg, retryable=all(code < 500 for code in codes), code=str(codes[0])) from exc
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            msg = f"reply {key!r} to {recipient!r}: {where} answered {exc.code} {exc.message}"
            raise DeliveryError(msg, retryable=exc.code < 500, code=str(exc.code)) from exc
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected) as exc:
            msg = f"reply {key!r}: cannot talk to the SMTP relay {where}: {exc}"
            raise DeliveryError(msg, retryable=True, code="connect") from exc
        except aiosmtplib.SMTPResponseException as exc:  # HELO, AUTH, MAIL FROM: our side's configuration
            msg = f"reply {key!r}: the SMTP relay {where} answered {exc.code} {exc.message}"
            raise DeliveryError(msg, retryable=True, code=str(exc.code)) from exc
        except (aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
            msg = f"reply {key!r}: the SMTP relay {where} timed out after {smtp.timeout} s"
            raise DeliveryError(msg, retryable=True, code="timeout") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:  # TLS not offered, TLS errors, network errors
            msg = f"reply {key!r}: sending through {where} failed: {type(exc).__name__}: {exc}"
            raise DeliveryError(msg, retryable=True, code="smtp") from exc
        log.info("email reply %s sent to %s through %s", key, recipient, where)

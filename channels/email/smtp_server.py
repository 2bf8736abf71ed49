"""The inbound SMTP listener: takes mail for our domains and hands each raw message to a callback that
persists it, before it says 250.

It runs on the application's own event loop (`SmtpListener.start` in the FastAPI lifespan), so the
callback may use the app's async resources. The SMTP answers follow what a sending server needs to lose
nothing and retry sensibly:

- RCPT to a domain that is not ours: `550 5.7.1` (we are not an open relay);
- more than `max_bytes`: `552` (aiosmtpd's size limit, also announced in EHLO SIZE);
- not an e-mail, or no usable sender or content: `550 5.6.0` with the reason;
- the callback raised (database down, disk full): `451 4.3.0`, so the sender keeps the message and retries;
- otherwise `250`, only once the callback returned.

Before the callback sees it, the message gets the trace headers a final delivery adds (Return-Path with the
envelope sender, Delivered-To for each accepted recipient, Received), so the stored raw message alone
carries everything `read_inbound_email` needs, Bcc'd reply addresses and bounces' null sender included.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from collections.abc import Awaitable, Callable
from email.utils import format_datetime
from typing import Any, Self

from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.email.addresses import SupportMailbox, normalise_address
from channels.email.inbound import read_inbound_email
from channels.email.parsing import DEFAULT_MAX_BYTES, EmailParseError
from channels.messages import utc_now

log = logging.getLogger(__name__)

DeliverCallback = Callable[[bytes, str, tuple[str, ...], str], Awaitable[None]]
"""`deliver(raw, envelope_from, rcpt_tos, peer)`: persist one received message; raise to have it retried.

`peer` is the SMTP client's IP address ("" when unknown): whether the mail came through a relay that checks
senders (and writes the Authentication-Results worth believing) is the callback's to judge."""


class InboundSmtpHandler:
    """The aiosmtpd handler behind `SmtpListener` (usable with any aiosmtpd server or controller)."""

    def __init__(
        self,
        mailbox: SupportMailbox,
        deliver: DeliverCallback,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_recipients: int = 50,
        hostname: str | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.deliver = deliver
        self.max_bytes = max_bytes
        self.max_recipients = max_recipients
        self.hostname = hostname or mailbox.domain

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept recipients at our domains only."""
        if not self.mailbox.receives_for(address):
            return f"550 5.7.1 relaying denied: we do not accept mail for <{_ascii(address)}>"
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Check the message, hand it to the callback, and answer only after the callback returned."""
        content = envelope.original_content or b""
        if len(content) > self.max_bytes:
            return f"552 5.3.4 message too big: {len(content)} bytes, the limit is {self.max_bytes}"
        mail_from = (envelope.mail_from or "").strip()
        mail_from = "" if mail_from == "<>" else mail_from  # the null sender of bounces
        rcpt_tos = tuple(envelope.rcpt_tos)
        raw = self._trace_headers(session, mail_from, rcpt_tos) + content
        peer = session.peer[0] if isinstance(session.peer, tuple) and session.peer else ""
        try:
            await asyncio.to_thread(
                read_inbound_email,
                raw,
                self.mailbox,
                envelope_from=mail_from,
                envelope_recipients=rcpt_tos,
                max_bytes=self.max_bytes + 4096,
            )
        except EmailParseError as exc:
            log.info("refused an e-mail from <%s>: %s", mail_from, exc)
            return f"550 5.6.0 message refused: {_ascii(str(exc))}"
        try:
            await self.deliver(raw, mail_from, rcpt_tos, str(peer))
        except Exception:  # answered with 451: the sending server keeps the message and retries it later
            log.exception("could not store an e-mail from <%s> to %s; answered 451", mail_from, rcpt_tos)
            return "451 4.3.0 try again later"
        return "250 2.0.0 OK: message accepted"

    def _trace_headers(self, session: Session, mail_from: str, rcpt_tos: tuple[str, ...]) -> bytes:
        peer = session.peer[0] if isinstance(session.peer, tuple) and session.peer else "unknown"
        helo = _ascii(session.host_name or "unknown")[:255]
        lines = [f"Return-Path: <{mail_from}>"]
        lines += [f"Delivered-To: {normalise_address(rcpt)}" for rcpt in rcpt_tos]
        stamp = format_datetime(utc_now())
        lines.append(f"Received: from {helo} ([{peer}])\r\n\tby {self.hostname} (Frontdesk); {stamp}")
        return "".join(f"{line}\r\n" for line in lines).encode("utf-8", errors="replace")


class SmtpListener:
    """An SMTP server on `host:port` running on the current event loop; `port=0` picks a free port.

    `tls_context` (a server-side `ssl.SSLContext`) offers STARTTLS; `require_starttls` refuses mail before
    it. Use `async with SmtpListener(...)` or `await start()` / `await stop()`.
    """

    def __init__(
        self,
        mailbox: SupportMailbox,
        deliver: DeliverCallback,
        *,
        host: str = "127.0.0.1",
        port: int = 2525,
        max_bytes: int = DEFAULT_MAX_BYTES,
        hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        timeout: float = 300.0,
    ) -> None:
        if not 0 <= port < 65536:
            msg = f"the SMTP listener port must be between 0 and 65535, got {port}"
            raise ValueError(msg)
        if require_starttls and tls_context is None:
            msg = "require_starttls needs a tls_context to offer STARTTLS with"
            raise ValueError(msg)
        self.handler = InboundSmtpHandler(mailbox, deliver, max_bytes=max_bytes, hostname=hostname)
        self.host = host
        self._port = port
        self._options: dict[str, Any] = {
            "data_size_limit": max_bytes,
            "enable_SMTPUTF8": True,
            "hostname": self.handler.hostname,
            "ident": "Frontdesk ESMTP",
            "tls_context": tls_context,
            "require_starttls": require_starttls,
            "timeout": timeout,
        }
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def port(self) -> int:
        """The port listened on (the one the OS picked when created with `port=0`)."""
        return self._port

    async def start(self) -> None:
        """Start listening; `OSError` when the address is taken."""
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()

        def session() -> SMTP:
            protocol = SMTP(self.handler, loop=loop, **self._options)
            self._sessions.add(protocol)
            return protocol

        self._server = await loop.create_server(session, host=self.host, port=self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("SMTP listener on %s:%d for %s", self.host, self._port, ", ".join(self.handler.mailbox.domains))

    async def stop(self) -> None:
        """Stop listening and drop open sessions (a sender whose DATA got no 250 yet retries later)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for protocol in list(self._sessions):
            if protocol.transport is not None:
                protocol.transport.close()
        await server.wait_closed()
        await asyncio.sleep(0)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _ascii(text: str) -> str:
    """One line of printable ASCII, safe inside an SMTP reply."""
    return " ".join(text.split()).encode("ascii", errors="replace").decode("ascii")[:300]

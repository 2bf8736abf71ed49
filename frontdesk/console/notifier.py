"""E-mails that tell agents of new offers: subscribed to routing events, sent with aiosmtplib through the
relay the e-mail channel uses (`FRONTDESK_SMTP_*`), from `FRONTDESK_EMAIL_FROM`.

The routing listener only leaves the event in a feed (it never waits for the relay); a task sends each
e-mail, trying `attempts` times with a doubling delay, and logs the ones it gives up on. With several
workers, each offer is made, and so mailed, by exactly one of them.
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from email.utils import formataddr

import aiosmtplib
import anyio

from channels.email import SmtpSettings, random_message_id
from frontdesk.console.feed import ThreadSafeFeed
from routing import EventKind, Router, RoutingError, RoutingEvent, Ticket

logger = logging.getLogger(__name__)


class OfferMailer:
    """Sends an agent an e-mail for every conversation offered to them."""

    def __init__(
        self,
        router: Router,
        smtp: SmtpSettings,
        sender: str,
        *,
        sender_name: str | None = None,
        console_url: str | None = None,
        attempts: int = 3,
        retry_seconds: float = 2.0,
        concurrency: int = 4,
    ) -> None:
        if attempts < 1 or retry_seconds < 0 or concurrency < 1:
            msg = f"attempts >= 1, retry_seconds >= 0, concurrency >= 1; got {attempts}, {retry_seconds}, {concurrency}"
            raise ValueError(msg)
        self.router = router
        self.smtp = smtp
        self.sender = sender
        self.sender_name = sender_name
        self.console_url = console_url
        self.attempts = attempts
        self.retry_seconds = retry_seconds
        self.sent = 0
        self.failed_attempts = 0
        self.given_up = 0
        self._feed: ThreadSafeFeed[RoutingEvent] = ThreadSafeFeed()
        self._limiter = anyio.CapacityLimiter(concurrency)

    def on_event(self, event: RoutingEvent) -> None:
        """Routing listener (any thread, never blocks): an offer is queued for an e-mail."""
        if event.kind is EventKind.OFFERED and event.agent_id and event.ticket_id is not None:
            self._feed.put(event)

    async def run(self) -> None:
        """Send the queued e-mails until cancelled."""
        async with anyio.create_task_group() as group:
            while True:
                for event in await self._feed.take():
                    group.start_soon(self._deliver, event)

    async def _deliver(self, event: RoutingEvent) -> None:
        async with self._limiter:
            try:
                mail = await anyio.to_thread.run_sync(self.compose, event)
            except RoutingError:
                logger.exception("no offer e-mail for event %s: the agent or ticket is gone", event.id)
                return
            await self.send(mail)

    def compose(self, event: RoutingEvent) -> EmailMessage:
        """The e-mail for an offer event: what the conversation is about and where to answer it."""
        assert event.agent_id is not None and event.ticket_id is not None
        agent = self.router.agent(event.agent_id)
        ticket = self.router.ticket(event.ticket_id)
        timeout = self.router.config.offer_timeout_seconds
        mail = EmailMessage()
        mail["From"] = formataddr((self.sender_name or "Frontdesk", self.sender))
        mail["To"] = formataddr((agent.name, agent.email))
        mail["Subject"] = f"New conversation for you: {ticket.channel}, {_reason(ticket)}"
        mail["Message-ID"] = random_message_id(self.sender.rsplit("@", 1)[-1])
        mail["Auto-Submitted"] = "auto-generated"
        lines = [
            f"Hello {agent.name.split()[0]},",
            "",
            f"A conversation is offered to you in the Frontdesk console. Accept or decline it within "
            f"{timeout:g} seconds, or it goes to someone else.",
            "",
            f"Channel: {ticket.channel}",
            f"Reason: {_reason(ticket)}",
            f"Skill: {ticket.skill or 'any'}; priority {ticket.priority}",
        ]
        if ticket.summary.strip():
            lines += ["", "Summary:", ticket.summary.strip()]
        if self.console_url:
            lines += ["", f"Open the console: {self.console_url}"]
        mail.set_content("\n".join(lines) + "\n")
        return mail

    async def send(self, mail: EmailMessage) -> bool:
        """Send one e-mail, retrying; False when every attempt failed (logged, never raised)."""
        smtp = self.smtp
        for attempt in range(1, self.attempts + 1):
            try:
                async with asyncio.timeout(smtp.timeout * 4):
                    await aiosmtplib.send(
                        mail,
                        hostname=smtp.host,
                        port=smtp.effective_port,
                        username=smtp.username,
                        password=smtp.password,
                        timeout=smtp.timeout,
                        use_tls=smtp.security == "tls",
                        start_tls=smtp.security == "starttls",
                        validate_certs=smtp.validate_certs,
                        cert_bundle=smtp.ca_file,
                    )
            except aiosmtplib.SMTPRecipientsRefused:
                logger.exception("the relay refused the offer e-mail to %s; not retrying", mail["To"])
                self.given_up += 1
                return False
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                self.failed_attempts += 1
                logger.warning("offer e-mail to %s, attempt %d of %d: %s", mail["To"], attempt, self.attempts, exc)
                if attempt < self.attempts:
                    await anyio.sleep(self.retry_seconds * 2 ** (attempt - 1))
                continue
            self.sent += 1
            return True
        logger.error("gave up on the offer e-mail to %s after %d attempts", mail["To"], self.attempts)
        self.given_up += 1
        return False


def _reason(ticket: Ticket) -> str:
    return ticket.reason.replace("_", " ") if ticket.reason else "handed over"

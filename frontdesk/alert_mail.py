"""Alert e-mails to supervisors, sent with aiosmtplib through the relay the e-mail channel uses
(`FRONTDESK_SMTP_*`), from `FRONTDESK_EMAIL_FROM`: the `AlertMailer` of `analytics.webhooks`.

Retries belong to the alert delivery worker; this only sends once and says whether a failure is final
(`MailRejectedError`: the relay refused the recipient or the message with a 5xx) or worth another attempt
(any other exception: the relay is down, slow, or answered 4xx).
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import formataddr, formatdate

import aiosmtplib

from analytics.webhooks import MailRejectedError
from channels.email import SmtpSettings, random_message_id
from frontdesk.settings import Settings


class SmtpAlertMailer:
    """Sends plain-text alert e-mails from `sender` through the relay in `smtp`."""

    def __init__(self, smtp: SmtpSettings, sender: str, *, sender_name: str | None = None) -> None:
        if "@" not in sender:
            msg = f"the alert e-mail sender must be an address like support@example.com, got {sender!r}"
            raise ValueError(msg)
        self.smtp = smtp
        self.sender = sender
        self.sender_name = sender_name

    def compose(self, to: str, subject: str, text: str) -> EmailMessage:
        """The e-mail: marked auto-generated, so that out-of-office replies stay away."""
        mail = EmailMessage()
        mail["From"] = formataddr((self.sender_name or "Frontdesk alerts", self.sender))
        mail["To"] = to
        mail["Subject"] = subject
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = random_message_id(self.sender.rsplit("@", 1)[-1])
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(text)
        return mail

    async def send(self, to: str, subject: str, text: str) -> None:
        """Send one e-mail; `MailRejectedError` on a final refusal, another exception on a passing failure."""
        smtp = self.smtp
        where = f"{smtp.host}:{smtp.effective_port}"
        try:
            async with asyncio.timeout(smtp.timeout * 4):  # per-command timeouts cannot bound a trickling relay
                await aiosmtplib.send(
                    self.compose(to, subject, text),
                    sender=self.sender,
                    recipients=[to],
                    hostname=smtp.host,
                    port=smtp.effective_port,
                    username=smtp.username,
                    password=smtp.password,
                    local_hostname=smtp.local_hostname,
                    timeout=smtp.timeout,
                    use_tls=smtp.security == "tls",
                    start_tls=smtp.security == "starttls",
                    validate_certs=smtp.validate_certs,
                    cert_bundle=smtp.ca_file,
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            detail = "; ".join(f"{refused.code} {refused.message}" for refused in exc.recipients)
            if all(refused.code >= 500 for refused in exc.recipients):
                msg = f"{where} refused the alert e-mail to {to!r}: {detail}"
                raise MailRejectedError(msg) from exc
            raise
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            if exc.code >= 500:
                msg = f"{where} refused the alert e-mail to {to!r}: {exc.code} {exc.message}"
                raise MailRejectedError(msg) from exc
            raise


def build_alert_mailer(settings: Settings) -> SmtpAlertMailer | None:
    """The mailer for `FRONTDESK_ALERT_EMAILS`, from the SMTP settings; None without a relay or sender."""
    smtp = settings.smtp()
    if smtp is None or not settings.email_from:
        return None
    return SmtpAlertMailer(smtp, settings.email_from, sender_name=settings.email_from_name)

"""Mail loop protection: which messages must never get an automatic answer, and a per-sender reply brake.

An auto-responder answering an auto-responder can exchange thousands of mails in an hour. `should_ignore`
recognises machine-sent mail by its headers (RFC 3834 `Auto-Submitted`, bounces, `Precedence`, mailing
lists, vendor auto-reply headers and subjects, no-reply senders) and mail from our own addresses. What slips
through is stopped by `SenderRateLimiter`, which the inbox consults before every automatic reply.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import deque
from collections.abc import Callable
from email.message import EmailMessage

from channels.email.addresses import SupportMailbox, normalise_address
from channels.email.mime import addresses, header, headers

_NO_REPLY = re.compile(r"no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply")
_BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster", "mail-daemon"})
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[- ]?reply|auto(?:matic)? response|out of (?:the )?office|"
    r"automatische antwort|abwesenheitsnotiz|abwesend|réponse automatique|absence|respuesta automática|"
    r"fuera de la oficina|risposta automatica|fuori sede|automatisch antwoord|afwezig)\b\s*[:：-]",
    re.IGNORECASE,
)


def should_ignore(mime: EmailMessage, mailbox: SupportMailbox, *, envelope_from: str | None = None) -> str | None:
    """Why this message must not be answered automatically, or None when it may be.

    `envelope_from` is the SMTP MAIL FROM when known (`""` for a bounce's null sender); otherwise the
    `Return-Path` header says it. The reason is a short phrase naming the header that decided, e.g.
    `"auto-submitted: auto-replied"` or `"bounce: empty return path"`.
    """
    senders = addresses(mime, "From")
    sender = senders[0][1] if senders else ""
    local = sender.rpartition("@")[0]
    if sender and mailbox.is_own(sender):
        return f"own address: {sender}"
    reason = _bounce(mime, local, envelope_from)
    if reason:
        return f"bounce: {reason}"
    auto_submitted = (header(mime, "Auto-Submitted") or "").strip().lower()
    if auto_submitted and auto_submitted.split(";", 1)[0].strip() != "no":
        return f"auto-submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        value = header(mime, name)
        if value is not None:
            return f"auto-reply: {name} {value}".strip()
    if _AUTO_REPLY_SUBJECT.match(header(mime, "Subject") or ""):
        return "auto-reply: subject"
    precedence = (header(mime, "Precedence") or "").strip().lower()
    if precedence in {"bulk", "junk", "list", "auto_reply"}:
        return f"precedence: {precedence}"
    for name in ("List-Id", "List-Unsubscribe", "List-Post"):
        if headers(mime, name):
            return f"mailing list: {name}"
    if _NO_REPLY.search(local):
        return f"no-reply sender: {sender}"
    return None


def _bounce(mime: EmailMessage, local: str, envelope_from: str | None) -> str | None:
    if envelope_from is not None and not normalise_address(envelope_from):
        return "empty envelope sender"
    if _return_path(mime) == "":
        return "empty return path"
    if local in _BOUNCE_SENDERS:
        return f"sender {local}"
    if headers(mime, "X-Failed-Recipients"):
        return "X-Failed-Recipients"
    if mime.get_content_type() == "multipart/report":
        return f"report ({mime.get_param('report-type') or 'unknown type'})"
    return None


def _return_path(mime: EmailMessage) -> str | None:
    """The topmost Return-Path (the one our delivery added), normalised; None when there is none."""
    for key, value in mime.raw_items():
        if key.lower() == "return-path":
            return normalise_address(str(value))
    return None


class SenderRateLimiter:
    """At most `max_replies` automatic replies to one sender within a sliding `window`.

    In memory and per process: a brake on loops that the header checks missed, not an accounting tool.
    `clock` returns seconds (monotonic by default); tests pass a fake. At most `max_senders` senders are
    tracked; the least recently seen are forgotten first.
    """

    def __init__(
        self,
        max_replies: int = 5,
        window: dt.timedelta = dt.timedelta(hours=1),
        *,
        clock: Callable[[], float] = time.monotonic,
        max_senders: int = 100_000,
    ) -> None:
        if max_replies < 1:
            msg = f"max_replies must be at least 1, got {max_replies}"
            raise ValueError(msg)
        if window <= dt.timedelta(0):
            msg = f"the window must be positive, got {window}"
            raise ValueError(msg)
        if max_senders < 1:
            msg = f"max_senders must be at least 1, got {max_senders}"
            raise ValueError(msg)
        self.max_replies = max_replies
        self.window = window
        self._seconds = window.total_seconds()
        self._clock = clock
        self._max_senders = max_senders
        self._sent: dict[str, deque[float]] = {}

    def allow(self, sender: str) -> bool:
        """Whether one more reply to `sender` is allowed now; if it is, it is counted."""
        key = normalise_address(sender)
        now = self._clock()
        times = self._recent(key, now)
        if len(times) >= self.max_replies:
            return False
        times.append(now)
        self._sent[key] = times
        if len(self._sent) > self._max_senders:
            del self._sent[next(iter(self._sent))]
        return True

    def remaining(self, sender: str) -> int:
        """How many replies `sender` may still get in the current window (nothing is counted)."""
        key = normalise_address(sender)
        return self.max_replies - len(self._recent(key, self._clock()))

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._sent.pop(key, deque())  # re-inserted by the caller: the dict stays in recency order
        while times and times[0] <= now - self._seconds:
            times.popleft()
        if times:
            self._sent[key] = times
        return times

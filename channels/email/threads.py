"""Which conversation an e-mail belongs to: the thread keys it is looked up by and the keys it leaves behind.

Keys to LOOK UP (`lookup_keys`), tried by the inbox in this order, the first match wins:

1. **Reply address** `email:reply:<token>`: a recipient (Delivered-To, X-Original-To, To, Cc or the SMTP
   envelope) of the form `<local>+<token>@<one of our domains>`. Every conversation gets its own unguessable
   token (`new_reply_token`), and our replies carry `Reply-To: support+<token>@...` (`reply_address`).
   This key survives clients that drop threading headers, and it matches whoever writes (`same_sender=False`):
   a colleague of the customer replying from another address joins the same conversation.
2. **In-Reply-To** `email:msgid:<id>`, then 3. **References** (newest first): the Message-IDs the message
   answers. They match only a conversation of the same sender (`same_sender=True`), because a Message-ID is
   not a secret: two people replying to the same newsletter both carry its id, and customers forward our
   mails. So even an authenticated sender cannot join another customer's conversation by its ids.
4. **Subject** `email:subject:<sender>:<normalised subject>`: the same sender with the same subject, once
   `Re:`/`Fwd:`/`AW:`/`SV:`/`Antw:`... prefixes and `[ticket tags]` are gone and case and spaces are
   folded, within a window (7 days by default, `max_age`). This catches clients that drop the headers.

Keys 2 to 4 name the sender by its From header, which anyone can write: they are only looked up when the
sender is authenticated (`authenticated`, the verdict of `channels.email.authentication`). An
unauthenticated message finds a conversation by its reply address alone, and otherwise starts a new one.

Keys to RECORD (`record_keys`) on the conversation the message lands in: the message's own Message-ID
(so a follow-up to one's own mail, or a Cc'd reply to it, threads) and its subject key. Ids a message merely
refers to are not recorded: we never sent or stored them, and recording them would let a later message that
refers to the same foreign mail (a newsletter) join this conversation. Our own replies record the key of
their Message-ID when they are delivered (see `EmailChannel`), which is what a customer's reply refers to.
An unauthenticated message records no key: its subject key would let a forger plant a conversation that the
real customer's next mail with that subject joins (and its Message-ID is the forger's choice).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable

from channels.email.addresses import normalise_address, split_address
from channels.messages import ThreadKey

DEFAULT_SUBJECT_WINDOW = dt.timedelta(days=7)
REPLY_KEY_PREFIX = "email:reply:"
MESSAGE_ID_KEY_PREFIX = "email:msgid:"
SUBJECT_KEY_PREFIX = "email:subject:"
MAX_REFERENCES = 20

_TOKEN = re.compile(r"^[a-z0-9_-]{16,64}$")
_BRACKETED_ID = re.compile(r"<([^<>\s]+)>")
_REPLY_PREFIX = (
    r"(?:re|aw|sv|vs|antw|antwort|odp|res|rif|ref|ynt|fwd?|fw|wg|tr|enc|rv|vb|vl|doorst|"
    r"回复|回覆|答复|转发|轉寄)"
)
_SUBJECT_PREFIXES = re.compile(
    rf"^\s*(?:{_REPLY_PREFIX}\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]\s*|\[[^\]]*\]\s*)+",
    re.IGNORECASE,
)
_SUBJECT_TAGS = re.compile(r"\[[^\]]{0,80}\]")
_EMPTY_SUBJECTS = frozenset({"(no subject)", "no subject", "(kein betreff)", "(sans objet)", "(sin asunto)", "(none)"})


def new_reply_token() -> str:
    """A fresh unguessable token for a conversation's reply address (120 random bits).

    Lowercase letters and digits only (base32), so a mail server that folds the case of local parts, as
    several do, cannot break it; 24 characters keep the address short.
    """
    return base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()


def reply_address(mailbox: str, token: str) -> str:
    """The per-conversation reply address: `local+token@domain` for the support address `local@domain`."""
    local, domain = split_address(mailbox)
    clean = token.strip().lower()
    if not _TOKEN.match(clean):
        msg = f"a reply token must be 16 to 64 letters, digits, '-' or '_', got {token!r}"
        raise ValueError(msg)
    return f"{local.split('+', 1)[0]}+{clean}@{domain}"


def reply_token(address: str, domains: Iterable[str]) -> str | None:
    """The reply token in `address` when it is a reply address at one of `domains`, else None."""
    clean = normalise_address(address)
    local, _, domain = clean.rpartition("@")
    if domain not in set(domains) or "+" not in local:
        return None
    token = local.split("+", 1)[1]
    return token if _TOKEN.match(token) else None


def reply_key(token: str) -> ThreadKey:
    """The key of a conversation's reply address; any sender may match it (the token is a secret)."""
    return ThreadKey(f"{REPLY_KEY_PREFIX}{token.strip().lower()}", same_sender=False)


def message_ids(value: str | None) -> list[str]:
    """The Message-IDs in a Message-ID, In-Reply-To or References header, in order, without brackets.

    Tolerates the old `<id> (comment)` style, commas and ids that lost their brackets.
    """
    if not value:
        return []
    found = _BRACKETED_ID.findall(value)
    if not found:
        found = [word.strip("<>,;") for word in value.split() if "@" in word]
    seen: list[str] = []
    for item in found:
        if item and item not in seen:
            seen.append(item)
    return seen


def message_id_key(message_id: str) -> ThreadKey:
    """The key of one Message-ID (bare, without brackets); only the same sender matches it."""
    clean = message_id.strip().strip("<>")
    if len(clean) > 400:
        clean = "sha256:" + hashlib.sha256(clean.encode("utf-8", "surrogatepass")).hexdigest()
    return ThreadKey(f"{MESSAGE_ID_KEY_PREFIX}{clean}", same_sender=True)


def normalise_subject(subject: str | None) -> str:
    """A subject as threading compares it: reply/forward prefixes and `[tags]` removed, spaces and case folded.

    `"RE: AW: [Ticket #42] Battery  won't charge"` and `"battery won't charge"` are equal. Placeholder
    subjects such as "(no subject)" normalise to the empty string.
    """
    if not subject:
        return ""
    text = _SUBJECT_PREFIXES.sub("", subject)
    text = _SUBJECT_TAGS.sub(" ", text)
    text = " ".join(text.split()).casefold()
    return "" if text in _EMPTY_SUBJECTS else text


def subject_key(sender: str, subject: str | None, window: dt.timedelta = DEFAULT_SUBJECT_WINDOW) -> ThreadKey | None:
    """The same-sender, same-subject key valid for `window`, or None when the subject says nothing."""
    normalised = normalise_subject(subject)
    if not normalised:
        return None
    sender = normalise_address(sender)
    if len(normalised) > 200:
        normalised = "sha256:" + hashlib.sha256(normalised.encode("utf-8", "surrogatepass")).hexdigest()
    return ThreadKey(f"{SUBJECT_KEY_PREFIX}{sender[:254]}:{normalised}", same_sender=True, max_age=window)


def lookup_keys(
    *,
    sender: str,
    subject: str | None,
    recipients: Iterable[str],
    in_reply_to: Iterable[str],
    references: Iterable[str],
    domains: Iterable[str],
    window: dt.timedelta = DEFAULT_SUBJECT_WINDOW,
    authenticated: bool = False,
) -> tuple[ThreadKey, ...]:
    """The keys to look a message's conversation up by, in the order the module docstring gives.

    `recipients` are all the addresses the message was delivered to (envelope, Delivered-To, X-Original-To,
    To, Cc); `in_reply_to` and `references` are bare Message-IDs in header order (oldest reference first).
    Unless `authenticated` (the From address is verified), only reply-address keys are given.
    """
    keys: list[ThreadKey] = []
    our_domains = tuple(domains)
    for address in recipients:
        token = reply_token(address, our_domains)
        if token is not None:
            keys.append(reply_key(token))
    if not authenticated:
        return tuple({key.value: key for key in keys}.values())
    replied = list(in_reply_to)
    newest_first = [ref for ref in reversed(list(references)) if ref not in replied][:MAX_REFERENCES]
    keys.extend(message_id_key(ref) for ref in [*replied, *newest_first])
    by_subject = subject_key(sender, subject, window)
    if by_subject is not None:
        keys.append(by_subject)
    unique: dict[str, ThreadKey] = {}
    for key in keys:
        unique.setdefault(key.value, key)
    return tuple(unique.values())


def record_keys(
    *, sender: str, subject: str | None, message_id: str | None, authenticated: bool = False
) -> tuple[str, ...]:
    """The key values the conversation records for this message: its own Message-ID and its subject key;
    none unless `authenticated`.

    `message_id` is the bare Message-ID header value, None when the message had none (a made-up id could
    never be referred to).
    """
    values: list[str] = []
    if not authenticated:
        return ()
    if message_id:
        values.append(message_id_key(message_id).value)
    by_subject = subject_key(sender, subject)
    if by_subject is not None:
        values.append(by_subject.value)
    return tuple(values)

"""Whether an e-mail's sender is who its From header says: the verdict of a receiving server we trust.

We do not check DKIM signatures or SPF records ourselves. The mail server in front of us (our MX, Gmail,
Microsoft 365, Postfix with OpenDKIM/OpenDMARC...) does, and writes its verdict into an
`Authentication-Results` header (RFC 8601) that starts with its *authserv-id*. The operator names the ids to
trust (`trusted_authserv_ids`, from `FRONTDESK_EMAIL_TRUSTED_AUTHSERV_IDS`); every other such header is
ignored, because anyone can write one.

Which header counts. Every server on the way *prepends* its headers, so the headers above a server's own are
added after it (by our own later hops) and those below were already in the message when it arrived: the
sender may have written them, with our trusted id in them. So only the **topmost** header whose
authserv-id is trusted counts, together with the headers of the same authserv-id directly under it (no
other header between; OpenDKIM and OpenDMARC each add one). A forged header below the trusted server's
`Received` line is never read. This is sound when the trusted server puts its verdict above its own
`Received` line (milters do) or removes incoming headers that claim its id, as RFC 8601 section 5 requires
(Gmail, Microsoft 365, OpenDMARC do); and only when mail cannot reach us *around* that server: a message
that comes straight to our listener can carry any header at the top (the caller passes no trusted id for
mail from an SMTP client that is not a trusted relay).

What passes (the first that applies, in the counting headers):

- `dmarc=fail` for the From domain: not verified, "DMARC fail" (the server's policy verdict wins).
- `dmarc=pass` with `header.from` equal to the From domain (or absent: it is the message's From).
- `dkim=pass` with `header.d` (else the domain of `header.i`) *aligned* with the From domain: equal to it,
  or a parent of it (`d=example.com` signs for `mail.example.com`).
- `spf=pass` with the domain of `smtp.mailfrom` aligned the same way.

Anything else is not verified, with the reason ("no trusted Authentication-Results", "no aligned pass in
the Authentication-Results of mx.example.net (dkim=fail, spf=softfail)"...). Header values are read with
`authres` and bounded (`MAX_HEADER_CHARS`): a longer or unreadable trusted header verifies nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

import authres

HEADER_NAME = "authentication-results"
MAX_HEADER_CHARS = 4096
MAX_COUNTED_HEADERS = 8
NO_TRUSTED_RESULTS = "no trusted Authentication-Results"
DMARC_FAIL = "DMARC fail"
_FEATURES = authres.all_features()


@dataclass(frozen=True, slots=True)
class SenderVerdict:
    """Whether the From address is authenticated (`verified`) and why, in words an agent can read."""

    verified: bool
    reason: str
    method: str | None = None  # "dmarc", "dkim" or "spf" when verified

    def metadata(self) -> dict[str, str]:
        """The verdict as the message's metadata (`sender_verified`: "true" or "false", `sender_verification`)."""
        return {"sender_verified": "true" if self.verified else "false", "sender_verification": self.reason}


def normalise_authserv_ids(ids: Iterable[str]) -> frozenset[str]:
    """Trusted authserv-ids as compared: stripped, lowercased, empty ones dropped."""
    return frozenset(clean for value in ids if (clean := value.strip().lower()))


def sender_verdict(
    mime: EmailMessage, from_addresses: Sequence[str], trusted_authserv_ids: Iterable[str]
) -> SenderVerdict:
    """The verdict on `mime`, whose From header holds `from_addresses`, by the trusted receiving servers."""
    if len(set(from_addresses)) > 1:
        return SenderVerdict(False, "more than one From address")
    if not from_addresses:
        return SenderVerdict(False, "no From address")
    return verdict(list(mime.raw_items()), from_addresses[0], trusted_authserv_ids)


def verdict(headers: Sequence[tuple[str, str]], sender: str, trusted_authserv_ids: Iterable[str]) -> SenderVerdict:
    """The verdict on a message with these raw (name, value) headers, top first, from `sender`."""
    trusted = normalise_authserv_ids(trusted_authserv_ids)
    domain = sender.rpartition("@")[2].strip().lower().rstrip(".")
    if not trusted or not domain:
        return SenderVerdict(False, NO_TRUSTED_RESULTS)
    counted = _counted_headers(headers, trusted)
    if counted is None:
        return SenderVerdict(False, NO_TRUSTED_RESULTS)
    authserv_id, values = counted
    results: list[authres.AuthenticationResult] = []
    for value in values:
        parsed = _parse(value)
        if parsed is None:
            return SenderVerdict(False, f"unreadable Authentication-Results from {authserv_id}")
        results.extend(r for r in parsed.results if isinstance(r, authres.AuthenticationResult))
    return _judge(results, domain, authserv_id)


def _counted_headers(headers: Sequence[tuple[str, str]], trusted: frozenset[str]) -> tuple[str, list[str]] | None:
    """The authserv-id and the values of the topmost trusted Authentication-Results block, or None."""
    block: list[str] = []
    block_id: str | None = None
    for name, raw in headers:
        is_results = name.strip().lower() == HEADER_NAME
        if block_id is not None:
            value = _unfold(raw)
            if not is_results or _authserv_id(value) != block_id or len(block) >= MAX_COUNTED_HEADERS:
                break
            block.append(value)
            continue
        if is_results:
            value = _unfold(raw)
            found = _authserv_id(value)
            if found in trusted:
                block_id, block = found, [value]
    return (block_id, block) if block_id is not None else None


def _unfold(raw: str) -> str:
    return str(raw).replace("\r\n", "").replace("\n", "").replace("\r", "").strip()


def _authserv_id(value: str) -> str | None:
    """The authserv-id of a header value: by `authres`, or, for a value it cannot read, its first word (so
    that an unreadable header of a trusted server is still recognised as its own, and verifies nothing)."""
    parsed = _parse(value)
    if parsed is not None:
        return str(parsed.authserv_id).lower()
    first = value[:MAX_HEADER_CHARS].split(";", 1)[0].split("(", 1)[0].strip().lower()
    return first or None


def _parse(value: str) -> authres.AuthenticationResultsHeader | None:
    if len(value) > MAX_HEADER_CHARS:
        return None
    try:
        return _FEATURES.parse_value(value)
    except (authres.AuthResError, RecursionError, ValueError, AttributeError, TypeError):
        return None  # malformed: the caller decides what an unreadable header means


def _judge(results: Sequence[authres.AuthenticationResult], domain: str, authserv_id: str) -> SenderVerdict:
    def outcome(result: authres.AuthenticationResult) -> str:
        return str(result.result or "").lower()

    dmarc = [r for r in results if r.method == "dmarc" and _same(_prop(r, "header", "from"), domain, missing=True)]
    if any(outcome(r) == "fail" for r in dmarc):
        return SenderVerdict(False, DMARC_FAIL)
    if any(outcome(r) == "pass" for r in dmarc):
        return SenderVerdict(True, f"dmarc=pass ({authserv_id})", "dmarc")
    for result in results:
        if result.method == "dkim" and outcome(result) == "pass":
            signer = _prop(result, "header", "d") or _domain_of(_prop(result, "header", "i"))
            if _aligned(signer, domain):
                return SenderVerdict(True, f"dkim=pass d={signer} ({authserv_id})", "dkim")
    for result in results:
        if result.method == "spf" and outcome(result) == "pass":
            envelope = _domain_of(_prop(result, "smtp", "mailfrom"))
            if _aligned(envelope, domain):
                return SenderVerdict(True, f"spf=pass smtp.mailfrom={envelope} ({authserv_id})", "spf")
    seen = ", ".join(dict.fromkeys(f"{r.method}={outcome(r) or '?'}" for r in results)) or "none"
    return SenderVerdict(False, f"no aligned pass in the Authentication-Results of {authserv_id} ({seen[:200]})")


def _prop(result: authres.AuthenticationResult, kind: str, name: str) -> str | None:
    for prop in result.properties or ():
        if str(prop.type).lower() == kind and str(prop.name).lower() == name and prop.value:
            return str(prop.value)
    return None


def _domain_of(value: str | None) -> str | None:
    if not value:
        return None
    return value.rpartition("@")[2].strip().lower().rstrip(".") or None


def _same(value: str | None, domain: str, *, missing: bool) -> bool:
    if value is None:
        return missing
    return value.strip().lower().rstrip(".") == domain


def _aligned(signer: str | None, domain: str) -> bool:
    """`signer` is the From domain or a parent domain of it (with at least one dot: never a bare TLD)."""
    if not signer:
        return False
    clean = signer.strip().lower().rstrip(".")
    return "." in clean and (domain == clean or domain.endswith("." + clean))

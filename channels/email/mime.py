"""Reading untrusted MIME safely: header values, addresses, text parts in any charset, and attachments.

Everything here tolerates what real mail contains: malformed headers fall back to their raw text, unknown or
wrong charsets are decoded with fallbacks, and broken parts are skipped instead of failing the message.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import EmailMessage, Message, MIMEPart
from email.utils import getaddresses
from typing import Any

from channels.email.addresses import is_address, normalise_address
from channels.messages import Attachment

MAX_MIME_DEPTH = 20
_SIGNATURE_TYPES = frozenset(
    {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
)


def header(mime: EmailMessage, name: str) -> str | None:
    """A header's decoded value with its whitespace folded, or None; malformed headers fall back to raw text."""
    values = headers(mime, name)
    return values[0] if values else None


def headers(mime: EmailMessage, name: str) -> list[str]:
    """Every value of a header, decoded, in order."""
    try:
        values = [str(value) for value in mime.get_all(name) or []]
    except Exception:  # the stdlib's header parser fails on some malformed input; read the raw text instead
        values = [_decode_raw(value) for key, value in mime.raw_items() if key.lower() == name.lower()]
    return [folded for folded in (" ".join(value.split()) for value in values) if folded]


def addresses(mime: EmailMessage, *names: str) -> list[tuple[str, str]]:
    """The (display name, normalised address) pairs of address headers, in header order; invalid ones dropped."""
    found: list[tuple[str, str]] = []
    for name in names:
        try:
            values: list[Any] = list(mime.get_all(name) or [])
        except Exception:  # malformed header: parse its raw text below
            values = [_decode_raw(value) for key, value in mime.raw_items() if key.lower() == name.lower()]
        for value in values:
            try:
                pairs = [(item.display_name, item.addr_spec) for item in value.addresses]
            except Exception:  # not an address header in the registry, or unparseable: the lenient parser
                pairs = getaddresses([str(value)])
            for display, address in pairs:
                clean = normalise_address(address)
                if is_address(clean):
                    found.append((" ".join(str(display).split()), clean))
    return found


def _decode_raw(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # undecodable encoded-words: keep the raw text
        return value


def part_text(part: MIMEPart) -> str:
    """A text part's content as `str`, whatever its declared charset says (unknown or wrong charsets included)."""
    try:
        payload = part.get_payload(decode=True)
        charset = part.get_content_charset() or "utf-8"
    except Exception:  # a broken transfer encoding or Content-Type parameter: use what is there
        payload, charset = None, "utf-8"
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    for encoding in (charset, "utf-8", "cp1252"):
        try:
            text = payload.decode(encoding)
        except (LookupError, UnicodeError):
            continue
        return _unflow(text, part) if part.get_param("format") == "flowed" else text
    return payload.decode("utf-8", errors="replace")


def _unflow(text: str, part: MIMEPart) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676)."""
    delsp = str(part.get_param("delsp") or "").lower() == "yes"
    out: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if out and out[-1].endswith(" ") and out[-1] != "-- " and not line.startswith(">"):
            out[-1] = (out[-1][:-1] if delsp else out[-1]) + line
        else:
            out.append(line)
    return "\n".join(out)


def body_parts(mime: EmailMessage) -> list[MIMEPart]:
    """The parts a mail client would show as the body: the text/plain and the text/html one, when present."""
    parts: list[MIMEPart] = []
    for kind in ("plain", "html"):
        try:
            part = mime.get_body(preferencelist=(kind,))
        except Exception:  # a malformed structure: treat it as having no body of that kind
            part = None
        if part is not None and part.get_content_type() == f"text/{kind}":
            parts.append(part)
    return parts


def _leaves(mime: MIMEPart) -> Iterator[MIMEPart]:
    stack: list[tuple[MIMEPart, int]] = [(mime, 0)]
    while stack:
        part, depth = stack.pop()
        if part.get_content_type() == "message/rfc822" or not part.is_multipart() or depth >= MAX_MIME_DEPTH:
            yield part
        else:
            stack.extend((child, depth + 1) for child in reversed(list(part.iter_parts())))


def attachments(mime: EmailMessage, bodies: list[MIMEPart]) -> Iterator[Attachment]:
    """Every file of the message: attachments, inline images, attached messages (`.eml`); not the `bodies`,
    other renderings of the body, nor S/MIME or PGP signatures. Unnamed files get a name from their type."""
    for index, part in enumerate(_leaves(mime), start=1):
        content_type = part.get_content_type()
        if content_type in _SIGNATURE_TYPES or any(part is body for body in bodies):
            continue  # the body itself, or an S/MIME or PGP signature
        if part.is_multipart() and content_type != "message/rfc822":
            continue  # a container nested deeper than MAX_MIME_DEPTH
        try:
            filename = _safe_filename(part.get_filename())
            disposition = part.get_content_disposition()
        except Exception:  # undecodable filename parameter
            filename, disposition = None, "attachment"
        if content_type in ("text/plain", "text/html") and filename is None and disposition != "attachment":
            continue  # another rendering of the body, not a file
        content = _part_bytes(part)
        if content is None:
            continue
        if filename is None:
            stem = "inline" if disposition == "inline" or part.get("Content-ID") else "attachment"
            suffix = ".eml" if content_type == "message/rfc822" else mimetypes.guess_extension(content_type) or ".bin"
            filename = f"{stem}-{index}{suffix}"
        yield Attachment(filename=filename, content_type=content_type, size=len(content), content=content)


def _part_bytes(part: MIMEPart) -> bytes | None:
    try:
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload(0)
            return inner.as_bytes() if isinstance(inner, Message) else None
        payload = part.get_payload(decode=True)
    except Exception:  # a broken encoding: the file cannot be recovered
        return None
    return payload if isinstance(payload, bytes) else None


def _safe_filename(name: str | None) -> str | None:
    if not name:
        return None
    clean = re.sub(r"[\x00-\x1f\x7f]", "", name).replace("\\", "/").rsplit("/", 1)[-1].strip(" .")
    return clean[:255] or None

"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for tests of mail sending.

It runs on the test's own event loop. Tests can refuse recipients with any SMTP answer (``refuse``), answer
DATA with an error (``data_reply``), offer STARTTLS or implicit TLS with a self-signed certificate
(``self_signed_tls``) and require a login (``credentials``).

Usage::

    async with SmtpSink() as sink:
        await aiosmtplib.send(message, hostname="127.0.0.1", port=sink.port)
        assert sink.received[0].mime["Subject"] == "Hello"
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Self

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class ReceivedMail:
    """One message the sink took: the envelope and the raw bytes, parsed for convenience."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    mime: EmailMessage = field(init=False)

    def __post_init__(self) -> None:
        self.mime = BytesParser(policy=policy.default).parsebytes(self.raw)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.sink.refuse.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.data_reply is not None:
            return self.sink.data_reply
        raw = envelope.original_content or b""
        self.sink.received.append(ReceivedMail(envelope.mail_from or "", list(envelope.rcpt_tos), raw))
        self.sink.sessions.append({"tls": session.ssl is not None, "auth": session.auth_data})
        return "250 OK"


class SmtpSink:
    """An SMTP server on 127.0.0.1 (a free port) that records every message it accepts."""

    def __init__(
        self,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.received: list[ReceivedMail] = []
        self.sessions: list[dict[str, Any]] = []
        self.refuse: dict[str, str] = {}
        self.data_reply: str | None = None
        self.port = 0
        self._starttls = starttls
        self._implicit_tls = implicit_tls
        self._credentials = credentials
        self._server: asyncio.Server | None = None

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self._credentials
        return AuthResult(success=ok, handled=False, auth_data=data.login.decode() if ok else None)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        options: dict[str, Any] = {"hostname": "sink.test", "tls_context": self._starttls}
        if self._credentials is not None:
            options.update(authenticator=self._authenticate, auth_require_tls=self._starttls is not None)
        self._server = await loop.create_server(
            lambda: SMTP(_Handler(self), loop=loop, **options), "127.0.0.1", 0, ssl=self._implicit_tls
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 and localhost, and the
    certificate's path for the client to trust. Needs `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path

"""The app's edge: request body limits and security headers, installed on the app by `install_edge`."""

from __future__ import annotations

from fastapi import FastAPI

from frontdesk.middleware.body_limits import TWILIO_WEBHOOK_BYTES, BodyLimit, BodyLimitMiddleware
from frontdesk.middleware.security_headers import SecurityHeadersMiddleware, serves_https
from frontdesk.settings import Settings

POST = frozenset({"POST"})


def body_limits(settings: Settings) -> tuple[BodyLimit, ...]:
    """The routes that take bodies larger (or smaller) than FRONTDESK_MAX_JSON_BYTES, with their limits."""
    return (
        BodyLimit("/v1/knowledge/documents", settings.max_upload_bytes, "uploads (FRONTDESK_MAX_UPLOAD_BYTES)", POST),
        BodyLimit("/v1/email/inbound", settings.email_max_bytes, "e-mail (FRONTDESK_EMAIL_MAX_BYTES)", POST),
        BodyLimit("/twilio/", TWILIO_WEBHOOK_BYTES, "Twilio webhooks", prefix=True),
    )


def install_edge(app: FastAPI, settings: Settings) -> None:
    """Limit every request body while it is read, and add the security headers to every response."""
    app.add_middleware(
        BodyLimitMiddleware,
        rules=body_limits(settings),
        default=settings.max_json_bytes,
        default_what="request bodies (FRONTDESK_MAX_JSON_BYTES)",
    )
    app.add_middleware(SecurityHeadersMiddleware, hsts=serves_https(settings.public_base_url))

"""Security headers on every response (a pure ASGI middleware), so that no page has to remember them.

Every response: `X-Content-Type-Options: nosniff`, and `Strict-Transport-Security` when the service is
public over https. HTML pages (the demo shop, the console, the dashboard, the API docs): a Content-Security-
Policy with no inline script and no framing, `X-Frame-Options: DENY` for older browsers, `Referrer-Policy`
and `Cross-Origin-Opener-Policy`. Scripts and stylesheets get no framing rules: the web-chat widget's
script stays embeddable on any site. A header the route set itself is kept.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
"""The Content-Security-Policy of our pages: our own files only, no inline script or style, never framed."""

EVERY_RESPONSE = {"X-Content-Type-Options": "nosniff"}
PAGES = {
    "Content-Security-Policy": PAGE_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"


def serves_https(public_base_url: str | None) -> bool:
    """Whether the service's public URL is https (browsers are then told to keep to https)."""
    return (public_base_url or "").strip().lower().startswith("https://")


class SecurityHeadersMiddleware:
    """Adds the headers above to each HTTP response; `hsts` adds Strict-Transport-Security."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.every = {**EVERY_RESPONSE, **({"Strict-Transport-Security": HSTS} if hsts else {})}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                extra = dict(self.every)
                if headers.get("content-type", "").lower().startswith("text/html"):
                    extra.update(PAGES)
                for name, value in extra.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)

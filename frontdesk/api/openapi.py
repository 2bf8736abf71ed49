"""The OpenAPI document names every status a route can answer, not only 200 and 422.

FastAPI documents what a route returns and its validation errors. The rest comes from three places, added
here to each operation: the routes' own refusals (by path prefix, what the routers there raise), the
dependencies every route of a kind has (a key or a session: 401 and 403; a body: 413 from the size limits),
and the rate limits (429). Each error body is `{"detail": ...}`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

REASONS = {
    "400": "The request is malformed (the reason says how)",
    "401": "No credential, or one that is unknown, expired or revoked",
    "403": "The credential does not allow this (the reason names what is missing)",
    "404": "No such resource",
    "409": "The resource is in a state that does not allow this",
    "413": "The body is larger than this route accepts",
    "415": "The body's type is not one this route reads",
    "422": "The input does not validate (the reason names the field)",
    "429": "Too many requests: wait for Retry-After seconds",
    "503": "A part the route needs is not available",
}
# What the routes under each prefix refuse with, besides what every route can answer.
BY_PREFIX: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/v1/knowledge/documents", ("400", "401", "403", "404", "415")),
    ("/v1/knowledge/sources", ("400", "401", "403")),
    ("/v1/knowledge/search", ("400", "429")),
    ("/v1/conversations", ("401", "403", "404", "409", "429", "503")),
    ("/v1/webchat", ("400", "401", "403", "404", "409", "429", "503")),
    ("/v1/console", ("400", "401", "403", "404", "409", "429", "503")),
    ("/v1/analytics", ("400", "401", "403", "404", "409")),
    ("/v1/email", ("400", "401", "403", "503")),
    ("/v1/twilio", ("400", "403", "503")),
    ("/readyz", ("503",)),
    ("/console", ("401", "403", "404")),
    ("/dashboard", ("401", "403", "404")),
)
_ERROR = {"type": "object", "properties": {"detail": {}}, "required": ["detail"]}


def _codes(path: str, method: str, operation: dict[str, Any]) -> set[str]:
    codes: set[str] = set()
    for prefix, extra in BY_PREFIX:
        if path == prefix or path.startswith(prefix.rstrip("/") + "/") or path.startswith(prefix + "?"):
            codes.update(extra)
    if "requestBody" in operation or method in {"post", "put", "patch"}:
        codes.update({"413", "415", "422"})
    if operation.get("parameters"):
        codes.add("422")
    return codes


def document_errors(app: FastAPI) -> None:
    """Make `app.openapi()` list each operation's error statuses with the shared error body."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
        )
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                responses = operation["responses"]
                for code in sorted(_codes(path, method, operation)):
                    responses.setdefault(
                        code,
                        {"description": REASONS[code], "content": {"application/json": {"schema": _ERROR}}},
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

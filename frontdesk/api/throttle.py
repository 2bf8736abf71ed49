"""Rate-limit dependencies for the routes: a request over a limit is answered `429` with `Retry-After`."""

from __future__ import annotations

from fastapi import Depends, HTTPException, status
from starlette.requests import HTTPConnection

from frontdesk.api.client_address import client_address
from frontdesk.rate_limits import RateLimitedError, RateLimits, address_key


def get_rate_limits(connection: HTTPConnection) -> RateLimits:
    """The rate limits of this process (built in the app's lifespan)."""
    limits: RateLimits | None = getattr(connection.app.state, "rate_limits", None)
    if limits is None:  # pragma: no cover - the lifespan always builds them
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the service is starting; try again")
    return limits


def too_many(exc: RateLimitedError) -> HTTPException:
    """The 429 answer to a refusal."""
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers={"Retry-After": str(exc.retry_after)})


async def enforce(connection: HTTPConnection, *checks: tuple[str, str]) -> None:
    """Count `(rule, key)` hits for this request; `HTTPException(429)` when one is over its limit."""
    try:
        await get_rate_limits(connection).hit(*checks)
    except RateLimitedError as exc:
        raise too_many(exc) from exc


def address_of(connection: HTTPConnection) -> str:
    """The key of the request's client address."""
    return address_key(client_address(connection))


async def limit_new_sessions(connection: HTTPConnection) -> None:
    """New web-chat sessions, per client address."""
    await enforce(connection, ("sessions", address_of(connection)))


async def limit_searches(connection: HTTPConnection) -> None:
    """Knowledge-base searches, per client address."""
    await enforce(connection, ("searches", address_of(connection)))


async def limit_messages_per_address(connection: HTTPConnection) -> None:
    """Customer messages without a visitor (the conversations API), per client address."""
    await enforce(connection, ("messages_per_address", address_of(connection)))


async def limit_sign_ins(connection: HTTPConnection) -> None:
    """Console sign-in attempts, per client address."""
    await enforce(connection, ("sign_ins", address_of(connection)))


NewSessionLimit = Depends(limit_new_sessions)
SearchLimit = Depends(limit_searches)
AddressMessageLimit = Depends(limit_messages_per_address)
SignInLimit = Depends(limit_sign_ins)

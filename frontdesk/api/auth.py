"""Who may call a route: API keys with scopes (and the bootstrap `FRONTDESK_ADMIN_TOKEN`).

`require_scope(Scope.X)` is a dependency that reads `Authorization: Bearer <key>` and answers 401 (no or an
unknown key, with `WWW-Authenticate`) or 403 (a key without the scope) before the route runs. It reads no body,
so a route that takes a large body declares none and reads it after this check.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, Request, status

from frontdesk.api.deps import RuntimeDep, SettingsDep
from frontdesk.api_keys import ADMIN, Principal, Scope
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings

HOW = "create one with `frontdesk keys create --name NAME --scope {scope}`"


def bearer(request: Request) -> str | None:
    """The bearer credential of a request, if any."""
    given = request.headers.get("authorization")
    if given is None:
        return None
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def matches_admin_token(value: str, settings: Settings) -> bool:
    token = settings.admin_token
    return token is not None and hmac.compare_digest(value.encode(), token.get_secret_value().encode())


async def authenticate(request: Request, settings: Settings, verify: Callable[[str], Principal | None]) -> Principal:
    """The principal of the request's bearer key; 401 when there is none or it is unknown or revoked."""
    value = bearer(request)
    if value is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an API key is required: send 'Authorization: Bearer <key>' (frontdesk keys create makes one)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if matches_admin_token(value, settings):
        return ADMIN
    principal = await anyio.to_thread.run_sync(verify, value)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the API key is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return principal


async def authorize(request: Request, settings: Settings, runtime: Runtime, scope: Scope) -> Principal:
    """The caller, when its key holds `scope`; 401 or 403 with the reason otherwise."""
    principal = await authenticate(request, settings, runtime.api_keys.verify)
    if not principal.may(scope):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the key {principal.name!r} lacks the scope {scope.value!r}; " + HOW.format(scope=scope.value),
        )
    return principal


async def email_inbound_caller(request: Request, settings: Settings, runtime: Runtime) -> Principal:
    """The caller of the inbound-mail webhook, when its key holds `email:inbound`."""
    return await authorize(request, settings, runtime, Scope.EMAIL_INBOUND)


def require_scope(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's key must hold `scope`."""

    async def check(request: Request, settings: SettingsDep, runtime: RuntimeDep) -> Principal:
        return await authorize(request, settings, runtime, scope)

    check.__name__ = f"require_{scope.value.replace(':', '_')}"
    return check


KnowledgeWriter = Annotated[Principal, Depends(require_scope(Scope.KNOWLEDGE_WRITE))]
KnowledgeReader = Annotated[Principal, Depends(require_scope(Scope.KNOWLEDGE_READ))]
ConversationReader = Annotated[Principal, Depends(require_scope(Scope.CONVERSATIONS_READ))]
ConversationWriter = Annotated[Principal, Depends(require_scope(Scope.CONVERSATIONS_WRITE))]
EmailInbound = Annotated[Principal, Depends(require_scope(Scope.EMAIL_INBOUND))]

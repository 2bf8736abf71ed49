"""FastAPI dependencies shared by the routes."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from frontdesk.runtime import Runtime
from frontdesk.settings import Settings, get_settings
from knowledge.base import KnowledgeBase


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_knowledge(runtime: Annotated[Runtime, Depends(get_runtime)]) -> KnowledgeBase:
    return runtime.knowledge


SettingsDep = Annotated[Settings, Depends(get_settings)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
KnowledgeDep = Annotated[KnowledgeBase, Depends(get_knowledge)]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_admin(request: Request, settings: SettingsDep) -> None:
    """Changes to the knowledge base need the admin token, or a loopback client when none is set."""
    token = settings.admin_token
    if token is None:
        if not _is_loopback(request.client.host if request.client else ""):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "changing the knowledge base from another host needs FRONTDESK_ADMIN_TOKEN to be set",
            )
        return
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.get_secret_value().encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong admin token: send 'Authorization: Bearer <FRONTDESK_ADMIN_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminDep = Depends(require_admin)

"""Console routes: the page at /console, signing in and out, and the signed-in agent.

The work routes are in `console_work`, agent management in `console_admin`, the live feed in
`console_socket`; `router` joins them. Sessions and CSRF are described in `console_deps`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, HTTPException, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from frontdesk.api import console_admin, console_socket, console_work
from frontdesk.api.client_address import client_address
from frontdesk.api.console_deps import (
    COOKIE,
    SIGN_IN_HEADER,
    ActingDep,
    ActorDep,
    Console,
    ConsoleDep,
    call,
    same_origin,
)
from frontdesk.api.throttle import SignInLimit
from frontdesk.console.errors import AuthenticationError
from frontdesk.console.service import Actor
from frontdesk.rate_limits import address_key

STATIC = Path(__file__).resolve().parents[1] / "console" / "static"
FILES = {"console.js": "text/javascript", "console.css": "text/css"}
HOW_TO_ADD = (
    "frontdesk agents add --id ana --name 'Ana Lopez' --email ana@example.com --role admin "
    "--language en --capacity chat=3"
)

router = APIRouter()
api = APIRouter(prefix="/v1/console", tags=["console"])


@router.get("/console", include_in_schema=False)
async def console_page() -> FileResponse:
    """The agent console (a static page that talks to /v1/console)."""
    return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-store"})


@router.get("/console/{name}", include_in_schema=False)
async def console_file(name: str) -> FileResponse:
    """The console's script and stylesheet."""
    if name not in FILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no console file {name!r}; the page is /console")
    return FileResponse(STATIC / name, media_type=FILES[name], headers={"Cache-Control": "no-cache"})


@api.get("/setup")
async def setup(console: ConsoleDep) -> dict[str, Any]:
    """Whether any console account exists, and how to create one when none does."""
    count = await anyio.to_thread.run_sync(console.accounts.count)
    return {"accounts": count, "how_to_create": None if count else HOW_TO_ADD}


class SignIn(BaseModel):
    login: str = Field(min_length=1, max_length=320, description="The agent's id or e-mail address")
    password: str = Field(min_length=1, max_length=1024)


def _sign_in(console: Console, login: str, password: str, address: str | None) -> tuple[Actor, str]:
    wanted = login.strip().lower()
    agent = next(
        (a for a in console.service.router.agents() if a.id.lower() == wanted or a.email.lower() == wanted), None
    )
    # An agent's id and e-mail count as one account; the password is checked only once the delay is over.
    keys = console.limiter.keys(agent.id if agent is not None else login, address)
    console.limiter.attempt(keys)
    if not console.accounts.verify(agent.id if agent is not None else None, password) or agent is None:
        msg = "wrong login or password (or the account is disabled)"
        raise AuthenticationError(msg)
    console.limiter.succeeded(keys)
    session = console.sessions.open(agent.id)
    assert session.token is not None
    return Actor(agent, session), session.token


@api.post("/session", dependencies=[SignInLimit])
async def sign_in(
    credentials: Annotated[SignIn, Body()], request: Request, response: Response, console: ConsoleDep
) -> dict[str, Any]:
    """Sign in with an agent id (or e-mail) and password; sets the session cookie, answers `me` with the
    CSRF token. After a few failed sign-ins of an account (or from an address) each next attempt must wait
    a growing delay before it is checked (429 with Retry-After); the rate of attempts per address is limited."""
    name, value = SIGN_IN_HEADER
    if request.headers.get(name) != value or not same_origin(request, console, required=False):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"sign in from the console page (header {name}: {value})")
    address = address_key(client_address(request))
    actor, token = await call(lambda: _sign_in(console, credentials.login, credentials.password, address))
    secure = request.url.scheme == "https" or (console.public_origin or "").startswith("https:")
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(console.sessions.lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return await call(lambda: console.service.me(actor))


@api.delete("/session", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(actor: ActingDep, console: ConsoleDep, response: Response) -> Response:
    """Sign out: the session ends on every worker and its open pages close."""
    if actor.session is not None:
        session = actor.session
        await call(lambda: console.sessions.close(session))
    response.status_code = status.HTTP_204_NO_CONTENT
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@api.get("/me")
async def me(actor: ActorDep, console: ConsoleDep) -> dict[str, Any]:
    """The signed-in agent, their role's permissions and the CSRF token for changes."""
    return await call(lambda: console.service.me(actor))


api.include_router(console_work.router)
api.include_router(console_admin.router)
api.include_router(console_socket.router)
router.include_router(api)

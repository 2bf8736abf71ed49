"""The console's wiring and its FastAPI dependencies: the signed-in agent (session cookie), the CSRF and
origin checks on changes, and the translation of domain errors to 4xx answers with a reason.

Sessions. Signing in sets an HttpOnly, SameSite=Strict cookie (`Secure` over HTTPS or with an https
`FRONTDESK_PUBLIC_BASE_URL`) holding a random token; the database keeps only its SHA-256 with an expiry,
so every worker knows every session and signing out ends it everywhere. CSRF: besides SameSite=Strict,
every change needs the session's CSRF token in an `X-CSRF-Token` header (a header no cross-site form can
send, and this service answers no CORS preflight for the console) and, when the browser sends an `Origin`,
that origin must be this service's. Signing in needs `X-Requested-With: frontdesk-console` for the same
reason. The WebSocket takes the same cookie and requires its `Origin` to be this service's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

import anyio
from anyio import create_task_group
from fastapi import Depends, FastAPI, HTTPException, Request, status
from pydantic import ValidationError
from starlette.requests import HTTPConnection

from frontdesk.console.accounts import AccountStore, SignInLimiter
from frontdesk.console.admin import AgentAdmin
from frontdesk.console.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConsoleConflictError,
    ConsoleNotFoundError,
    InvalidInputError,
    TooManyAttemptsError,
)
from frontdesk.console.live import ConsoleHub
from frontdesk.console.notes import NoteStore
from frontdesk.console.notifier import OfferMailer
from frontdesk.console.service import Actor, ConsoleService
from frontdesk.console.sessions import SessionStore
from frontdesk.console.suggestions import ReplySuggester
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings
from routing import ConflictError, NotFoundError, PermissionDeniedError, RoutingError

COOKIE = "frontdesk_console"
CSRF_HEADER = "X-CSRF-Token"
SIGN_IN_HEADER = ("X-Requested-With", "frontdesk-console")
T = TypeVar("T")


@dataclass(slots=True)
class Console:
    """The console of this process: its service, accounts, sessions, live feed and offer e-mails."""

    service: ConsoleService
    admin: AgentAdmin
    accounts: AccountStore
    sessions: SessionStore
    limiter: SignInLimiter
    hub: ConsoleHub
    mailer: OfferMailer | None
    settings: Settings

    async def run(self) -> None:
        """The live feed and the offer e-mails, until cancelled."""
        async with create_task_group() as group:
            group.start_soon(self.hub.run)
            if self.mailer is not None:
                group.start_soon(self.mailer.run)

    @property
    def public_origin(self) -> str | None:
        """The origin of `FRONTDESK_PUBLIC_BASE_URL`, if set."""
        base = self.settings.public_base_url
        if not base:
            return None
        parts = urlsplit(base)
        return f"{parts.scheme}://{parts.netloc}"


def build_console(runtime: Runtime) -> Console | None:
    """The console over the runtime's routing, handoff, inbox and knowledge (None without routing); its
    live feed and mailer are subscribed to the runtime's routing events."""
    if runtime.router is None or runtime.handoff is None or runtime.routing_events is None:
        return None
    settings, engine = runtime.settings, runtime.engine
    deps = runtime.agent.deps
    suggester = ReplySuggester(
        runtime.knowledge,
        deps.offline,
        checker=deps.checker,
        rewriter=deps.offline_rewriter,
        min_score=deps.config.min_confidence,
    )
    service = ConsoleService(runtime.router, runtime.handoff, runtime.inbox, NoteStore(engine), suggester)
    accounts = AccountStore(engine)
    sessions = SessionStore(engine, lifetime=dt.timedelta(hours=settings.console_session_hours))
    limiter = SignInLimiter(
        engine,
        per_account=settings.console_sign_in_limit,
        per_address=settings.console_sign_in_address_limit,
        max_delay=settings.console_sign_in_max_delay,
    )
    hub = ConsoleHub(service, sessions, refresh_seconds=settings.console_refresh_seconds)
    runtime.routing_events.subscribe(hub.on_event)
    mailer = None
    smtp = settings.smtp()
    if settings.console_offer_emails and smtp is not None and settings.email_from:
        base = (settings.public_base_url or "").rstrip("/")
        mailer = OfferMailer(
            runtime.router,
            smtp,
            settings.email_from,
            sender_name=settings.email_from_name,
            console_url=f"{base}/console" if base else None,
        )
        runtime.routing_events.subscribe(mailer.on_event)
    admin = AgentAdmin(runtime.router, accounts)
    return Console(service, admin, accounts, sessions, limiter, hub, mailer, settings)


def start(app: FastAPI, runtime: Runtime) -> Console | None:
    """Build the console for this process and keep it on the app (called once in the lifespan)."""
    console = build_console(runtime)
    app.state.console = console
    return console


def get_console(connection: HTTPConnection) -> Console:
    console: Console | None = getattr(connection.app.state, "console", None)
    if console is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the agent console is not available (no routing)")
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]


async def call(work: Callable[[], T]) -> T:
    """Run `work` in a worker thread, turning domain errors into 4xx answers that say why."""
    try:
        return await anyio.to_thread.run_sync(work)
    except AuthenticationError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    except (AccessDeniedError, PermissionDeniedError) as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    except (ConsoleNotFoundError, NotFoundError) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except (ConsoleConflictError, ConflictError) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except TooManyAttemptsError as exc:
        headers = {"Retry-After": str(exc.retry_after)}
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers=headers) from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems) from exc
    except (InvalidInputError, RoutingError, ValueError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


def same_origin(connection: HTTPConnection, console: Console, *, required: bool) -> bool:
    """Whether the request's `Origin` is this service (its Host, or the public base URL); a request without
    one passes unless `required`."""
    origin = connection.headers.get("origin")
    if origin is None:
        return not required
    origin = origin.rstrip("/")
    host = connection.headers.get("host")
    return (host is not None and urlsplit(origin).netloc == host) or origin == console.public_origin


async def current_actor(request: Request, console: ConsoleDep) -> Actor:
    """The agent whose session cookie came with the request."""
    session = await anyio.to_thread.run_sync(console.sessions.find, request.cookies.get(COOKIE))
    if session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not signed in, or the session ended: sign in at /console")
    agent = await call(lambda: console.service.router.agent(session.agent_id))
    return Actor(agent, session)


ActorDep = Annotated[Actor, Depends(current_actor)]


async def acting_actor(request: Request, actor: ActorDep, console: ConsoleDep) -> Actor:
    """The signed-in agent of a request that changes something: same origin, with the CSRF token."""
    if not same_origin(request, console, required=False):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"cross-site request from {request.headers.get('origin')!r}")
    if actor.session is None or not actor.session.csrf_matches(request.headers.get(CSRF_HEADER)):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"missing or wrong {CSRF_HEADER} header (the csrf_token of GET /v1/console/me)"
        )
    return actor


ActingDep = Annotated[Actor, Depends(acting_actor)]

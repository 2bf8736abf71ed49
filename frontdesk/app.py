"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from frontdesk import __version__, db
from frontdesk.api import alerts as alert_routes
from frontdesk.api import analytics as analytics_routes
from frontdesk.api import console as console_routes
from frontdesk.api import console_deps, docs
from frontdesk.api import conversations as conversation_routes
from frontdesk.api import gaps as gap_routes
from frontdesk.api import knowledge as knowledge_routes
from frontdesk.api import openapi as openapi_doc
from frontdesk.api import webchat as webchat_routes
from frontdesk.channel_setup import install_channels, start_channels
from frontdesk.middleware import install_edge
from frontdesk.rate_limits import RateLimits
from frontdesk.runtime import Runtime, build_runtime, ingest_demo_if_empty
from frontdesk.settings import Settings, get_settings
from knowledge.embeddings import Embedder
from knowledge.errors import KnowledgeError

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, *, embedder: Embedder | None = None, runtime: Runtime | None = None
) -> FastAPI:
    """Build the service. Expensive parts are built in the lifespan unless a `runtime` is given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = runtime is None
        current = runtime
        if current is None:
            chosen = settings or get_settings()
            current = await anyio.to_thread.run_sync(lambda: build_runtime(chosen, embedder=embedder))
            await anyio.to_thread.run_sync(ingest_demo_if_empty, current)
        app.state.runtime = current
        app.state.rate_limits = RateLimits.from_settings(current.settings)
        webchat = webchat_routes.start(app, current)
        console = console_deps.start(app, current)
        try:
            async with start_channels(app, current), anyio.create_task_group() as workers:
                workers.start_soon(current.run_workers)
                workers.start_soon(webchat.relay.run)
                if console is not None:
                    workers.start_soon(console.run)
                yield
                workers.cancel_scope.cancel()
        finally:
            if own:
                current.close()

    configured = settings or (runtime.settings if runtime is not None else get_settings())
    app = FastAPI(
        title="Frontdesk",
        version=__version__,
        summary="Self-hosted AI customer support that answers from your knowledge base.",
        lifespan=lifespan,
        docs_url=None,  # /docs is ours (frontdesk.api.docs): Swagger UI without a CDN or an inline script
        redoc_url=None,  # ReDoc only comes from a CDN
        openapi_url="/openapi.json" if configured.api_docs else None,
    )
    install_edge(app, configured)
    if settings is not None:
        app.dependency_overrides[get_settings] = lambda: settings
    elif runtime is not None:
        app.dependency_overrides[get_settings] = lambda: runtime.settings

    @app.exception_handler(KnowledgeError)
    async def _knowledge_error(_request: Request, exc: KnowledgeError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.exception_handler(ValueError)
    async def _value_error(_request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": jsonable_errors(exc)})

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        """The database and the vector store answer."""
        current: Runtime = request.app.state.runtime
        checks: dict[str, str] = {}
        for name, check in (("database", lambda: db.ping(current.engine)), ("vector_store", current.store.ping)):
            try:
                await anyio.to_thread.run_sync(check)
                checks[name] = "ok"
            except Exception as exc:  # any failure means not ready; the reason (it may hold a URL) is only logged
                logger.warning("readiness: the %s check failed: %s", name, exc)
                checks[name] = "unavailable"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            status_code=200 if ready else 503, content={"status": "ready" if ready else "not ready", **checks}
        )

    install_channels(app, configured)
    if configured.api_docs:
        app.include_router(docs.router)
    app.include_router(knowledge_routes.router)
    app.include_router(conversation_routes.router)
    app.include_router(webchat_routes.router)
    app.include_router(console_routes.router)
    app.include_router(alert_routes.router)
    app.include_router(analytics_routes.router)
    app.include_router(gap_routes.router)
    openapi_doc.document_errors(app)
    return app


def jsonable_errors(exc: RequestValidationError) -> list[dict[str, object]]:
    """Validation errors without the raw input objects (which may not serialise)."""
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in exc.errors()
    ]

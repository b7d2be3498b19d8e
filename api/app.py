"""App: the HTTP API of CONTRACT.md as a FastAPI application.

    >>> app = create_app(Settings.from_env())        # what `rag serve` runs under uvicorn
    $ OMP_WAIT_POLICY=PASSIVE uvicorn api.app:factory --factory --no-proxy-headers

(`--no-proxy-headers`: uvicorn otherwise believes X-Forwarded-For from loopback, and a client
could choose its own rate-limit bucket; `rag serve` turns it off and trusts RAG_TRUSTED_PROXIES.
`OMP_WAIT_POLICY`: what `rag serve` sets before the OpenMP libraries load, see `rag`.)

`create_app` only assembles: the app's state (`api.deps.AppState`), the middleware, the error
handlers (`api.errors`) and one router per route group:

    api.routes_ops        GET /healthz, /readyz, /metrics
    api.routes_ask        POST /ask
    api.routes_documents  GET, POST /documents; GET, DELETE /documents/{doc_id}
    api.routes_static     GET /, /widget.js and the demo page's assets
    api.routes_feedback   POST, GET /feedback
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import routes_ask, routes_documents, routes_feedback, routes_ops, routes_static
from api.deps import AppState
from api.errors import EXCEPTION_HANDLERS
from api.logs import configure_logging
from api.metrics import HttpMetrics
from api.middleware import BodyLimitMiddleware, RequestContextMiddleware, TrustedProxyMiddleware
from api.models import ErrorBody
from api.ratelimit import Admission, RateLimiter
from api.service import PipelineFactory, Service
from rag.config import Settings
from rag.feedback import FEEDBACK_FILE, FeedbackStore

MAX_BODY_BYTES = 64 * 1024  # the CONTRACT's limit; it also bounds the size of one document
ROUTERS = (
    routes_ops.router,
    routes_ask.router,
    routes_documents.router,
    routes_static.router,
    routes_feedback.router,
)
DESCRIPTION = """Cited extractive answers from a set of Chinese articles, in English or Chinese.
Writes (POST, DELETE /documents) need `Authorization: Bearer <RAG_ADMIN_TOKEN>`; reads are public.

Errors are JSON `{"detail": "what to change", "request_id": ...}`: 401/403 token, 404 unknown
document or route, 408 body not sent in time, 413 body over 64 KiB, 422 body sent as another
content type than JSON, 422 invalid body (bad JSON, bad UTF-8, wrong types, limits), 429 too
many questions for one client (counted by their work; see Retry-After), 503 while no index is
loaded or while the server holds as many questions as it admits (see Retry-After)."""


def create_app(settings: Settings, pipeline_factory: PipelineFactory | None = None) -> FastAPI:
    """The FastAPI app over one index; its pipeline loads in the background (see api.service)."""
    service = Service(settings, pipeline_factory)
    state = AppState(
        settings=settings,
        service=service,
        metrics=HttpMetrics(service.index_size),
        feedback=FeedbackStore(settings.index_dir / FEEDBACK_FILE),
        admission=Admission(settings.max_queue),
        limiter=(
            RateLimiter(settings.rate_limit_per_minute) if settings.rate_limit_per_minute else None
        ),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        yield

    app = FastAPI(
        title="Cited answers from Chinese articles",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        responses={
            413: {"model": ErrorBody, "description": "body over 64 KiB"},
            422: {"model": ErrorBody, "description": "invalid body"},
            503: {"model": ErrorBody, "description": "no index loaded yet"},
        },
    )
    app.state.rag = state  # what the routes' dependencies read (api.deps)
    for router in ROUTERS:
        app.include_router(router)

    # Middleware: the last added is the outermost.
    app.add_middleware(BodyLimitMiddleware, limit=MAX_BODY_BYTES, timeout=settings.body_timeout)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=600,
    )
    # The routers' own routes, so a request answered before routing (a 413) is still counted
    # under its route template, and the app's (/docs, /openapi.json).
    routes = [*(route for router in ROUTERS for route in router.routes), *app.router.routes]
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics, routes=routes)
    # Outermost, so the log, the metrics and the limiter all see the same client.
    app.add_middleware(TrustedProxyMiddleware, trusted=settings.trusted_proxies)
    return app


def factory() -> FastAPI:
    """For `uvicorn api.app:factory --factory`: settings from the environment, JSON logs."""
    configure_logging()
    return create_app(Settings.from_env())

"""App: the HTTP API of CONTRACT.md as a FastAPI application.

    >>> app = create_app(Settings.from_env())        # what `rag serve` runs under uvicorn
    $ uvicorn api.app:factory --factory --no-proxy-headers   # the same, settings from the env

(`--no-proxy-headers`: uvicorn otherwise believes X-Forwarded-For from loopback, and a client
could choose its own rate-limit bucket; `rag serve` turns it off and trusts RAG_TRUSTED_PROXIES.)

Routes that do CPU work (`/ask`, document reads and writes) are plain `def`s: FastAPI runs them in
its threadpool, so the event loop keeps answering /healthz and /metrics during a slow request.
Checks that only look at headers (token, content type, rate limit) are `async` dependencies.

Errors are JSON `{"detail": "what to change", "request_id": ...}`; `DESCRIPTION` (what /docs
shows) lists their statuses, and a 500 is only ever a bug.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.logs import configure_logging, request_id_var
from api.metrics import HttpMetrics
from api.middleware import BodyLimitMiddleware, RequestContextMiddleware, TrustedProxyMiddleware
from api.models import (
    AskRequest,
    AskResponse,
    DocumentIn,
    DocumentList,
    DocumentOut,
    DocumentSummary,
    ErrorBody,
    Health,
    IngestResponse,
    Ready,
)
from api.ratelimit import Admission, RateLimiter, ask_cost
from api.routes_feedback import feedback_router
from api.service import PipelineFactory, Service
from rag.config import Settings
from rag.conversation import Turn
from rag.embed import query_tokens
from rag.feedback import FEEDBACK_FILE, FeedbackStore
from rag.ingest import IngestError, make_document
from rag.pipeline import QuestionError, check_question

MAX_BODY_BYTES = 64 * 1024  # the CONTRACT's limit; it also bounds the size of one document
STATIC_DIR = Path(__file__).resolve().parent / "static"

_EXAMPLES = {
    "/ask": '{"question": "Which clouds are building datacentres in Mexico?", "top_k": 5}',
    "/documents": '{"doc_id": "my-article", "title": "My article", "text": "..."}',
}
DESCRIPTION = """Cited extractive answers from a set of Chinese articles, in English or Chinese.
Writes (POST, DELETE /documents) need `Authorization: Bearer <RAG_ADMIN_TOKEN>`; reads are public.

Errors are JSON `{"detail": "what to change", "request_id": ...}`: 401/403 token, 404 unknown
document or route, 408 body not sent in time, 413 body over 64 KiB, 422 body sent as another
content type than JSON, 422 invalid body (bad JSON, bad UTF-8, wrong types, limits), 429 too
many questions for one client (counted by their work; see Retry-After), 503 while no index is
loaded or while the server holds as many questions as it admits (see Retry-After)."""
_PARSE_ERROR = "There was an error parsing the body"  # FastAPI's 400 for a body it cannot read
log = logging.getLogger("api")


class _AssetConvertor(Convertor[str]):
    """Names of the demo page's assets in api/static (`widget.js`, `demo.css`): no paths."""

    regex = r"[A-Za-z0-9_-]+\.(?:js|css|svg|png|ico|map)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("asset", _AssetConvertor())


def _error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = {"detail": detail, "request_id": request_id_var.get()}
    return JSONResponse(body, status_code=status, headers=headers)


def _describe(errors: Sequence[Any], path: str) -> str:
    """One sentence per validation error, saying which field and what to send instead."""
    example = _EXAMPLES.get(path, "")
    e_g = f", e.g. {example}" if example else ""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        kind = err.get("type", "")
        if kind == "json_invalid":
            reason = err.get("ctx", {}).get("error", "syntax error")
            pos = loc[1] if len(loc) > 1 else "?"
            parts.append(f"body is not valid JSON ({reason} at character {pos}){e_g}")
            continue
        field = ".".join(loc[1:]) if loc[:1] == ["body"] else ".".join(loc)
        if not field:
            if kind == "missing":
                parts.append(f"body is empty or null: send a JSON object{e_g}")
            else:
                parts.append(f"body must be a JSON object{e_g}")
            continue
        parts.append(f"{field}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def create_app(settings: Settings, pipeline_factory: PipelineFactory | None = None) -> FastAPI:
    """The FastAPI app over one index; its pipeline loads in the background (see api.service)."""
    service = Service(settings, pipeline_factory)
    metrics = HttpMetrics(service.index_size)
    limiter = (
        RateLimiter(settings.rate_limit_per_minute) if settings.rate_limit_per_minute else None
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
        responses={
            413: {"model": ErrorBody, "description": "body over 64 KiB"},
            422: {"model": ErrorBody, "description": "invalid body"},
            503: {"model": ErrorBody, "description": "no index loaded yet"},
        },
    )
    app.state.service = service
    app.state.metrics = metrics
    feedback = FeedbackStore(settings.index_dir / FEEDBACK_FILE)  # beside the index, kept by builds

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
    app.add_middleware(RequestContextMiddleware, metrics=metrics, routes=app.router.routes)
    # Outermost, so the log, the metrics and the limiter all see the same client.
    app.add_middleware(TrustedProxyMiddleware, trusted=settings.trusted_proxies)
    admission = Admission(settings.max_queue)

    # -- errors ----------------------------------------------------------------------------------
    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]
        body = {
            "detail": _describe(exc.errors(), request.url.path),
            "request_id": request_id_var.get(),
            "errors": errors,  # the same, for programs: where (loc), what (msg), which check
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _PARSE_ERROR:
            cause = exc.__cause__
            if isinstance(cause, UnicodeDecodeError):
                detail = (
                    f"body is not valid UTF-8 ({cause.reason} at byte {cause.start}): "
                    "send JSON encoded as UTF-8"
                )
            elif isinstance(cause, RecursionError):
                detail = "body is nested too deeply to parse: send a flat JSON object"
            else:
                detail = f"body could not be parsed as JSON ({cause or 'unknown error'})"
            return _error(422, detail)
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such route: {request.method} {request.url.path} (see /docs)"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path} (see /docs)"
        return _error(exc.status_code, detail, exc.headers)

    # -- checks ----------------------------------------------------------------------------------
    bearer = HTTPBearer(auto_error=False, description="the server's RAG_ADMIN_TOKEN")

    async def require_admin(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> None:
        token = settings.admin_token
        if not token:
            raise HTTPException(
                403,
                "writes are off: this server has no admin token; start it with RAG_ADMIN_TOKEN "
                "set to enable POST and DELETE /documents",
            )
        given = credentials.credentials.encode("utf-8") if credentials else b""
        if not hmac.compare_digest(given, token.encode("utf-8")):
            raise HTTPException(
                401,
                "missing or wrong admin token: send the header Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    async def require_json(request: Request) -> None:
        ctype = request.headers.get("content-type", "")
        main = ctype.split(";", 1)[0].strip().lower()
        # CONTRACT: an invalid body is a 422. A body with no content type is read as JSON (what
        # FastAPI does), so minimal clients work; a declared non-JSON type is refused.
        if (
            main
            and main != "application/json"
            and not (main.startswith("application/") and main.endswith("+json"))
        ):
            raise HTTPException(
                422,
                f"body sent as {main or 'no content type'}: send JSON with the header "
                "Content-Type: application/json",
            )

    async def rate_limit(request: Request) -> None:
        if limiter is None:
            return
        client = request.client.host if request.client else "unknown"
        wait = limiter.wait(client)
        if wait > 0:
            seconds = math.ceil(wait)
            raise HTTPException(
                429,
                f"too many questions from {client}: the limit is "
                f"{settings.rate_limit_per_minute} a minute, counted in ordinary questions (a "
                f"long question or a large top_k counts as several); retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )

    async def admit() -> AsyncIterator[None]:
        """A place among the questions the server holds at once (RAG_MAX_QUEUE), or 503."""
        if not admission.enter():
            raise HTTPException(
                503,
                f"the server is busy: {admission.limit} questions are already being answered "
                "or queued; retry in 1 s",
                headers={"Retry-After": "1"},
            )
        try:
            yield
        finally:
            admission.leave()

    # -- operations ------------------------------------------------------------------------------
    @app.get("/healthz", response_model=Health, tags=["operations"])
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Ready, tags=["operations"])
    async def readyz() -> Ready:  # async: it must answer even when every worker thread is busy
        pipe = service.pipeline()
        index = pipe.index
        return Ready(
            documents=len(index.documents), chunks=len(index.chunks), embedder=pipe.embedder.name
        )

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    # -- questions -------------------------------------------------------------------------------
    @app.post(
        "/ask",
        response_model=AskResponse,
        dependencies=[Depends(rate_limit), Depends(require_json), Depends(admit)],
        responses={429: {"model": ErrorBody}},
        tags=["questions"],
    )
    def ask(body: AskRequest, request: Request) -> dict[str, Any]:
        """A short extractive answer with citations, or an abstention, and the top passages."""
        try:
            question, top_k = check_question(body.question, body.top_k)
            if limiter is not None and request.client:  # the rest of its cost (see ratelimit)
                pipe = service.pipeline()
                passages = max(top_k, pipe.answer_settings.read_k)
                cost = ask_cost(query_tokens(pipe.embedder, question), passages)
                limiter.charge(request.client.host, cost - 1.0)
            history = [Turn(t.question, t.answer) for t in body.history]
            response = service.pipeline().ask(question, top_k, history=history).to_json()
        except QuestionError as exc:
            raise HTTPException(422, str(exc)) from None
        if response.get("abstained"):  # what the corpus may be missing: `rag feedback gaps`
            try:
                feedback.record_abstention(question, response.get("resolved_question"))
            except (sqlite3.Error, OSError):
                log.warning("could not record an abstention in %s", feedback.path, exc_info=True)
        return response

    # -- documents -------------------------------------------------------------------------------
    @app.get("/documents", response_model=DocumentList, tags=["documents"])
    def list_documents() -> DocumentList:
        index = service.pipeline().index
        return DocumentList(
            documents=[
                DocumentSummary(
                    doc_id=doc.doc_id,
                    title=doc.title,
                    url=doc.url,
                    published=doc.published,
                    chars=len(doc.text),
                    n_chunks=index.n_chunks.get(doc.doc_id, 0),
                )
                for doc in sorted(index.documents.values(), key=lambda d: d.doc_id)
            ]
        )

    @app.get(
        "/documents/{doc_id}",
        response_model=DocumentOut,
        responses={404: {"model": ErrorBody}},
        tags=["documents"],
    )
    def get_document(doc_id: str) -> DocumentOut:
        doc = service.pipeline().index.documents.get(doc_id)
        if doc is None:
            raise HTTPException(404, f"no document {doc_id!r}: GET /documents lists them")
        return DocumentOut(
            doc_id=doc.doc_id, title=doc.title, url=doc.url, published=doc.published, text=doc.text
        )

    @app.post(
        "/documents",
        status_code=201,
        response_model=IngestResponse,
        dependencies=[Depends(require_admin), Depends(require_json)],
        responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
        tags=["documents"],
    )
    def add_document(body: DocumentIn) -> IngestResponse:
        """Add a document, or replace the one with the same doc_id. The 201 comes once the new
        index is on disk: the document survives a crash from then on."""
        pipe = service.pipeline()
        content = body.text if body.text is not None else body.html or body.markdown or ""
        doc_id = body.doc_id
        if doc_id is None:
            doc_id = "doc-" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]
        try:
            doc = make_document(
                doc_id=doc_id,
                text=body.text,
                html=body.html,
                markdown=body.markdown,
                title=body.title,
                url=body.url,
                published=body.published,
            )
        except IngestError as exc:
            raise HTTPException(422, str(exc)) from None
        return IngestResponse(doc_id=doc.doc_id, n_chunks=pipe.upsert(doc))

    @app.delete(
        "/documents/{doc_id}",
        status_code=204,
        response_class=Response,
        dependencies=[Depends(require_admin)],
        responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
        tags=["documents"],
    )
    def delete_document(doc_id: str) -> Response:
        if not service.pipeline().delete(doc_id):
            raise HTTPException(404, f"no document {doc_id!r}: GET /documents lists them")
        return Response(status_code=204)

    # -- the demo page and the widget ------------------------------------------------------------
    def static_file(name: str) -> FileResponse:
        path = STATIC_DIR / name
        if not path.is_file():
            raise HTTPException(404, f"{name} is missing from api/static")
        return FileResponse(path)

    @app.get("/", response_class=FileResponse, tags=["widget"])
    async def demo_page() -> FileResponse:
        """The demo page with the chat widget."""
        return static_file("index.html")

    @app.get("/widget.js", response_class=FileResponse, tags=["widget"])
    async def widget() -> FileResponse:
        """The embeddable widget: `<script src=".../widget.js" defer></script>`."""
        return static_file("widget.js")

    @app.get("/{name:asset}", response_class=FileResponse, include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        return static_file(name)

    app.include_router(feedback_router(feedback, rate_limit, require_json, require_admin))
    return app


def factory() -> FastAPI:
    """For `uvicorn api.app:factory --factory`: settings from the environment, JSON logs."""
    configure_logging()
    return create_app(Settings.from_env())

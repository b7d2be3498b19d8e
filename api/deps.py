"""Dependencies: what the routes need, handed to them by FastAPI's `Depends`.

    >>> @router.delete("/documents/{doc_id}", dependencies=[Depends(require_admin)])
    ... def delete_document(doc_id: str, pipe: LivePipeline) -> Response: ...

Everything comes from the one `AppState` that `create_app` keeps on the app
(`app.state.rag`), so a route module holds no state and two apps in one process (the tests)
never share a limiter or a pipeline.

The checks (token, content type, rate limit, admission) look only at headers and counters, so
they are `async`: they run on the event loop, never wait for a worker thread, and refuse a
request before its body is validated. A route lists them in the order it refuses in (on /ask:
rate limit, content type, admission; then the body; then a 503 while no index is loaded).
"""

from __future__ import annotations

import hmac
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.metrics import HttpMetrics
from api.ratelimit import Admission, RateLimiter
from api.service import Service
from rag.config import Settings
from rag.feedback import FeedbackStore
from rag.pipeline import Pipeline


@dataclass(frozen=True)
class AppState:
    """What one app holds for its routes."""

    settings: Settings
    service: Service  # the pipeline, loaded in the background
    metrics: HttpMetrics
    feedback: FeedbackStore  # beside the index, kept by rebuilds
    admission: Admission  # questions inside at once (RAG_MAX_QUEUE)
    limiter: RateLimiter | None  # questions a client may ask a minute; None = no limit


async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.rag
    return state


State = Annotated[AppState, Depends(app_state)]


async def live_pipeline(state: State) -> Pipeline:
    """The loaded pipeline, or 503 with Retry-After while the index loads (`Service.pipeline`).
    A route with a body it must check first (a 422 before a 503) asks `state.service` itself."""
    return state.service.pipeline()


LivePipeline = Annotated[Pipeline, Depends(live_pipeline)]

bearer = HTTPBearer(auto_error=False, description="the server's RAG_ADMIN_TOKEN")


async def require_admin(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """403 while writes are off (no RAG_ADMIN_TOKEN), 401 without the right bearer token."""
    token = state.settings.admin_token
    if not token:
        raise HTTPException(
            403,
            "writes are off: this server has no admin token; start it with RAG_ADMIN_TOKEN "
            "set to enable POST and DELETE /documents",
        )
    given = credentials.credentials.encode("utf-8") if credentials else b""
    if not hmac.compare_digest(given, token.encode("utf-8")):  # constant time: no timing oracle
        raise HTTPException(
            401,
            "missing or wrong admin token: send the header Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def require_json(request: Request) -> None:
    """422 for a body declared as another type than JSON."""
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


async def rate_limit(request: Request, state: State) -> None:
    """429 with Retry-After once the client has spent its questions (`api.ratelimit`); a
    question pays one on the way in, the rest of its cost once its length is known."""
    limiter = state.limiter
    if limiter is None:
        return
    client = request.client.host if request.client else "unknown"
    wait = limiter.wait(client)
    if wait > 0:
        seconds = math.ceil(wait)
        raise HTTPException(
            429,
            f"too many questions from {client}: the limit is "
            f"{state.settings.rate_limit_per_minute} a minute, counted in ordinary questions (a "
            f"long question or a large top_k counts as several); retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


async def admit(state: State) -> AsyncIterator[None]:
    """A place among the questions the server holds at once (RAG_MAX_QUEUE), or 503."""
    admission = state.admission
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

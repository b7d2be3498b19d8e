"""Errors: every error response of the API, as JSON `{"detail": "what to change", "request_id"}`.

    >>> app = FastAPI(exception_handlers=EXCEPTION_HANDLERS)   # what `create_app` does

Three handlers, one per kind of failure:
- `RequestValidationError` (a body FastAPI could not validate): 422, one sentence per problem,
  plus the same as `errors` for programs.
- `HTTPException` (raised by the routes and their checks, and by Starlette for unknown routes or
  methods, and for a body it cannot read): its status, with a detail that says what to do.
- `RagError` (the library's errors): the one place that maps them to HTTP statuses, `STATUS`.
  A class it does not list is a failure of the server's side: 500 "internal error", with the
  traceback in the log only, exactly as for a bug (`api.middleware`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.logs import request_id_var
from rag.errors import RagError
from rag.feedback import FeedbackError
from rag.ingest import IngestError
from rag.pipeline import NotReadyError, QuestionError

log = logging.getLogger("api")

# The library's errors that a client causes (or may wait out); every other RagError is a 500.
STATUS: dict[type[RagError], int] = {
    QuestionError: 422,  # a question out of the CONTRACT's limits
    IngestError: 422,  # a document that cannot be cleaned into text
    FeedbackError: 422,  # a feedback object that cannot be stored
    NotReadyError: 503,  # no index loaded yet
}

# Bodies sent with the 422 for a body that is not valid JSON, so the detail shows what works.
_EXAMPLES = {
    "/ask": '{"question": "Which clouds are building datacentres in Mexico?", "top_k": 5}',
    "/documents": '{"doc_id": "my-article", "title": "My article", "text": "..."}',
}
_PARSE_ERROR = "There was an error parsing the body"  # FastAPI's 400 for a body it cannot read


def error_response(
    status: int, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = {"detail": detail, "request_id": request_id_var.get()}
    return JSONResponse(body, status_code=status, headers=headers)


def describe(errors: Sequence[Any], path: str) -> str:
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


async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]
    body = {
        "detail": describe(exc.errors(), request.url.path),
        "request_id": request_id_var.get(),
        "errors": errors,  # the same, for programs: where (loc), what (msg), which check
    }
    return JSONResponse(body, status_code=422)


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
        return error_response(422, detail)
    detail = str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no such route: {request.method} {request.url.path} (see /docs)"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path} (see /docs)"
    return error_response(exc.status_code, detail, exc.headers)


def status_of(exc: RagError) -> int:
    """The HTTP status of a library error: its nearest class in `STATUS`, else 500."""
    return next((STATUS[c] for c in type(exc).__mro__ if c in STATUS), 500)


async def rag_error(request: Request, exc: RagError) -> JSONResponse:
    status = status_of(exc)
    if status == 500:  # the server's side (store, embedder, settings): its message is not for
        # clients, and whoever runs the server needs the traceback
        log.error("%s in %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal error")
    return error_response(status, str(exc))


Handler = Callable[[Request, Any], Coroutine[Any, Any, Response]]
EXCEPTION_HANDLERS: dict[int | type[Exception], Handler] = {
    RequestValidationError: invalid_body,
    StarletteHTTPException: http_error,
    RagError: rag_error,
}

"""Feedback routes: `POST /feedback` (anyone; rate and size limited like /ask) and `GET /feedback`
(admin token; JSON Lines), over `rag.feedback.FeedbackStore` beside the index.

    >>> app.include_router(feedback_router(store, rate_limit, require_json, require_admin))

The checks are the app's own dependencies, passed in, so feedback is limited exactly as /ask is
and exported under the same token as the document writes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import Field, StrictInt

from api.models import ErrorBody, Text, _Request, _Response
from rag.feedback import Feedback, FeedbackError, FeedbackStore, dump_jsonl
from rag.pipeline import MAX_QUESTION_CHARS

MAX_ANSWER_CHARS = 4000  # answers are short; a list answer with its markers stays well under this
MAX_COMMENT_CHARS = 2000
MAX_CITATIONS = 20  # the most an answer has: one per passage of the largest top_k

Check = Callable[..., Coroutine[Any, Any, None]]


class FeedbackCitation(_Request):
    n: StrictInt | None = None
    doc_id: Text = Field(max_length=200)
    start: StrictInt | None = None
    end: StrictInt | None = None
    quote: Text | None = Field(None, max_length=MAX_ANSWER_CHARS)


class FeedbackIn(_Request):
    question: Text = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    resolved_question: Text | None = Field(None, max_length=MAX_QUESTION_CHARS * 2)
    answer: Text = Field(max_length=MAX_ANSWER_CHARS, description='"" when the service abstained')
    citations: list[FeedbackCitation] = Field(default_factory=list, max_length=MAX_CITATIONS)
    vote: Literal["up", "down"]
    comment: Text | None = Field(None, max_length=MAX_COMMENT_CHARS)


class FeedbackCreated(_Response):
    id: str


def feedback_router(
    store: FeedbackStore, rate_limit: Check, require_json: Check, require_admin: Check
) -> APIRouter:
    router = APIRouter(tags=["feedback"])

    @router.post(
        "/feedback",
        status_code=201,
        response_model=FeedbackCreated,
        dependencies=[Depends(rate_limit), Depends(require_json)],
        responses={429: {"model": ErrorBody}},
    )
    def post_feedback(body: FeedbackIn) -> FeedbackCreated:
        """A thumbs up or down on an answer, with an optional comment; stored durably."""
        try:
            item = Feedback(
                question=body.question,
                resolved_question=body.resolved_question,
                answer=body.answer,
                citations=[c.model_dump(exclude_none=True) for c in body.citations],
                vote=body.vote,
                comment=body.comment or None,
            )
        except FeedbackError as exc:
            raise HTTPException(422, str(exc)) from None
        return FeedbackCreated(id=store.add(item))

    @router.get(
        "/feedback",
        response_class=StreamingResponse,
        dependencies=[Depends(require_admin)],
        responses={
            200: {"content": {"application/x-ndjson": {}}, "description": "JSON Lines"},
            401: {"model": ErrorBody},
            403: {"model": ErrorBody},
        },
    )
    def export_feedback() -> StreamingResponse:
        """Every stored feedback object, oldest first, one JSON object a line."""
        return StreamingResponse(dump_jsonl(list(store.all())), media_type="application/x-ndjson")

    return router

"""Feedback routes: `POST /feedback` (anyone; rate and size limited like /ask) and `GET /feedback`
(admin token; JSON Lines), over `rag.feedback.FeedbackStore` beside the index.

The checks are the ones /ask and the document writes use (`api.deps`), so feedback is limited
exactly as questions are and exported under the same token as the writes.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import Field, StrictInt

from api.deps import State, rate_limit, require_admin, require_json
from api.models import ErrorBody, Text, _Request, _Response
from rag.feedback import Feedback, dump_jsonl
from rag.pipeline import MAX_QUESTION_CHARS

MAX_ANSWER_CHARS = 4000  # answers are short; a list answer with its markers stays well under this
MAX_COMMENT_CHARS = 2000
MAX_CITATIONS = 20  # the most an answer has: one per passage of the largest top_k


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


router = APIRouter(tags=["feedback"])


@router.post(
    "/feedback",
    status_code=201,
    response_model=FeedbackCreated,
    dependencies=[Depends(rate_limit), Depends(require_json)],
    responses={429: {"model": ErrorBody}},
)
def post_feedback(body: FeedbackIn, state: State) -> FeedbackCreated:
    """A thumbs up or down on an answer, with an optional comment; stored durably."""
    item = Feedback(  # a FeedbackError (what to change) is a 422: api.errors
        question=body.question,
        resolved_question=body.resolved_question,
        answer=body.answer,
        citations=[c.model_dump(exclude_none=True) for c in body.citations],
        vote=body.vote,
        comment=body.comment or None,
    )
    return FeedbackCreated(id=state.feedback.add(item))


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
def export_feedback(state: State) -> StreamingResponse:
    """Every stored feedback object, oldest first, one JSON object a line."""
    items = list(state.feedback.all())
    return StreamingResponse(dump_jsonl(items), media_type="application/x-ndjson")

"""Question route: `POST /ask`, a short extractive answer with citations, or an abstention.

A plain `def`: FastAPI runs it in its threadpool, so the event loop keeps answering /healthz and
/metrics while a question is embedded and answered. An abstention is recorded in the feedback
store (what the corpus may be missing: `rag feedback gaps`).
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi import APIRouter, Depends, Request

from api.deps import State, admit, rate_limit, require_json
from api.models import AskRequest, AskResponse, ErrorBody
from api.ratelimit import ask_cost
from rag.conversation import Turn
from rag.embed import query_tokens
from rag.pipeline import check_question

log = logging.getLogger("api")

router = APIRouter(tags=["questions"])


@router.post(
    "/ask",
    response_model=AskResponse,
    dependencies=[Depends(rate_limit), Depends(require_json), Depends(admit)],
    responses={429: {"model": ErrorBody}},
)
def ask(body: AskRequest, request: Request, state: State) -> AskResponse:
    """A short extractive answer with citations, or an abstention, and the top passages."""
    # Checked before the pipeline is asked for: a bad question is a 422 even while loading.
    question, top_k = check_question(body.question, body.top_k)
    limiter = state.limiter
    if limiter is not None and request.client:  # the rest of its cost (see api.ratelimit)
        pipe = state.service.pipeline()
        passages = max(top_k, pipe.answer_settings.read_k)
        cost = ask_cost(query_tokens(pipe.embedder, question), passages)
        limiter.charge(request.client.host, cost - 1.0)
    history = [Turn(t.question, t.answer) for t in body.history]
    answer = state.service.pipeline().ask(question, top_k, history=history)
    if answer.abstained:
        feedback = state.feedback
        try:
            feedback.record_abstention(question, answer.resolved_question)
        except (sqlite3.Error, OSError):
            log.warning("could not record an abstention in %s", feedback.path, exc_info=True)
    return AskResponse.model_validate(answer.to_json())

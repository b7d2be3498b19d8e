"""Operations routes: `GET /healthz`, `GET /readyz`, `GET /metrics`.

All three are `async`: they answer from the event loop even when every worker thread is busy
with questions, which is when a load balancer or Prometheus most needs them.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import LivePipeline, State
from api.models import Health, Ready

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Ready)
async def readyz(pipe: LivePipeline) -> Ready:
    index = pipe.index
    return Ready(
        documents=len(index.documents), chunks=index.stats.chunks, embedder=pipe.embedder.name
    )


@router.get("/metrics", response_class=Response)
async def prometheus(state: State) -> Response:
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)

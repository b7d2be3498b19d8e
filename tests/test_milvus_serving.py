"""Two `rag serve` processes answer from one Milvus (`milvus-lite server` on 127.0.0.1): what is
posted or deleted through one is what the other answers and cites."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("pymilvus", reason="the [scale] extra is not installed")

from conftest import ServerProcess, free_port  # noqa: E402

pytestmark = [pytest.mark.milvus, pytest.mark.integration]

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DOC = {
    "doc_id": "bluewhale-iceland",
    "title": "蓝鲸科技在冰岛开设数据中心",
    "text": "2026年3月，蓝鲸科技在冰岛雷克雅未克开设了它在欧洲的第一个数据中心，"
    "用当地的地热发电为大模型训练供电。",
}
QUESTION = "蓝鲸科技在欧洲的第一个数据中心开在哪个城市？"


@pytest.fixture(scope="module")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`milvus-lite server` on a loopback port, awaited by connecting (bounded)."""
    data = tmp_path_factory.mktemp("milvus-server")
    port = free_port()
    log = open(data / "milvus.log", "wb")  # noqa: SIM115 - closed below
    exe = Path(sys.executable).with_name("milvus-lite")
    cmd = [str(exe), "server", "--data-dir", str(data / "db"), "--host", "127.0.0.1"]
    proc = subprocess.Popen([*cmd, "--port", str(port)], stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError((data / "milvus.log").read_text(errors="replace"))
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("milvus-lite server did not listen in 60 s")
            time.sleep(0.1)  # polling while it starts, not a fixed wait
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def replicas(
    milvus_uri: str, seed_index_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two servers of one Milvus. The first builds the seeds into it (from the seed index's
    embedding cache, so nothing is embedded again); the second finds them there."""
    env = {
        "RAG_STORE": "milvus",
        "RAG_MILVUS_URI": milvus_uri,
        "RAG_ADMIN_TOKEN": TOKEN,
        "RAG_RATE_LIMIT": "0",
        "RAG_RELOAD_SECONDS": "0.2",
    }
    servers = []
    try:
        for name in ("a", "b"):
            folder = tmp_path_factory.mktemp(f"replica-{name}") / "index"
            folder.mkdir()
            shutil.copy(seed_index_dir / "embeddings.sqlite", folder / "embeddings.sqlite")
            servers.append(ServerProcess(folder, env=env).start(timeout=240))
        yield servers[0], servers[1]
    finally:
        for s in servers:
            s.stop()


def _ask(server: ServerProcess) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/ask", json={"question": QUESTION}, timeout=60)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _until(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Whether `check` holds within `seconds` (the other replica polls every 0.2 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _cites(answer: dict[str, Any]) -> bool:
    return any(c["doc_id"] == DOC["doc_id"] for c in answer["citations"])


def test_both_replicas_serve_the_seeds(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = replicas
    ra, rb = (httpx.get(f"{s.url}/readyz", timeout=10).json() for s in (a, b))
    assert ra["documents"] == rb["documents"] == 5


def test_a_document_posted_through_one_is_answered_and_cited_by_the_other(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = replicas
    assert not _cites(_ask(b))
    r = httpx.post(f"{a.url}/documents", json=DOC, headers=AUTH, timeout=120)
    assert r.status_code == 201, r.text
    assert _until(lambda: _cites(_ask(b)))
    answer = _ask(b)
    assert "冰岛" in answer["answer"] or "雷克雅未克" in answer["answer"]
    got = httpx.get(f"{b.url}/documents/{DOC['doc_id']}", timeout=10).json()
    for c in answer["citations"]:
        if c["doc_id"] == DOC["doc_id"]:
            assert got["text"][c["start"] : c["end"]] == c["quote"]


def test_a_delete_through_one_stops_the_other_citing_it(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = replicas
    if not _cites(_ask(b)):  # run alone: post it first
        httpx.post(f"{a.url}/documents", json=DOC, headers=AUTH, timeout=120)
        assert _until(lambda: _cites(_ask(b)))
    r = httpx.delete(f"{a.url}/documents/{DOC['doc_id']}", headers=AUTH, timeout=60)
    assert r.status_code == 204, r.text
    assert _until(lambda: not _cites(_ask(b)))
    assert httpx.get(f"{b.url}/documents/{DOC['doc_id']}", timeout=10).status_code == 404

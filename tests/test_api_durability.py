"""Durable ingestion: once POST /documents says 201 the document survives kill -9; a kill during
an ingest leaves the index as it was (or, killed after the commit, whole); SIGTERM lets an
in-flight ingest finish. Real `rag serve` subprocesses over private copies of the seed index."""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import MEXICO, SEEDS, ServerProcess
from test_api import AUTH, TOKEN, check_ask_response

ENV = {"RAG_ADMIN_TOKEN": TOKEN, "RAG_RATE_LIMIT": "0"}


def article(sentences: int) -> str:
    """Chinese text never seen before (so no embedding is cached): seed sentences, each tagged."""
    source = (SEEDS / "001_7aa850d2b7b17e92.txt").read_text("utf-8")
    pieces = [s.strip() for s in source.split("。") if 10 < len(s.strip()) < 120 and "<" not in s]
    tag = uuid.uuid4().hex[:8]
    return "\n\n".join(f"{pieces[i % len(pieces)]}（{tag}-{i}）。" for i in range(sentences))


def writer_busy(index_dir: Path) -> bool:
    """True while some process holds the index's writer lock (an ingest is under way)."""
    try:
        fd = os.open(index_dir / ".lock", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def committing(index_dir: Path) -> bool:
    """True while a new generation is being written (its temporary folder exists)."""
    return any(index_dir.glob(".tmp-gen-*"))


def poll_until(condition: Any, timeout: float = 120.0) -> None:
    """Tight polling (2 ms): a generation's commit lasts only a fraction of a second."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.002)


def post_in_background(url: str, body: dict[str, Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def post() -> None:
        try:
            with httpx.Client(base_url=url, timeout=120) as c:
                outcome.append(c.post("/documents", json=body, headers=AUTH).status_code)
        except httpx.HTTPError as exc:  # the server died under the request
            outcome.append(exc)

    thread = threading.Thread(target=post)
    thread.start()
    return thread, outcome


def state(url: str) -> dict[str, str]:
    """Every document's text, through the API."""
    with httpx.Client(base_url=url, timeout=60) as c:
        ids = [d["doc_id"] for d in c.get("/documents").json()["documents"]]
        return {i: c.get(f"/documents/{i}").json()["text"] for i in ids}


def test_a_document_survives_kill_9_right_after_its_201(
    server_factory: type[ServerProcess], index_copy: Path
) -> None:
    server = server_factory(index_copy, ENV).start()
    text = article(3)
    with httpx.Client(base_url=server.url, timeout=120) as c:
        r = c.post("/documents", json={"doc_id": "durable", "text": text}, headers=AUTH)
        assert r.status_code == 201
    server.kill9()

    again = server_factory(index_copy, ENV).start()
    with httpx.Client(base_url=again.url, timeout=120) as c:
        got = c.get("/documents/durable")
        assert got.status_code == 200 and got.json()["text"] == text
        assert c.get("/readyz").json()["documents"] == 6


@pytest.mark.parametrize(
    ("phase", "sentences", "in_progress"),
    [("embedding", 150, writer_busy), ("commit", 5, committing)],
)
def test_kill_9_during_an_ingest_leaves_the_previous_index(
    server_factory: type[ServerProcess],
    index_copy: Path,
    phase: str,
    sentences: int,
    in_progress: Any,
) -> None:
    server = server_factory(index_copy, ENV).start()
    before = state(server.url)
    text = article(sentences)
    assert len(text.encode()) < 60_000, "under the body limit"
    thread, outcome = post_in_background(server.url, {"doc_id": "partial", "text": text})
    poll_until(lambda: in_progress(index_copy) or outcome)
    server.kill9()
    thread.join(60)
    assert outcome and isinstance(outcome[0], httpx.HTTPError), (
        f"answered before the kill: {outcome}"
    )

    again = server_factory(index_copy, ENV).start()
    after = state(again.url)
    if phase == "embedding":
        assert after == before, "the previous index, untouched"
    else:  # killed between the commit and the reply: the new generation may be live, but whole
        assert after in (before, {**before, "partial": text})
    with httpx.Client(base_url=again.url, timeout=120) as c:
        r = c.post("/ask", json={"question": MEXICO})
        assert r.status_code == 200
        check_ask_response(r.json())
        r = c.post("/documents", json={"doc_id": "after", "text": article(2)}, headers=AUTH)
        assert r.status_code == 201, "the store takes writes again"
    assert not committing(index_copy), "leftovers of the killed ingest are cleared"


def test_sigterm_lets_an_inflight_ingest_finish(
    server_factory: type[ServerProcess], index_copy: Path
) -> None:
    server = server_factory(index_copy, ENV).start()
    text = article(15)
    thread, outcome = post_in_background(server.url, {"doc_id": "graceful", "text": text})
    poll_until(lambda: writer_busy(index_copy) or outcome)
    assert server.proc is not None and not outcome, "the ingest ended before the signal"
    server.proc.send_signal(signal.SIGTERM)
    thread.join(120)
    assert outcome == [201], "the request in flight was answered"
    assert server.proc.wait(60) in (0, -signal.SIGTERM)

    again = server_factory(index_copy, ENV).start()
    assert state(again.url)["graceful"] == text

"""Feedback (issue 18): POST /feedback, GET /feedback, and `rag feedback export --gold | gaps`.

Real SQLite files, real `rag serve` processes on loopback, the real `rag` command.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.feedback import FEEDBACK_FILE, Feedback, FeedbackError, FeedbackStore

ROOT = Path(__file__).resolve().parent.parent
AUTH = {"Authorization": "Bearer test-token"}
MEXICO = "Which clouds are building datacentres in Mexico?"
VOTE = {
    "question": MEXICO,
    "resolved_question": MEXICO,
    "answer": "阿里云 [1]；亚马逊云科技 [2]",
    "citations": [
        {"n": 1, "doc_id": "000_8acd2f9418a98b58", "start": 1, "end": 9},
        {"n": 2, "doc_id": "002_7e17846a98e3cd51", "start": 5, "end": 20},
    ],
    "vote": "up",
}


def rag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], cwd=ROOT, capture_output=True, text=True
    )


# -- the store ---------------------------------------------------------------------------------
def test_a_vote_is_stored_durably_with_an_id_and_a_utc_time(tmp_path: Path) -> None:
    path = tmp_path / FEEDBACK_FILE
    fid = FeedbackStore(path).add(Feedback(question="那腾讯呢？", answer="", vote="down"))
    stored = list(FeedbackStore(path).all())  # a fresh store: what is on disk
    assert [s["id"] for s in stored] == [fid]
    assert stored[0]["created"].endswith("Z") and stored[0]["vote"] == "down"


def test_a_vote_other_than_up_or_down_is_refused() -> None:
    with pytest.raises(FeedbackError, match="up"):
        Feedback(question="q", answer="a", vote="meh")


def test_up_votes_become_gold_candidates_in_the_contract_format(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / FEEDBACK_FILE)
    store.add(Feedback(**{**VOTE, "question": "那亚马逊呢？"}))
    store.add(Feedback(question="x", answer="wrong [1]", vote="down"))
    store.add(Feedback(question="y", answer="", vote="up"))  # an up-voted abstention: no answer
    [gold] = store.gold_candidates()
    assert gold["question"] == MEXICO  # the resolved reading, which stands on its own
    assert gold["answers"] == [["阿里云"], ["亚马逊云科技"]]
    assert gold["docs"] == ["000_8acd2f9418a98b58", "002_7e17846a98e3cd51"]
    assert gold["lang"] == "en" and gold["id"].startswith("fb-")


def test_gaps_are_abstentions_and_down_votes_most_frequent_first(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / FEEDBACK_FILE)
    store.record_abstention("What is the capital of Australia?")
    store.add(
        Feedback(
            question="那腾讯呢？",
            resolved_question="腾讯在墨西哥建数据中心吗？",
            answer="",
            vote="down",
            comment="missing",
        )
    )
    store.record_abstention("那腾讯呢？", "腾讯在墨西哥建数据中心吗？")
    store.record_abstention("那腾讯呢？", "腾讯在墨西哥建数据中心吗 ?")  # same, respaced
    gaps = store.gaps()
    assert [(g.question, g.count) for g in gaps] == [
        ("腾讯在墨西哥建数据中心吗？", 3),
        ("What is the capital of Australia?", 1),
    ]
    assert gaps[0].comments == ["missing"] and gaps[0].down_votes == 1


# -- HTTP --------------------------------------------------------------------------------------
def test_post_feedback_stores_it_and_get_feedback_exports_json_lines(seed_server: Any) -> None:
    r = httpx.post(f"{seed_server.url}/feedback", json={**VOTE, "comment": "spot on"})
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    r = httpx.get(f"{seed_server.url}/feedback", headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    items = [json.loads(line) for line in r.text.splitlines()]
    mine = next(i for i in items if i["id"] == fid)
    assert (
        mine["comment"] == "spot on"
        and mine["citations"][1]["doc_id"] == VOTE["citations"][1]["doc_id"]
    )
    assert [i["created"] for i in items] == sorted(i["created"] for i in items)  # oldest first


def test_get_feedback_needs_the_admin_token(seed_server: Any) -> None:
    assert httpx.get(f"{seed_server.url}/feedback").status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert httpx.get(f"{seed_server.url}/feedback", headers=bad).status_code == 401


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"vote": "sideways"}, "vote"),
        ({"vote": None}, "vote"),
        ({"question": ""}, "question"),
        ({"question": "q" * 1001}, "question"),
        ({"comment": "c" * 2001}, "comment"),
        ({"answer": 3}, "answer"),
        ({"citations": [{"doc_id": "d"}] * 21}, "citations"),
        ({"citations": "all of them"}, "citations"),
    ],
)
def test_bad_feedback_gets_422(seed_server: Any, change: dict[str, Any], why: str) -> None:
    r = httpx.post(f"{seed_server.url}/feedback", json={**VOTE, **change})
    assert r.status_code == 422, (change, r.text)
    assert why in r.json()["detail"]


def test_a_feedback_body_over_64_kib_gets_413(seed_server: Any) -> None:
    body = json.dumps({**VOTE, "comment": "x" * 70_000})
    r = httpx.post(
        f"{seed_server.url}/feedback", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_feedback_is_rate_limited_like_ask_and_survives_a_crash(
    server_factory: Any, index_copy: Path
) -> None:
    env = {"RAG_ADMIN_TOKEN": "test-token", "RAG_RATE_LIMIT": "3"}
    server = server_factory(index_copy, env).start()
    codes = [httpx.post(f"{server.url}/feedback", json=VOTE).status_code for _ in range(5)]
    assert codes[0] == 201 and 429 in codes, codes
    r = httpx.post(f"{server.url}/feedback", json=VOTE)
    assert r.status_code == 429 and "Retry-After" in r.headers
    stored = [line for line in httpx.get(f"{server.url}/feedback", headers=AUTH).text.splitlines()]
    server.kill9()  # no clean shutdown: what was acknowledged must be on disk
    again = server_factory(index_copy, env, port=server.port).start()
    after = httpx.get(f"{again.url}/feedback", headers=AUTH).text.splitlines()
    assert after == stored and len(after) == codes.count(201)


# -- the command line --------------------------------------------------------------------------
def test_rag_feedback_export_gold_and_gaps(tmp_path: Path) -> None:
    index = tmp_path / "index"
    store = FeedbackStore(index / FEEDBACK_FILE)
    store.add(Feedback(**VOTE))
    store.record_abstention("What is the capital of Australia?")
    out = tmp_path / "candidates.jsonl"
    done = rag("feedback", "export", "--gold", "--index", str(index), "--out", str(out))
    assert done.returncode == 0, done.stderr
    [line] = out.read_text("utf-8").splitlines()
    gold = json.loads(line)
    assert {"id", "question", "answers", "docs"} <= gold.keys()
    assert gold["answers"] == [["阿里云"], ["亚马逊云科技"]]

    done = rag("feedback", "gaps", "--index", str(index))
    assert done.returncode == 0, done.stderr
    assert "What is the capital of Australia?" in done.stdout


def test_an_up_voted_answer_exports_as_a_valid_gold_item(seed_server: Any, tmp_path: Path) -> None:
    question = "科大讯飞新加坡办公室是哪天开业的？"
    data = httpx.post(f"{seed_server.url}/ask", json={"question": question}, timeout=60).json()
    assert not data["abstained"], data
    vote = {
        "question": question,
        "resolved_question": data["resolved_question"],
        "answer": data["answer"],
        "citations": [
            {k: c[k] for k in ("n", "doc_id", "start", "end")} for c in data["citations"]
        ],
        "vote": "up",
    }
    assert httpx.post(f"{seed_server.url}/feedback", json=vote).status_code == 201
    out = tmp_path / "candidates.jsonl"
    done = rag(
        "feedback", "export", "--gold", "--index", str(seed_server.index_dir), "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    spec = importlib.util.spec_from_file_location(
        "validate_gold", ROOT / "eval" / "validate_gold.py"
    )
    assert spec and spec.loader
    validator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(validator)
    items = [g for g in validator.load_gold(out) if g["question"] == question]
    assert len(items) == 1
    assert validator.validate(items, validator.load_docs()) == []


def test_rag_feedback_without_a_store_says_where_it_looked(tmp_path: Path) -> None:
    done = rag("feedback", "gaps", "--index", str(tmp_path / "nothing"))
    assert done.returncode == 1
    assert "no feedback at" in done.stderr and "Traceback" not in done.stderr


def test_an_abstention_on_ask_shows_up_in_the_gaps(seed_server: Any) -> None:
    question = "What is the population of Reykjavik?"
    r = httpx.post(f"{seed_server.url}/ask", json={"question": question}, timeout=60)
    assert r.status_code == 200 and r.json()["abstained"], r.json()["answer"]
    done = rag("feedback", "gaps", "--index", str(seed_server.index_dir), "--json")
    assert done.returncode == 0, done.stderr
    gaps = [json.loads(line) for line in done.stdout.splitlines()]
    assert any(g["question"] == question and g["abstained"] >= 1 for g in gaps), gaps

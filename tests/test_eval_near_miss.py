"""eval/near_miss.py: a question's paragraph less the sentence that holds its answer."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("near_miss", ROOT / "eval" / "near_miss.py")
assert _spec and _spec.loader
near_miss = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(near_miss)

PARA = (
    "科大讯飞于2019年在新加坡设立子公司，面向东南亚市场提供语音识别服务。"
    "其新加坡办公室于5月10日正式开业！"
    "公司表示，东南亚是其出海的第一站和战略支点，未来还将在当地招聘更多的本地员工，"
    "并与当地的高校和企业合作，共同开发适合东南亚多语种环境的人工智能产品。"
)


def test_the_answer_sentence_goes_and_the_rest_stays_word_for_word() -> None:
    start = PARA.index("5月10日")
    rest = near_miss.without_answer_sentence(PARA, start, start + len("5月10日"))
    assert "5月10日" not in rest and "开业" not in rest
    first, last = PARA.split("。")[0] + "。", PARA.split("！")[1]
    assert rest == first + last


def test_an_answer_across_sentences_takes_all_of_them() -> None:
    start = PARA.index("面向")
    end = PARA.index("正式")
    rest = near_miss.without_answer_sentence(PARA, start, end)
    assert rest == PARA.split("！")[1]


def test_too_little_left_is_no_near_miss() -> None:
    short = "华为五年内计划投资4.3亿美元。此外还有别的。"
    start = short.index("4.3")
    assert near_miss.without_answer_sentence(short, start, start + 6) == ""


def test_the_squad_file_keeps_one_unanswerable_question_a_paragraph(tmp_path: Path) -> None:
    start = PARA.index("5月10日")
    qas = [
        {
            "id": "a",
            "question": "哪天开业？",
            "answers": [{"text": "5月10日", "answer_start": start}],
        },
        {
            "id": "b",
            "question": "第一站？",
            "answers": [{"text": "东南亚", "answer_start": PARA.index("东南亚")}],
        },
    ]
    src = tmp_path / "src.json"
    src.write_text(
        json.dumps({"data": [{"title": "t", "paragraphs": [{"context": PARA, "qas": qas}]}]})
    )
    dest = tmp_path / "near.json"
    assert near_miss.near_miss_squad(src, dest) == 1
    (para,) = json.loads(dest.read_text())["data"][0]["paragraphs"]
    assert [q["id"] for q in para["qas"]] == ["a"] and para["qas"][0]["answers"] == []
    assert "5月10日" not in para["context"]


def test_seeds_near_misses_lose_every_sentence_of_their_answer_and_nothing_else(
    tmp_path: Path,
) -> None:
    from rag.evaluate import GoldItem, load_squad

    other = "华为在开罗发布了星河AI网络。此举是华为五年内计划投资4.3亿美元。"
    docs = [("a", PARA), ("b", other)]
    gold = [
        GoldItem("q1", "科大讯飞新加坡办公室哪天开业？", [["5月10日"]], ["a"]),
        GoldItem("q2", "没有答案的问题？", [], []),
        GoldItem("q3", "华为计划投资多少？", [["4.3亿美元", "4.3 亿美元"]], ["b"]),
        # Its answer is in no document: nothing to remove, not a near miss.
        GoldItem("q4", "哪个市场？", [["北美"]], ["a"]),
    ]
    dest = tmp_path / "near.json"
    asked = near_miss.near_miss_seeds(docs, gold, dest, 0, 1)
    assert asked == ["科大讯飞新加坡办公室哪天开业？", "华为计划投资多少？"]
    corpus = load_squad(dest)
    texts = {d["title"].split(" #")[0]: d["text"] for d in corpus.documents}
    assert "5月10日" not in texts["a"] and "4.3亿美元" not in texts["b"]
    assert texts["a"] == PARA.replace("其新加坡办公室于5月10日正式开业！", "")
    assert texts["b"] == "华为在开罗发布了星河AI网络。"
    assert [q.golds for q in corpus.questions] == [[], []]
    # Every other question from `part`: the second of two parts asks q3 alone.
    assert near_miss.near_miss_seeds(docs, gold, dest, 1, 2) == ["华为计划投资多少？"]


def test_a_swapped_name_is_one_the_paragraph_lacks_of_the_same_kind() -> None:
    import random

    question = "科大讯飞在新加坡的办公室哪天开业？"
    assert ("新加坡", "ns") in near_miss.names(question)
    pool = {"ns": ["新加坡", "马来西亚", "东南亚"], "nt": [], "nr": [], "nz": []}
    swapped = {near_miss.swap_name(question, PARA, pool, random.Random(s)) for s in range(20)}
    # 新加坡 is the one name the paragraph holds; 东南亚 is in it too, so only 马来西亚 will do
    # (or none, where ten draws missed it)
    assert swapped - {None} == {"科大讯飞在马来西亚的办公室哪天开业？"}
    assert near_miss.swap_name("华为的总部在哪里？", PARA, pool, random.Random(0)) is None

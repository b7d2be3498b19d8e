"""The CONTRACT's metric promises, one test each, on small hand-made cases (no pipeline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rag import metrics as M
from rag.evaluate import GoldItem, gold_metrics, load_squad, paragraph_id, score_gold

TEXTS = {
    "d1": "阿里云宣布将在墨西哥新建数据中心。亚马逊云科技也在墨西哥投资。",
    "d2": "无关的文字。",
}
CLOUDS = [["阿里云", "阿里巴巴"], ["亚马逊云科技", "亚马逊"]]


def response(answer: str = "", abstained: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "answer": answer,
        "abstained": abstained,
        "confidence": 0.5,
        "citations": [],
        "passages": [],
        **extra,
    }


def citation(doc_id: str, start: int, end: int, quote: str | None = None) -> dict[str, Any]:
    text = TEXTS.get(doc_id, "")
    return {
        "n": 1,
        "doc_id": doc_id,
        "start": start,
        "end": end,
        "quote": text[start:end] if quote is None else quote,
    }


# -- answer_accuracy -------------------------------------------------------------------------------
def test_an_answer_is_right_only_when_every_group_has_an_alternative() -> None:
    assert M.answer_correct("阿里云 [1]；亚马逊 [2]", CLOUDS)
    assert M.answer_correct("阿里巴巴和亚马逊云科技", CLOUDS)  # any alternative of each group
    assert not M.answer_correct("阿里云 [1]", CLOUDS)  # second group missing
    assert not M.answer_correct("", CLOUDS)


def test_matching_normalises_nfkc_case_and_all_whitespace_on_both_sides() -> None:
    assert M.answer_correct("ＮｅｔＭａｓｔｅｒ", [["netmaster"]])  # full-width, upper case
    assert M.answer_correct("Net Master", [["NETMASTER"]])  # whitespace inside the answer
    assert M.answer_correct("５月２９日", [["5月 29日"]])  # whitespace inside the gold
    assert M.answer_correct("5\u3000月\n29日", [["5月29日"]])  # ideographic space and newline
    assert not M.answer_correct("5月28日", [["5月29日"]])


def test_an_answer_over_300_characters_is_wrong_even_when_it_contains_the_gold() -> None:
    assert M.answer_correct("阿" * 294 + "阿里云亚马逊", CLOUDS)  # exactly 300
    assert not M.answer_correct("阿" * 295 + "阿里云亚马逊", CLOUDS)  # 301


def test_citation_markers_are_removed_before_length_and_matching() -> None:
    assert M.strip_markers("阿里云 [1]；亚马逊 [2][3]") == "阿里云；亚马逊"
    assert M.answer_correct("5月 [1]29日", [["5月29日"]])  # a marker splitting the span
    assert M.answer_correct(
        "阿" * 294 + "阿里云亚马逊" + " [1]" * 20, CLOUDS
    )  # markers not counted


def test_an_abstention_is_never_a_correct_answer() -> None:
    item = GoldItem("q", "?", [["阿里云"]], ["d1"])
    record = score_gold(item, response("阿里云 [1]", abstained=True), TEXTS, 1.0)
    assert not record.correct
    assert record.failure is not None and record.failure.startswith("abstained")


# -- abstention metrics ----------------------------------------------------------------------------
def test_abstention_recall_and_false_abstention_count_the_right_questions() -> None:
    answerable = GoldItem("a", "?", [["阿里云"]], ["d1"])
    unanswerable = GoldItem("u", "?", [], [])
    records = [
        score_gold(unanswerable, response(abstained=True), TEXTS, 1.0),
        score_gold(unanswerable, response("阿里云 [1]"), TEXTS, 1.0),
        score_gold(answerable, response(abstained=True), TEXTS, 1.0),
        score_gold(answerable, response("阿里云 [1]"), TEXTS, 1.0),
        score_gold(answerable, response("阿里云 [1]"), TEXTS, 1.0),
        score_gold(answerable, response("腾讯 [1]"), TEXTS, 1.0),
    ]
    m = gold_metrics(records)
    assert (m.answerable, m.unanswerable) == (4, 2)
    assert m.abstention_recall == 0.5  # 1 of the 2 unanswerable abstained
    assert m.false_abstention == 0.25  # 1 of the 4 answerable abstained
    assert m.answer_accuracy == 0.5  # over answerable questions only: 2 of 4
    assert records[1].failure == "answered an unanswerable question"


# -- retrieval -------------------------------------------------------------------------------------
def test_hit_at_k_needs_an_evidence_document_whose_passage_holds_an_alternative() -> None:
    passages = [
        {"doc_id": "d2", "text": "阿里云在别处"},  # wrong document
        {"doc_id": "d1", "text": "数据中心"},  # right document, no alternative
        {"doc_id": "d1", "text": "亚马逊在墨西哥"},  # an alternative of some group: relevant
    ]
    item = GoldItem("q", "?", CLOUDS, ["d1"])
    record = score_gold(item, response("x", passages=passages), TEXTS, 1.0)
    assert record.rank == 3
    m = gold_metrics([record, score_gold(item, response("x"), TEXTS, 1.0)])
    assert (m.hit_at[1], m.hit_at[3], m.hit_at[10]) == (0.0, 0.5, 0.5)
    assert m.mrr == pytest.approx((1 / 3 + 0) / 2)


def test_unanswerable_questions_do_not_count_in_hit_at_k() -> None:
    unanswerable = GoldItem("u", "?", [], [])
    m = gold_metrics([score_gold(unanswerable, response(abstained=True), TEXTS, 1.0)])
    assert m.hit_at[5] is None and m.mrr is None and m.answer_accuracy is None


# -- citations -------------------------------------------------------------------------------------
def test_citation_validity_compares_the_quote_with_the_documents_text_slice() -> None:
    assert M.citation_valid(citation("d1", 0, 3), TEXTS)
    assert not M.citation_valid(citation("d1", 0, 3, quote="阿里"), TEXTS)  # quote != slice
    assert not M.citation_valid(citation("d1", 1, 4, quote="阿里云"), TEXTS)  # offsets shifted
    assert not M.citation_valid(citation("nope", 0, 3, quote="阿里云"), TEXTS)  # unknown doc
    assert not M.citation_valid(citation("d1", 0, 999, quote=TEXTS["d1"]), TEXTS)  # out of range
    item = GoldItem("q", "?", [["阿里云"]], ["d1"])
    good, bad = citation("d1", 0, 3), citation("d1", 0, 3, quote="x")
    m = gold_metrics([score_gold(item, response("阿里云 [1]", citations=[good, bad]), TEXTS, 1.0)])
    assert m.citation_validity == 0.5 and m.citations == 2


def test_citation_support_needs_an_evidence_document_quote_with_an_alternative() -> None:
    item = GoldItem("q", "?", CLOUDS, ["d1"])
    supported = citation("d1", 0, 3)  # "阿里云"
    unrelated = citation("d1", 8, 12)  # no alternative in the quote
    other_doc = {"doc_id": "d2", "start": 0, "end": 3, "quote": "阿里云"}
    answer = "阿里云；亚马逊 [1]"
    rec = [
        score_gold(item, response(answer, citations=[supported]), TEXTS, 1.0),
        score_gold(item, response(answer, citations=[unrelated]), TEXTS, 1.0),
        score_gold(item, response(answer, citations=[other_doc]), TEXTS, 1.0),
        score_gold(item, response("腾讯 [1]", citations=[supported]), TEXTS, 1.0),  # wrong answer
    ]
    assert [r.supported for r in rec] == [True, False, False, False]
    assert gold_metrics(rec).citation_support == pytest.approx(1 / 3)  # over the 3 correct ones


def test_latency_percentiles_interpolate_like_numpy() -> None:
    assert M.percentile([10.0, 20.0, 30.0, 40.0], 50) == 25.0
    assert M.percentile(list(map(float, range(1, 101))), 95) == pytest.approx(95.05)
    assert M.percentile([], 50) is None


# -- SQuAD / CMRC 2018 -----------------------------------------------------------------------------
def test_cmrc_segments_chinese_into_characters_and_keeps_english_words() -> None:
    assert M.cmrc_segments("Super Bowl 50的冠军，") == ["super", "bowl", "50", "的", "冠", "军"]
    assert M.cmrc_segments("卡万·肖特", drop_punctuation=False) == ["卡", "万", "·", "肖", "特"]


def test_cmrc_em_ignores_its_punctuation_list_case_and_citation_markers() -> None:
    assert M.cmrc_em(["卡万·肖特"], "卡万肖特 [1]")
    assert M.cmrc_em(["Denver Broncos"], "denver broncos")
    assert not M.cmrc_em(["卡万·肖特"], "肖特")
    assert M.cmrc_em(["两次", "2次"], "2次")  # any gold answer


def test_cmrc_f1_is_the_longest_common_run_over_characters_max_over_golds() -> None:
    assert M.cmrc_f1(["匹兹堡钢人队"], "钢人队") == pytest.approx(2 / 3)  # p 1, r 1/2
    assert M.cmrc_f1(["Denver Broncos"], "the Denver Broncos team") == pytest.approx(2 / 3)
    # a common *run*, not a bag of characters: the CMRC script's find_lcs
    assert M.cmrc_f1(["甲乙丙丁"], "甲丙乙丁") == pytest.approx(0.25)
    assert M.cmrc_f1(["新英格兰爱国者队", "爱国者队"], "爱国者队 [1]") == 1.0
    assert M.cmrc_f1(["卡万·肖特"], "") == 0.0


def test_containment_needs_a_gold_span_within_300_characters() -> None:
    assert M.contains_span(["308"], "共 308 分 [1]")
    assert M.contains_span(["Super Bowl"], "superbowl 50")  # normalised: case and whitespace
    assert not M.contains_span(["308"], "三百零八")
    assert not M.contains_span(["308"], "阿" * 298 + "308")  # 301 characters


# -- SQuAD loading ---------------------------------------------------------------------------------
def squad(questions: dict[str, str]) -> dict[str, Any]:
    qas = [
        {"id": i, "question": q, "answers": [{"text": "甲", "answer_start": 0}]}
        for i, q in questions.items()
    ]
    return {"data": [{"title": "A/B title", "paragraphs": [{"context": "甲乙", "qas": qas}]}]}


def test_squad_questions_come_from_the_parallel_file_by_id_and_golds_from_the_first(
    tmp_path: Path,
) -> None:
    zh, en = tmp_path / "zh.json", tmp_path / "en.json"
    zh.write_text(json.dumps(squad({"x": "问一", "y": "问二"})), encoding="utf-8")
    en.write_text(json.dumps(squad({"y": "Question two"})), encoding="utf-8")
    corpus = load_squad(zh, en)
    assert [(q.id, q.question, q.golds) for q in corpus.questions] == [
        ("y", "Question two", ["甲"])
    ]
    assert [d["doc_id"] for d in corpus.documents] == ["A_B_title#0"]
    assert len(load_squad(zh, limit=1).questions) == 1


def test_paragraph_ids_have_no_slashes() -> None:
    assert paragraph_id("Southern_California", 3) == "Southern_California#3"
    assert paragraph_id("AC/DC \\ live", 0) == "AC_DC_live#0"

"""Sentence scoring (`rag.answer.scoring`) and the composer's one direction of flow, on a small
store written with the deterministic `HashEmbedder` (no model, no seed index)."""

from __future__ import annotations

import copy

import pytest

from rag.answer import AnswerSettings, extract_answer, rank_passages, score_sentences
from rag.answer.scoring import word_share
from rag.config import Settings
from rag.embed import HashEmbedder
from rag.indexing import open_indexer
from rag.retrieve import Retriever, make_query
from rag.store import Store
from rag.translate import Dictionary
from rag.types import Document, Passage

DOCS = [
    Document("cloud", "阿里云宣布在墨西哥投资新建数据中心。当地客户可以就近使用云服务。"),
    Document("saudi", "腾讯云在沙特启动了数字化项目。当地合作伙伴负责运营。"),
    Document("robot", "Rabbit R1。Rabbit R1发售首日就卖出了1万台。"),
    Document("opening", "5月10日，科大讯飞新加坡办公室正式开业。办公室位于市中心。"),
]
EMBEDDER = HashEmbedder()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    settings = Settings(index_dir=tmp_path_factory.mktemp("answer-scoring"))
    written = open_indexer(settings, EMBEDDER).apply(DOCS, replace_all=True).store
    assert written is not None
    return written


def _retrieve(store: Store, question: str) -> list[Passage]:
    return Retriever(store).run(make_query(question, EMBEDDER), top_k=4)


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        ("腾讯云在沙特启动了什么项目？", "腾讯云在沙特启动了数字化项目。"),
        ("阿里云在墨西哥投资建设什么？", "阿里云宣布在墨西哥投资新建数据中心。"),
        ("科大讯飞新加坡办公室哪天开业？", "5月10日，科大讯飞新加坡办公室正式开业。"),
    ],
)
def test_the_sentence_holding_the_questions_words_scores_best(
    store: Store, question: str, sentence: str
) -> None:
    scoring = score_sentences(
        make_query(question, EMBEDDER), _retrieve(store, question), store, AnswerSettings()
    )
    assert scoring.ranked[0].sent.text == sentence
    scores = [c.score for c in scoring.ranked]
    assert scores == sorted(scores, reverse=True)


def test_a_sentence_that_only_repeats_the_question_is_not_ranked(store: Store) -> None:
    question = "Rabbit R1卖出了多少台？"
    scoring = score_sentences(
        make_query(question, EMBEDDER), _retrieve(store, question), store, AnswerSettings()
    )
    assert "Rabbit R1。" not in [c.sent.text for c in scoring.ranked]
    assert scoring.ranked[0].sent.text == "Rabbit R1发售首日就卖出了1万台。"


def test_passages_are_ranked_by_their_best_sentence_with_the_retrieval_scores_beside(
    store: Store,
) -> None:
    question = "腾讯云在沙特启动了什么项目？"
    passages = _retrieve(store, question)
    scoring = score_sentences(make_query(question, EMBEDDER), passages, store, AnswerSettings())
    ranking = rank_passages(passages, scoring, store, read_k=5)
    assert ranking[0].doc_id == scoring.ranked[0].sent.doc_id
    assert ranking[0].sentence == scoring.ranked[0].score
    assert sorted(r.retrieved for r in ranking) == list(range(len(passages)))
    for r in ranking:  # the retrieval's own scores, unchanged, beside the sentence score
        p = passages[r.retrieved]
        assert (r.chunk_id, r.fused, r.dense, r.lexical) == (
            p.chunk_id,
            p.score,
            p.dense,
            p.lexical,
        )


def test_a_passage_not_read_scores_at_most_the_lowest_read(store: Store) -> None:
    question = "腾讯云在沙特启动了什么项目？"
    passages = _retrieve(store, question)
    scoring = score_sentences(
        make_query(question, EMBEDDER), passages, store, AnswerSettings(read_k=2)
    )
    ranking = rank_passages(passages, scoring, store, read_k=2)
    assert {r.retrieved for r in ranking[:2]} == {0, 1}  # the read passages come first
    assert all(r.sentence <= min(x.sentence for x in ranking[:2]) for r in ranking[2:])


def test_the_answerer_reads_the_retrieved_passages_without_changing_them(store: Store) -> None:
    question = "科大讯飞新加坡办公室哪天开业？"
    passages = _retrieve(store, question)
    before = copy.deepcopy(passages)
    result = extract_answer(
        make_query(question, EMBEDDER), passages, store, AnswerSettings(abstain_below=0.0)
    )
    assert passages == before
    assert result.answer == "5月10日 [1]"
    assert result.citations[0].quote == "5月10日，科大讯飞新加坡办公室正式开业。"
    assert result.ranking[0].doc_id == "opening"


def test_no_passage_means_no_sentence_and_an_abstention(store: Store) -> None:
    query = make_query("腾讯云在沙特启动了什么项目？", EMBEDDER)
    assert score_sentences(query, [], store, AnswerSettings()).ranked == []
    result = extract_answer(query, [], store, AnswerSettings())
    assert (result.answer, result.abstained, result.confidence, result.ranking) == (
        "",
        True,
        0.0,
        [],
    )


def test_with_no_sentence_read_the_retrieval_order_and_score_stand(store: Store) -> None:
    passages = _retrieve(store, "腾讯云在沙特启动了什么项目？")
    scoring = score_sentences(make_query("x", EMBEDDER), passages, store, AnswerSettings(read_k=0))
    ranking = rank_passages(passages, scoring, store, read_k=0)
    assert [(r.retrieved, r.sentence) for r in ranking] == [
        (i, p.score) for i, p in enumerate(passages)
    ]


@pytest.mark.parametrize(
    ("question", "share"),
    [
        ("腾讯云在沙特启动了什么项目？", 1.0),  # 腾讯 云 沙特 启动 项目: every word there
        ("腾讯云在沙特有多少名员工？", 0.6),  # 名 员工 are not: a near miss
        ("MiniMax在沙特有多少名员工？", 0.25),  # nor is MiniMax: 沙特 alone
        ("什么？", 1.0),  # nothing to count
    ],
)
def test_word_share_counts_the_chinese_questions_words_in_the_text(
    question: str, share: float
) -> None:
    query = make_query(question, EMBEDDER)
    text = ["腾讯云在沙特啓動了数字化项目。"]  # Traditional 啓動 is folded to 启动
    assert word_share(query, text, None) == pytest.approx(share)


def test_word_share_meets_an_english_question_through_the_glosses() -> None:
    dictionary = Dictionary.load()
    question = "How many employees does Huawei have in Saudi Arabia?"
    query = make_query(question, EMBEDDER, dictionary)
    assert set(query.english) == {"employe", "huawei", "saudi", "arabia"}  # stemmed
    staff = ["华为在沙特阿拉伯有500名员工。"]
    assert word_share(query, staff, dictionary) == 1.0  # 员工 glosses as "employee"
    assert word_share(query, ["华为在沙特阿拉伯启动了数字化项目。"], dictionary) == 0.75
    # Huawei as it is, 沙特 is "Saudi" alone
    assert word_share(query, ["Huawei在沙特启动了项目。"], dictionary) == 0.5
    assert word_share(query, staff, None) == 1.0  # no dictionary: nothing to count

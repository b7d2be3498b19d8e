"""Follow-up questions (issue 18): `history` on POST /ask, `resolved_question` in the answer.

The pipeline tests use the real seed index and embedder; the HTTP tests a real `rag serve` on
loopback. The reading rules themselves (`rag.conversation`) are also tested without an embedder,
where the slot of an ellipsis falls back to the one of the same script.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from rag.conversation import Reading, Resolver, Turn
from rag.pipeline import Pipeline
from rag.translate import Dictionary

ZHIPU = "智谱AI的CEO是谁？"
MOONSHOT = "那月之暗面呢？"
NETMASTER = "华为面向北部非洲发布的网络大模型应用叫什么？"


# -- the reading rules -----------------------------------------------------------------------
def test_no_history_means_the_question_is_read_as_asked() -> None:
    assert Resolver().run(" 那腾讯呢？ ", []).question == "那腾讯呢？"


def test_ellipsis_replaces_the_slot_of_the_previous_question() -> None:
    history = [Turn("阿里云将在几个国家新建数据中心？", "5个国家 [1]")]
    got = Resolver().run("那腾讯云呢？", history)
    assert got.reading == Reading.ELLIPSIS
    assert got.question == "腾讯云将在几个国家新建数据中心？"


def test_an_ellipsis_replaces_a_name_jieba_cut_into_characters_whole() -> None:
    # jieba cuts 科大讯飞 as 科大/讯/飞 and tags 飞 a verb: the slot was 科大讯, and the
    # follow-up read as "华为飞的新加坡办公室…".
    history = [Turn("科大讯飞的新加坡办公室是哪天开业的？", "5月10日 [1]")]
    assert Resolver().run("那华为呢？", history).question == "华为的新加坡办公室是哪天开业的？"


def test_english_ellipsis_keeps_the_preposition_it_brings() -> None:
    history = [Turn("Which clouds are building datacentres in Mexico?", "")]
    got = Resolver().run("what about in Brazil?", history)
    assert got.question == "Which clouds are building datacentres in Brazil?"


def test_a_pronoun_takes_the_name_of_the_previous_question() -> None:
    history = [Turn("When did iFlytek's Singapore office open?", "5月10日 [1]")]
    got = Resolver().run("When did the company first come to Singapore?", history)
    assert got.reading == Reading.REFERENCE
    assert got.question == "When did iFlytek first come to Singapore?"


def test_a_pronoun_after_the_noun_it_relates_to_is_the_reference() -> None:
    # "the project they launched": a relative clause, "the project" is what is asked.
    history = [Turn("Which company did Zentro partner with?", "Kalos [1]")]
    got = Resolver().run("What was the project they launched called?", history)
    assert got.question == "What was the project Zentro launched called?"


def test_a_pronoun_takes_the_answer_when_the_previous_question_asked_for_its_subject() -> None:
    history = [Turn("Which company owns Talkie AI?", "MiniMax [1]")]
    assert Resolver().run("What else does it make?", history).question == (
        "What else does MiniMax make?"
    )


def test_a_demonstrative_keeps_the_noun_it_qualifies() -> None:
    history = [Turn("科大讯飞新加坡办公室是哪天开业的？", "5月10日 [1]")]
    got = Resolver().run("这家公司在哪个大会上宣布产品落地？", history)
    assert got.question.startswith("科大讯飞") and "公司在哪个大会上" in got.question


def test_a_bare_question_is_read_with_the_previous_topic() -> None:
    history = [Turn(NETMASTER, "NetMaster [1]")]
    got = Resolver().run("是哪天发布的？", history)
    assert got.reading == Reading.BARE
    assert got.question.startswith("华为") and got.question.endswith("是哪天发布的？")


def test_a_chain_of_follow_ups_keeps_its_subject() -> None:
    history = [
        Turn("腾讯云与沙特阿拉伯哪家电信公司合作？", "Mobily [1]"),
        Turn("它们启动的项目叫什么？", "Go Saudi [1]"),
    ]
    # "启动" is a common word (the dictionary's test): the last question has no topic of its own.
    resolver = Resolver(is_common=Dictionary.load().is_common)
    assert "腾讯云" in resolver.run("是什么时候启动的？", history).question


@pytest.mark.parametrize(
    "question",
    [NETMASTER, "What is the capital of Australia?", "华为及其合作伙伴在北非发布了什么？"],
)
def test_a_question_that_stands_on_its_own_is_not_rewritten(question: str) -> None:
    history = [Turn(ZHIPU, "张鹏 [1]")]
    got = Resolver().run(question, history)
    assert (got.reading, got.question) == (Reading.STANDALONE, question)


# -- the pipeline: real index, real embedder ---------------------------------------------------
def test_a_follow_up_is_answered_with_its_context_and_not_without(seed_pipeline: Pipeline) -> None:
    question, follow_up = "Perplexity的估值达到多少？", "它的CEO是谁？"
    first = seed_pipeline.ask(question)
    assert "5.2亿美元" in first.answer
    alone = seed_pipeline.ask(follow_up)
    assert alone.resolved_question == follow_up
    assert "Aravind" not in alone.answer
    follow = seed_pipeline.ask(follow_up, history=[Turn(question, first.answer)])
    assert follow.question == follow_up
    assert follow.resolved_question == "Perplexity的CEO是谁？"
    assert "Aravind Srinivas" in follow.answer
    assert "resolve" in follow.timings_ms


def test_the_cache_serves_a_follow_up_under_the_question_it_was_read_as(
    seed_pipeline: Pipeline,
) -> None:
    history = [Turn("百度面向海外市场推出了几款AI原生应用？", "3款 [1]")]
    follow = seed_pipeline.ask("那华为呢？", history=history)
    again = seed_pipeline.ask(follow.resolved_question)
    assert "cache" in again.timings_ms
    assert again.answer == follow.answer
    assert again.resolved_question == again.question == follow.resolved_question


# -- HTTP ----------------------------------------------------------------------------------------
def test_ask_over_http_reads_the_follow_up_in_context(seed_server: Any) -> None:
    body = {"question": MOONSHOT, "history": [{"question": ZHIPU, "answer": "张鹏 [1]"}]}
    r = httpx.post(f"{seed_server.url}/ask", json=body, timeout=60)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["question"] == MOONSHOT
    assert "月之暗面" in data["resolved_question"] and data["resolved_question"] != MOONSHOT
    assert "杨植麟" in data["answer"]


def test_ask_without_history_says_it_read_the_question_as_asked(seed_server: Any) -> None:
    r = httpx.post(f"{seed_server.url}/ask", json={"question": NETMASTER}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["resolved_question"] == NETMASTER


TURN = {"question": ZHIPU, "answer": "张鹏 [1]"}


@pytest.mark.parametrize(
    ("history", "why"),
    [
        ([TURN] * 11, "too many turns"),
        ([{"question": "长" * 1001, "answer": ""}], "a question over 1000 characters"),
        ([{"question": ZHIPU, "answer": "长" * 1001}], "an answer over 1000 characters"),
        ("张鹏", "history not a list"),
        (None, "history null"),
        ([ZHIPU], "a turn that is a string"),
        ([{"answer": "张鹏"}], "a turn without its question"),
        ([{"question": 42, "answer": ""}], "a number for a question"),
        ([{"question": ZHIPU, "answer": None}], "null for an answer"),
        ('[{"question": "\\ud800", "answer": ""}]', "a lone surrogate"),
    ],
)
def test_bad_conversation_payloads_get_422_never_500(
    seed_server: Any, history: Any, why: str
) -> None:
    # Sent as raw JSON text, so a lone surrogate can be spelled as the JSON escape it would be.
    raw = history if why == "a lone surrogate" else json.dumps(history)
    body = f'{{"question": {json.dumps(MOONSHOT)}, "history": {raw}}}'
    headers = {"content-type": "application/json"}
    r = httpx.post(f"{seed_server.url}/ask", content=body.encode(), headers=headers, timeout=60)
    assert r.status_code == 422, (why, r.status_code, r.text)
    assert "history" in r.json()["detail"], (why, r.json())


def test_ten_turns_of_history_are_accepted(seed_server: Any) -> None:
    body = {"question": MOONSHOT, "history": [TURN] * 10}
    r = httpx.post(f"{seed_server.url}/ask", json=body, timeout=60)
    assert r.status_code == 200, r.text

"""Question typing (`rag.answer.question`): the answer type a question expects, zh and en."""

from __future__ import annotations

import pytest

from rag.answer import CUES, AnswerType, asks_year, detect_type


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # when
        ("When did iFlytek open its Singapore office?", AnswerType.WHEN),
        ("科大讯飞新加坡办公室是哪天开业的？", AnswerType.WHEN),
        ("In what year was the company founded?", AnswerType.WHEN),
        ("什么时候发布的？", AnswerType.WHEN),
        ("哪一年成立的？", AnswerType.WHEN),
        # how many
        ("How many AI companies are there in China?", AnswerType.HOW_MANY),
        ("中国有多少家活跃的AI公司？", AnswerType.HOW_MANY),
        ("模型的参数量有多大？", AnswerType.HOW_MANY),
        ("百度推出了几款应用？", AnswerType.HOW_MANY),
        ("What is the number of users?", AnswerType.HOW_MANY),
        # how much
        ("How much will Huawei invest in North Africa?", AnswerType.HOW_MUCH),
        ("华为计划投资多少钱？", AnswerType.HOW_MUCH),
        ("What was the company's revenue in 2023?", AnswerType.HOW_MUCH),
        ("Perplexity的估值达到多少？", AnswerType.HOW_MUCH),
        # percentage
        ("What percentage of customers still use on-premises deployment?", AnswerType.PERCENTAGE),
        ("行业大模型占多大比例？", AnswerType.PERCENTAGE),
        ("How much did spending on apps grow in 2023?", AnswerType.PERCENTAGE),
        ("销售额同比涨了多少？", AnswerType.PERCENTAGE),
        # who
        ("Who founded Fotor?", AnswerType.WHO),
        ("谁创立了Fotor？", AnswerType.WHO),
        ("Which executive announced the plan?", AnswerType.WHO),
        ("这家公司的创始人叫什么？", AnswerType.WHO),
        # which company
        ("Which company makes Talkie?", AnswerType.WHICH_COMPANY),
        ("Talkie是哪家公司的？", AnswerType.WHICH_COMPANY),
        ("What company is behind Kimi?", AnswerType.WHICH_COMPANY),
        # where
        ("Where was MWC held?", AnswerType.WHERE),
        ("MWC在哪里举办？", AnswerType.WHERE),
        ("Which city hosts the event?", AnswerType.WHERE),
        ("数据中心建在哪个国家？", AnswerType.WHERE),
        # a name
        ("What is the project called?", AnswerType.WHAT_NAME),
        ("这个项目叫什么？", AnswerType.WHAT_NAME),
        ("第一个网络叫什么名字？", AnswerType.WHAT_NAME),  # 名字 asks for a name, not a person
        ("Which model did they release?", AnswerType.WHAT_NAME),
        ("华为推出的是哪款产品？", AnswerType.WHAT_NAME),
        # lists
        ("Which countries will get new data centres?", AnswerType.LIST),
        ("阿里云在哪些国家建数据中心？", AnswerType.LIST),
        ("Name the three clouds in Mexico.", AnswerType.LIST),
        ("大模型分为哪几类？", AnswerType.LIST),
        # money asked by what it is (a price, a revenue, an investment), not by 多少钱
        ("这款AI眼镜的售价是多少？", AnswerType.HOW_MUCH),
        ("该公司2023年的营收是多少？", AnswerType.HOW_MUCH),
        ("这些数据中心的总投资是多少？", AnswerType.HOW_MUCH),
        ("利润率是多少？", AnswerType.HOW_MANY),  # a rate, not a sum
        ("收入差距扩大的原因是什么？", AnswerType.OTHER),  # income named, no amount asked
        ("收入增长了多少？", AnswerType.PERCENTAGE),
        # yes / no
        ("Can AI-generated art be copyrighted in the US?", AnswerType.YES_NO),
        ("腾讯是否在沙特建了数据中心？", AnswerType.YES_NO),
        ("阿里云在墨西哥有数据中心吗？", AnswerType.YES_NO),
        # none of them
        ("Tell me about DeepSeek.", AnswerType.OTHER),
        ("介绍一下智谱。", AnswerType.OTHER),
        # the opening word decides; a later "when" clause only says which time
        ("How old was the founder when he started the company?", AnswerType.HOW_MANY),
        ("Who was the CEO when the office opened?", AnswerType.WHO),
    ],
)
def test_question_types_are_detected_in_both_languages(question: str, expected: AnswerType) -> None:
    assert detect_type(question) == expected


def test_cues_are_a_table_per_language_for_every_type_but_other() -> None:
    assert set(CUES) == set(AnswerType) - {AnswerType.OTHER}
    assert all(set(cues) == {"en", "zh"} for cues in CUES.values())


def test_case_and_surrounding_space_do_not_change_the_type() -> None:
    assert detect_type("  WHEN DID IT OPEN?  ") == AnswerType.WHEN


@pytest.mark.parametrize(
    ("question", "year"),
    [
        ("中国残疾人联合会是在哪一年成立的？", True),
        ("南宁会议在哪年举行?", True),
        ("In what year did Joseph Priestley recognize oxygen?", True),
        ("Which year resulted in the suspension of one of the teams?", True),
        ("科大讯飞新加坡办公室是哪天开业的？", False),
        ("When did iFlytek open its Singapore office?", False),
        ("他上哪一年级？", False),
    ],
)
def test_a_question_for_the_year_alone_is_told_from_other_dates(question: str, year: bool) -> None:
    assert asks_year(question) is year

"""Span kinds (`rag.answer.spans`): text -> typed spans, and the span that answers a question."""

from __future__ import annotations

import numpy as np
import pytest

from rag.answer import (
    TYPE_SPANS,
    AnswerType,
    SpanKind,
    best_span,
    counts_other,
    counts_things,
    find_spans,
    has_numeral,
    lacks_typed_span,
)
from rag.retrieve import Query
from rag.store import SentenceRow


@pytest.mark.parametrize(
    ("text", "kind", "span"),
    [
        ("5月10日，科大讯飞新加坡办公室正式开业。", "date", "5月10日"),
        ("到 2024 年 3 月，腾讯云启动项目。", "date", "2024 年 3 月"),
        ("预计亏损4.6亿元。", "money", "4.6亿元"),
        ("投资 4.3 亿美元以加速转型", "money", "4.3 亿美元"),
        ("行业大模型占比约70%。", "percent", "约70%"),  # the approximation belongs to it
        ("每年承载超过3700万乘客", "count", "超过3700万"),
        ("并从博物馆借出35件乐器", "count", "35件"),
        ("比赛还剩 4 分 51 秒时", "count", "4 分 51 秒"),
        ("路德于1523年出版了译本", "date", "1523年"),
        ("1521年夏天，路德将目标扩大", "date", "1521年夏天"),
        ("这在2005到2010年间达到了最高", "date", "在2005到2010年间"),
        ("自 20 世纪 90 年代以来", "date", "20 世纪 90 年代"),
        ("他一生都住在一系列纽约酒店里", "place", "纽约酒店"),
        ("751 家位于中国", "count", "751 家"),
        ("位于 28.5°E 的新位置", "count", "28.5°E"),  # degrees, with their direction
        ("气温高达40℃", "count", "高达40℃"),
        ("奥维咨询董事合伙人张君毅表示", "person", "张君毅"),
        ("还有防守端锋科尼·伊利。", "person", "科尼·伊利"),
        ("日经新闻记者藤野逸郎报道", "person", "藤野逸郎"),
        ("选帝侯腓特烈二世当时邀请", "person", "腓特烈二世"),  # jieba tags 腓特烈 a place
        ("册封领袖卓戈 (Drogo)为公爵", "person", "卓戈 (Drogo)"),  # with the original spelling
        ("作家左拉（Émile Zola）写道", "person", "左拉（Émile Zola）"),  # accents too
        ("一个名叫奥赛尔 (Oursel)的人", "person", "奥赛尔 (Oursel)"),  # jieba: 奥/nr 赛尔/nz
        ("启动了“Go Saudi”项目", "quoted", "Go Saudi"),
        ("须获得三分之二的票数", "count", "三分之二"),  # a fraction is one quantity
        ("洛杉矶有 两支 球队", "count", "两支"),
        ("格兰杰市场在 1835 开放", "date", "1835"),  # a bare year after 在
        ("共同祖先出现在约6600万年前", "date", "约6600万年前"),
        ("该服务将于 3月 推出", "date", "3月"),  # a month alone
        ("20％ 的加油站没有燃料", "percent", "20％"),  # full-width
        ("效率达到约27-30％", "percent", "约27-30％"),  # a range
        ("剧院 (Wojciech Bogusławski Theatre) 是典范", "latin", "Wojciech Bogusławski Theatre"),
    ],
)
def test_typed_spans_are_found(text: str, kind: str, span: str) -> None:
    assert span in [s.text for s in find_spans(text, kind)]


def test_a_number_of_a_percentage_is_not_a_count() -> None:
    assert [s.text for s in find_spans("销售额同比增长126%，卖出3万台。", "count")] == ["3万台"]


def test_digits_inside_a_name_in_the_question_do_not_rule_out_a_count() -> None:
    sent = SentenceRow(0, "d", 0, 20, "发售首日，第一批的1万台机子就迅速售罄。", ())
    question = "Rabbit R1发售当天，首批多少台很快卖光了？"
    query = Query(question, "zh", np.zeros(384, np.float32), {"发售": 1.0, "首批": 1.0})
    span = best_span(sent, ("count",), query, margin=15.0)
    assert span is not None and span.text == "1万台"  # not skipped for the "1" of "R1"


@pytest.mark.parametrize(
    ("question", "lang", "terms"),
    [
        ("谁是梅尔菲伯爵？", "zh", ("梅尔菲", "伯爵")),
        ("Who was Count of Melfi?", "en", ("count", "melfi", "伯爵")),  # Melfi: not in CC-CEDICT
    ],
)
def test_a_name_the_question_asks_about_is_no_answer_with_its_original_spelling(
    question: str, lang: str, terms: tuple[str, ...]
) -> None:
    text = "他随即在首都梅尔菲 (Melfi) 将伯爵头衔授予领导人威廉 (William)。"
    sent = SentenceRow(0, "d", 0, len(text), text, ())
    query = Query(question, lang, np.zeros(384, np.float32), dict.fromkeys(terms, 1.0))
    assert best_span(sent, ("person",), query, margin=15.0).text == "威廉 (William)"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("2010年的干旱有三个中心，植物全部死亡。", "三个中心"),  # a counter and its noun
        ("有时三分之二的人口因为瘟疫消失。", "三分之二的人口"),  # a share "of" its noun
        ("DeepSeek 在 140个市场 登顶。", "140个市场"),
        ("这项工程历时 3年 时间。", "3年"),  # a unit, not a counter: the noun is another thing
    ],
)
def test_a_count_takes_in_the_noun_it_counts(text: str, span: str) -> None:
    sent = SentenceRow(0, "d", 0, len(text), text, ())
    query = Query("有多少？", "zh", np.zeros(384, np.float32), {})
    assert best_span(sent, ("count",), query, margin=15.0).text == span  # type: ignore[union-attr]


def test_an_unknown_span_kind_fails_with_the_supported_kinds() -> None:
    with pytest.raises(ValueError, match=r"Unknown span kind 'colour'.*'date'.*'quoted'"):
        find_spans("红色", "colour")


def test_every_span_kind_has_an_extractor_and_every_typed_question_has_kinds() -> None:
    for kind in SpanKind:
        assert find_spans("", kind) == []
    assert all(kinds for kinds in TYPE_SPANS.values())


@pytest.mark.parametrize(
    ("text", "qtype", "lacks"),
    [
        ("5月10日，办公室正式开业。", AnswerType.WHEN, False),
        ("办公室将在明年开业。", AnswerType.WHEN, True),
        ("投资 4.3 亿美元以加速转型", AnswerType.HOW_MUCH, False),
        ("视频可以长达60秒。", AnswerType.HOW_MUCH, True),  # a count of seconds is no price
        ("行业大模型占比约70%。", AnswerType.PERCENTAGE, False),
        ("没有公开数据。", AnswerType.HOW_MANY, True),
        ("没有公开数据。", AnswerType.WHO, False),  # only date and number questions can lack one
    ],
)
def test_a_date_or_number_question_lacks_its_span_when_the_text_has_none(
    text: str, qtype: AnswerType, lacks: bool
) -> None:
    assert lacks_typed_span(text, qtype) is lacks


def test_two_spans_about_as_near_the_question_are_no_answer() -> None:
    text = "华为投资10亿元，腾讯投资20亿元。"
    sent = SentenceRow(0, "d", 0, len(text), text, ())
    query = Query("投资多少钱？", "zh", np.zeros(384, np.float32), {"投资": 1.0})
    assert best_span(sent, (SpanKind.MONEY,), query, margin=15.0) is None
    assert best_span(sent, (SpanKind.MONEY,), query, margin=0.0).text == "10亿元"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("1795", True),  # a bare year: no date to the patterns, still a number
        ("一半以上", True),
        ("昭和四十九年", True),
        ("阶跃星辰", False),
        ("大模型能力", False),
    ],
)
def test_has_numeral_tells_a_quantity_the_patterns_miss_from_a_name(text: str, holds: bool) -> None:
    assert has_numeral(text) is holds


@pytest.mark.parametrize(
    ("text", "things"),
    [
        ("超过450万台", True),  # units sold, not a price
        ("在全球5个", True),
        ("200余种", True),
        ("4.3 亿美元", False),
        ("10美元/月（约71.93元/月）", False),
        ("3 亿", False),  # a bare number may be a sum
        ("近6倍", False),
    ],
)
def test_counts_things_tells_a_count_of_units_from_a_sum(text: str, things: bool) -> None:
    assert counts_things(text) is things


@pytest.mark.parametrize(
    ("question", "text", "other"),
    [
        ("这个应用累计有多少用户？", "200余种", True),
        ("这家公司有多少名员工？", "300人", False),  # people counted as 名, 人 or 位 alike
        ("七个月内推出了几款应用？", "11 款", False),
        ("七个月内推出了几款应用？", "751 家", True),
        ("在多少个国家建了数据中心？", "5家", False),  # 个 counts anything
        ("有多少用户？", "数百万", False),  # no measure word to compare
        ("How many users does it have?", "200余种", False),  # Chinese questions only
    ],
)
def test_counts_other_tells_a_count_of_something_else(
    question: str, text: str, other: bool
) -> None:
    assert counts_other(question, text) is other

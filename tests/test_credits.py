"""Credits (`rag.answer.credits`): an article's author, reporter or editor, read from its byline."""

from __future__ import annotations

import pytest

from rag.answer.credits import asked_roles, credits
from rag.pipeline import Pipeline
from rag.script import fold

BYLINE = (
    "界面新闻记者 | 张三\n\n界面新闻编辑 | 李四四\n\n2月初，某公司发布了新模型。中文：不是署名。\n"
)


def named(text: str) -> list[tuple[str, str]]:
    return [(c.role, text[c.start : c.end]) for c in credits(text)]


def test_a_traditional_byline_is_read_as_simplified_at_the_same_offsets() -> None:
    text = "界面新聞記者 | 張三\n\n界面新聞編輯 | 李四四\n\n正文。"
    assert [(c.role, text[c.start : c.end]) for c in credits(fold(text))] == [
        ("reporter", "張三"),
        ("editor", "李四四"),
    ]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (BYLINE, [("reporter", "张三"), ("editor", "李四四")]),
        ("导语。\n\n文 | 王五 编辑 | 赵六\n\n正文很长。", [("author", "王五"), ("editor", "赵六")]),
        ("> 责任编辑：Ann Lee\n正文。", [("editor", "Ann Lee")]),
        (
            "正文。\n本文作者为日本经济新闻（日经中文网）铃木一郎 东京\n版权声明",
            [("author", "铃木一郎")],
        ),
        # a byline and a credit line at once: one credit
        ("本文作者：张三\n", [("author", "张三")]),
        (
            "Headline\nBy Jane Doe\n\nBy 2025, sales rose.\nEdited by Li Wei\nReporter: Ann Lee\n",
            [("author", "Jane Doe"), ("editor", "Li Wei"), ("reporter", "Ann Lee")],
        ),
        ("by the river\nBy contrast, the market grew.\n", []),  # sentences that open with "by"
        # "文" after other characters is a word, not a label; a long line is prose, not a byline
        ("原文：hello\n中文：你好\n", []),
        ("编辑：" + "这是一段很长的正文，" * 6 + "\n", []),
    ],
)
def test_a_byline_credits_each_role_with_its_names_offsets(
    text: str, found: list[tuple[str, str]]
) -> None:
    assert named(text) == found


@pytest.mark.parametrize(
    ("question", "roles"),
    [
        ("这篇报道的编辑是谁？", ("editor",)),
        ("Who edited the piece?", ("editor",)),
        ("Which reporter wrote the article on cloud vendors?", ("reporter", "author")),
        ("这篇文章是谁写的？", ("author", "reporter")),
        # an author of something other than a piece of writing the articles are is not a credit
        ("《三体》的作者叫什么？", ()),
        ("Who is the CEO of Huawei?", ()),
        ("编辑功能有哪些？", ()),  # not asking who
    ],
)
def test_a_question_asks_for_a_credit_by_its_role_words(
    question: str, roles: tuple[str, ...]
) -> None:
    assert asked_roles(question) == roles


@pytest.mark.parametrize(
    ("question", "name"),
    [
        ("云计算厂商争夺出海企业这篇报道的记者是谁？", "肖芳"),
        ("Who edited 36Kr's article on the 2024 AI outlook?", "苏建勋"),
        ("36氪的2024 AI展望一文的作者是谁？", "周鑫雨"),
        ("Who wrote the Nikkei column on China's large language models?", "藤野逸郎"),
        ("界面新聞這篇雲計算廠商報導的記者是誰？", "肖芳"),  # asked in Traditional script
    ],
)
@pytest.mark.parametrize("answerer", ["seed_pipeline", "rules_pipeline"])
def test_either_answerer_reads_an_articles_byline_with_a_citation(
    question: str, name: str, answerer: str, request: pytest.FixtureRequest
) -> None:
    pipeline: Pipeline = request.getfixturevalue(answerer)
    answer = pipeline.ask(question)
    assert answer.answer == f"{name} [1]"
    (cited,) = answer.citations
    doc = pipeline.index.documents[cited.doc_id]
    assert cited.quote == doc.text[cited.start : cited.end]
    assert name in cited.quote and "\n" not in cited.quote
    assert answer.passages[0].doc_id == cited.doc_id
    scores = [p.sentence for p in answer.passages]
    assert scores == sorted(scores, reverse=True)

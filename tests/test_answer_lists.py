"""List answers (`rag.answer.lists`): enumerations split into items, what a question lists, and
the list answer from ranked sentences."""

from __future__ import annotations

import numpy as np
import pytest

from rag.answer import AnswerSettings, Candidate, enumerations, list_answer
from rag.answer.lists import list_item, list_items, list_kind
from rag.config import Settings
from rag.embed import HashEmbedder
from rag.indexing import open_indexer
from rag.retrieve import Query
from rag.store import SentenceRow, Store
from rag.types import Document


@pytest.mark.parametrize(
    ("text", "items"),
    [
        (
            "分别位于韩国、马来西亚、菲律宾、泰国和墨西哥。",
            ["韩国", "马来西亚", "菲律宾", "泰国", "墨西哥"],
        ),
        ("随着这一宣布，字节跳动、腾讯和百度等公司迅速跟进。", ["字节跳动", "腾讯", "百度"]),
        ("还引入了DeepSeek-V3和DeepSeek-R1等模型", ["DeepSeek-V3", "DeepSeek-R1"]),
        ("包括华为和中兴通讯在内的厂商", ["华为", "中兴通讯"]),
        ("我们研究技术和市场。", None),  # two common nouns joined by 和 are not a list of names
        # jieba's dictionary tags 相机 and 互动 as adverbs; before a noun or a Latin word they
        # are nouns of the item. The last item keeps every word up to its last name.
        (
            "分别为AI相机Lumo、AI聊天TalkBee和AI社交Fiora。",
            ["AI相机Lumo", "AI聊天TalkBee", "AI社交Fiora"],
        ),
        # An item's bracketed former name is part of it.
        (
            "包括AI工具平台Zeta、AI互动剧情产品Nova（原Orbit）和AI教育类产品Quill等。",
            ["AI工具平台Zeta", "AI互动剧情产品Nova（原Orbit）", "AI教育类产品Quill"],
        ),
        ("合作方有Kumo（Kumo Labs）、Sable和Teal。", ["Kumo（Kumo Labs）", "Sable", "Teal"]),
        ("阿里云、华为云纷纷推出新产品。", ["阿里云", "华为云"]),  # 纷纷, before a verb, is not
    ],
)
def test_enumerations_are_split_into_their_items(text: str, items: list[str] | None) -> None:
    runs = [[s.text for s in run] for run in enumerations(text)]
    if items is None:
        assert runs == []
    else:
        assert items in runs
        assert all(text[s.start : s.end] == s.text for run in enumerations(text) for s in run)


def _query(question: str, *terms: str) -> Query:
    return Query(question, "zh", np.zeros(8, np.float32), dict.fromkeys(terms, 1.0))


def test_an_enumeration_naming_what_the_question_names_is_context_not_the_answer() -> None:
    text = "阿里云的数据中心位于韩国、马来西亚和墨西哥，合作伙伴包括华为、中兴通讯和腾讯。"
    assert list_items(text, _query("阿里云在哪些国家建设数据中心？", "阿里云", "国家")) == [
        "韩国",
        "马来西亚",
        "墨西哥",
    ]
    in_mexico = _query("哪些公司在墨西哥建设数据中心？", "墨西哥", "公司")
    assert list_items(text, in_mexico) == ["华为", "中兴通讯", "腾讯"]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Which clouds are building datacentres in Mexico?", "org"),
        ("哪些云厂商要在墨西哥建设数据中心？", "org"),
        ("Which countries will get new data centres?", "place"),
        ("哪些国家将建新的数据中心？", "place"),
        ("阿里云在哪些国家建数据中心？", "org"),  # the first word that says decides: 云
        ("Which apps did Baidu launch abroad?", "name"),
        ("百度推出了哪些产品？", "name"),
        ("哪些因素影响出海？", None),
        ("哪些公司的产品进入了哪些市场？", "org"),  # the first word that says decides
    ],
)
def test_what_a_list_question_lists_is_read_from_its_words(question: str, kind: str | None) -> None:
    assert list_kind(question) == kind


@pytest.mark.parametrize(
    ("text", "kind", "item"),
    [
        ("亚马逊云科技将在墨西哥建设数据中心。", "org", "亚马逊云科技"),
        ("阿里云宣布在墨西哥投资新建数据中心。", "org", "阿里云"),
        ("腾讯云在巴西启动了项目。", "place", "巴西"),
        ("百度推出了“MeDo”应用。", "name", "MeDo"),
        # A name in quotation marks names a product, not a company: the company is the item
        # although "百炼" sits nearer the question's words than 阿里巴巴 does.
        (
            "阿里巴巴宣布将在韩国、马来西亚、泰国和墨西哥建设数据中心，并推出“百炼”。",
            "org",
            "阿里巴巴",
        ),
    ],
)
def test_the_one_item_of_a_sentence_is_the_nearest_the_question_does_not_name(
    text: str, kind: str, item: str
) -> None:
    assert (
        list_item(text, kind, _query("在墨西哥建设数据中心的有哪些？", "墨西哥", "数据中心"))
        == item
    )


DOCS = [
    Document("ali", "阿里云宣布在墨西哥投资新建数据中心。阿里云在韩国、马来西亚和泰国都有区域。"),
    Document("aws", "亚马逊云科技将在墨西哥建设数据中心。该区域预计明年上线。"),
    Document("app", "不少应用难逃倒U型曲线。其核心原因有二：技术没有壁垒；服务链条短。"),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    settings = Settings(index_dir=tmp_path_factory.mktemp("answer-lists"))
    written = open_indexer(settings, HashEmbedder()).apply(DOCS, replace_all=True).store
    assert written is not None
    return written


def _ranked(store: Store, *texts: str) -> list[Candidate]:
    """The stored sentences with these texts, scored in the order given (best first)."""
    sents: dict[str, SentenceRow] = {}
    for row in range(len(DOCS)):  # one chunk a document
        for s in store.chunk_sentences(row):
            sents[s.text] = s
    return [Candidate(sents[t], 0, 1.0, score=1.0 - 0.01 * i) for i, t in enumerate(texts)]


def test_a_list_is_the_best_sentences_enumeration_cited_once(store: Store) -> None:
    ranked = _ranked(store, "阿里云在韩国、马来西亚和泰国都有区域。")
    query = _query("阿里云在哪些国家有区域？", "阿里云", "国家", "区域")
    answer, citations = list_answer(
        query, ranked, {"区域": 1}, {"区域": 1.0}, store, AnswerSettings()
    )
    assert answer == "韩国、马来西亚、泰国 [1]"
    assert [(c.n, c.doc_id, c.quote) for c in citations] == [
        (1, "ali", "阿里云在韩国、马来西亚和泰国都有区域。")
    ]


def test_items_named_one_a_sentence_across_documents_are_each_cited(store: Store) -> None:
    ranked = _ranked(
        store, "亚马逊云科技将在墨西哥建设数据中心。", "阿里云宣布在墨西哥投资新建数据中心。"
    )
    query = _query("哪些云厂商在墨西哥建设数据中心？", "云厂商", "墨西哥", "数据中心")
    df, weights = {"墨西哥": 2, "数据中心": 2}, {"墨西哥": 2.0, "数据中心": 1.0}
    answer, citations = list_answer(query, ranked, df, weights, store, AnswerSettings())
    assert answer == "亚马逊云科技 [1]；阿里云 [2]"
    assert [c.doc_id for c in citations] == ["aws", "ali"]


def test_without_items_the_list_is_the_best_sentences_each_cited(store: Store) -> None:
    ranked = _ranked(store, "该区域预计明年上线。", "阿里云宣布在墨西哥投资新建数据中心。")
    query = _query("哪些进展值得关注？", "进展")
    answer, citations = list_answer(query, ranked, {}, {}, store, AnswerSettings())
    assert answer == "该区域预计明年上线。 [1]；阿里云宣布在墨西哥投资新建数据中心。 [2]"
    assert [c.n for c in citations] == [1, 2]


def test_a_sentence_cut_at_a_semicolon_is_quoted_to_its_end(store: Store) -> None:
    # The splitter ends a sentence at "；", which joins the parts of one enumeration: quoting
    # the first part alone answered "two reasons" with one. The second part, ranked too, is
    # not quoted twice.
    ranked = _ranked(
        store, "其核心原因有二：技术没有壁垒；", "不少应用难逃倒U型曲线。", "服务链条短。"
    )
    query = _query("应用难逃倒U型曲线的两个原因是什么？", "原因", "曲线")
    answer, citations = list_answer(query, ranked, {}, {}, store, AnswerSettings())
    assert answer == "其核心原因有二：技术没有壁垒；服务链条短。 [1]；不少应用难逃倒U型曲线。 [2]"
    text = DOCS[2].text
    assert [(c.n, c.quote) for c in citations] == [
        (1, "其核心原因有二：技术没有壁垒；服务链条短。"),
        (2, "不少应用难逃倒U型曲线。"),
    ]
    assert all(text[c.start : c.end] == c.quote for c in citations)

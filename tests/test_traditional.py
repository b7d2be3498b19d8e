"""Traditional Chinese (issue 18): questions and documents in either script, matched by folding
Traditional characters to Simplified, with citations still exact offsets into the stored text.

Real seed index, real embedder, real OpenCC tables.
"""

from __future__ import annotations

from pathlib import Path

import opencc
import pytest

from rag.config import Settings
from rag.embed import Embedder
from rag.ingest import load_sources, make_document
from rag.lexical import HAN_RUN, language, tokenize
from rag.pipeline import Pipeline
from rag.retrieve import Mode
from rag.script import HAN_CHAR, fold, is_traditional

ROOT = Path(__file__).resolve().parent.parent
IFLYTEK_HANT = "科大訊飛新加坡辦公室是哪天開業的？"
FOUNDED_HANT = (
    "星霧科技是一家位於臺北的翻譯公司。2023年8月18日，星霧科技在臺北發布了翻譯機器人「霧語」，"
    "首批售出三萬臺。該公司表示，霧語支援十二種語言，並將於明年進入東南亞市場。"
)


@pytest.fixture(scope="module")
def seed_texts() -> list[str]:
    return [d.text for d in load_sources([ROOT / "seeds"]).documents]


def test_folding_keeps_every_offset(seed_texts: list[str]) -> None:
    s2t = opencc.OpenCC("s2t").convert
    for text in seed_texts:
        traditional = s2t(text)
        assert is_traditional(traditional)
        folded = fold(traditional)
        assert len(folded) == len(traditional)
        # Folding reads most of the converted article back as the original (a few characters
        # have two Simplified readings); it never touches what is not Chinese.
        same = sum(a == b for a, b in zip(folded, text, strict=False)) / len(text)
        assert same > 0.99, same


def test_simplified_text_is_left_as_it_is(seed_texts: list[str]) -> None:
    for text in seed_texts:
        assert fold(text) == text and not is_traditional(text)


def test_the_tokens_of_both_scripts_are_the_same() -> None:
    assert tokenize(IFLYTEK_HANT) == tokenize("科大讯飞新加坡办公室是哪天开业的？")


@pytest.mark.parametrize(
    "char",
    ["中", "㐀", "臺", "\uf92c", "\U00020000", "\U0002a700"],  # Extension A, B, C; compatibility
)
def test_every_module_agrees_on_what_a_han_character_is(char: str) -> None:
    text = f"ab{char}{char}cd"
    assert HAN_CHAR.search(text) and HAN_RUN.search(text).group() == char * 2  # type: ignore[union-attr]
    assert language(text) == "zh"
    assert tokenize(text)[0] == "ab" and not tokenize(text)[1].isascii()  # the lexical leg's


def test_no_latin_text_counts_as_chinese() -> None:
    for text in ("Alibaba Cloud", "GPT-4o", "1,500", "ＡＩ", "☯ ䷀"):  # ䷀: a hexagram, not Han
        assert not HAN_CHAR.search(text) and language(text) == "en"


def test_a_traditional_question_is_answered_from_simplified_articles(
    seed_pipeline: Pipeline,
) -> None:
    data = seed_pipeline.ask(IFLYTEK_HANT)
    assert data.question == IFLYTEK_HANT and data.resolved_question == IFLYTEK_HANT
    assert "5月10日" in data.answer
    doc = seed_pipeline.index.documents[data.citations[0].doc_id]
    c = data.citations[0]
    assert doc.text[c.start : c.end] == c.quote


def test_the_lexical_leg_alone_finds_a_traditional_question(seed_pipeline: Pipeline) -> None:
    # BM25 only: before folding, 訊飛 matched no token of the Simplified index and scored 0.
    data = seed_pipeline.ask(IFLYTEK_HANT, mode=Mode.BM25)
    assert data.passages[0].doc_id == "000_8acd2f9418a98b58"
    assert data.passages[0].lexical > 0
    assert "5月10日" in data.answer


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("星雾科技在台北发布的翻译机器人叫什么？", "霧語"),
        ("星雾科技是哪天发布翻译机器人的？", "2023年8月18日"),
    ],
)
def test_a_traditional_document_is_found_by_a_simplified_question_with_exact_citations(
    index_copy: Path, embedder: Embedder, question: str, expected: str
) -> None:
    pipe = Pipeline(Settings(index_dir=index_copy), embedder=embedder)
    pipe.upsert(make_document(doc_id="xingwu", text=FOUNDED_HANT, title="星霧科技發布霧語"))
    data = pipe.ask(question)
    assert data.passages[0].doc_id == "xingwu"
    assert expected in data.answer, data.answer
    stored = pipe.index.documents["xingwu"].text
    assert stored == FOUNDED_HANT  # folded for matching only, never rewritten
    for c in data.citations:
        assert stored[c.start : c.end] == c.quote
    assert any(expected in c.quote for c in data.citations)

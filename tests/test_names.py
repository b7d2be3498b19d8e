"""Romanised names (`rag.names`): a question's pinyin name is read as the corpus's word."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import rag.pipeline
from rag.config import Settings
from rag.names import Romanised, words_of
from rag.pipeline import Pipeline
from rag.translate import Dictionary
from rag.types import Document

TEXT = (
    "智谱AI CEO张鹏表示，落地阶段最重要的是找对场景。网易有道CEO周枫认为有三点。"
    "在国内红极一时的AI写真生成应用妙鸭相机，排队人数高达4000人。时代背景不同，"
    "Yuca对记者表示，变化很快。"
)


@pytest.fixture(scope="module")
def names() -> Romanised:
    return Romanised.of([words_of(TEXT)], Dictionary.load())


def never(word: str) -> bool:
    return False


@pytest.mark.parametrize(
    ("question", "read"),
    [
        ("Who is the CEO of Zhipu AI?", "Who is the CEO of 智谱 AI?"),
        ("who is youdao's ceo?", "who is 有道's ceo?"),  # any case, an apostrophe after it
        # jieba leaves 妙/鸭 as two characters: runs of single characters are words too
        ("How many people queued for Miaoya?", "How many people queued for 妙鸭?"),
        ("Zhipu的CEO是谁？", "智谱的CEO是谁？"),  # a Chinese question, too
        # a person's name in two words, though "Zhang" and "Peng" alone are English to CEDICT
        ("What did Zhang Peng say?", "What did 张鹏 say?"),
        ("Zhou Feng and Zhipu", "周枫 and 智谱"),
    ],
)
def test_a_pinyin_name_is_read_as_the_corpus_word(
    names: Romanised, question: str, read: str
) -> None:
    assert names.transliterate(question, never) == read


@pytest.mark.parametrize(
    "question",
    [
        "Did the change in China hurt them?",  # English words, though chang+e reads as pinyin
        "What happened in Beijing?",  # the dictionary's 北京, not the text's 背景 (bei jing)
        "Who is Yuca?",  # spelt so in the corpus (`knows`)
        "Who founded Moonshot?",  # no pinyin
        "What did Zhou say?",  # one syllable: too many characters read so
        "Did Zhou Peng say so?",  # two syllables that no word of the corpus reads as
    ],
)
def test_other_words_stay_as_asked(names: Romanised, question: str) -> None:
    assert names.transliterate(question, lambda w: w == "yuca") == question


def test_the_service_reads_a_pinyin_name_as_its_chinese_name(seed_pipeline: Pipeline) -> None:
    # 智谱AI's CEO is 张鹏; without the name read as 智谱, the question found Qualcomm's CEO.
    r = seed_pipeline.ask("Who is the CEO of Zhipu AI?")
    assert not r.abstained and r.answer.startswith("张鹏")
    assert r.resolved_question == r.question  # read so inside, not shown as a rewording


def test_a_big_corpus_has_its_names_made_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More text than a question waits for is cut in the background: the first questions are
    # read without the table (not held up), later ones with it.
    pipe = Pipeline(Settings(index_dir=tmp_path, embedder="hash", reader="rules"))
    pipe.upsert(Document("zp", TEXT))
    monkeypatch.setattr(rag.pipeline, "NAMES_WAIT_CHARS", 0)
    pipe.ask("Who is the CEO of Zhipu AI?")
    live = pipe._live
    assert live is not None and live.names_pending  # handed to a thread, not made in the ask
    for t in threading.enumerate():
        if t.name == "names":
            t.join(timeout=30)
    assert live.names is not None
    assert live.names.transliterate("Zhipu", live.index.knows) == "智谱"

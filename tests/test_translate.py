"""Promises of issue 3 about the cross-lingual lexical evidence: CC-CEDICT both ways."""

from __future__ import annotations

import numpy as np
import pytest

from rag.retrieve import lexical_query
from rag.translate import Dictionary, _stem


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return Dictionary.load()


def test_english_question_words_become_weighted_chinese_candidates(
    dictionary: Dictionary,
) -> None:
    terms = dictionary.translate("Which clouds are building datacentres in Mexico?")
    by_text = {t.text: t for t in terms}
    assert "墨西哥" in by_text and "云" in by_text
    assert "数据" in by_text  # "datacentres" is split into "data" + "centres"
    # a word's later senses weigh less than its first, so a wrong sense cannot dominate
    mexico = [t for t in terms if t.source == "mexico"]
    assert mexico[0].weight == 1.0 and all(t.weight < 1.0 for t in mexico[1:])


@pytest.mark.parametrize(
    ("words", "stem"),
    [
        (("install", "installed", "installs", "installing"), "install"),
        (("centre", "centres", "center"), "center"),
        (("study", "studies"), "study"),
        (("need", "needs"), "need"),
        (("run", "running"), "run"),
    ],
)
def test_the_stemmer_brings_a_words_forms_together(words: tuple[str, ...], stem: str) -> None:
    assert {_stem(w) for w in words} == {stem}


def test_a_chinese_word_glosses_as_every_sense_it_has(dictionary: Dictionary) -> None:
    # 装设 is not among the first senses query translation keeps for "install"; its gloss is.
    assert "装设" not in [t.text for t in dictionary.translate("install")]
    assert "install" in dictionary.gloss(["装设"])
    assert {"company", "firm"} <= set(dictionary.gloss(["公司"]))
    assert dictionary.gloss(["chatgpt", "2024"]) == []  # Latin tokens match as they are, elsewhere


def test_english_question_words_meet_the_glosses_in_the_same_form(
    dictionary: Dictionary,
) -> None:
    words = dictionary.english_words("What did Tesla's company install in 1886?")
    assert words == ["tesla", "company", "install"]
    assert set(words[1:]) <= set(dictionary.gloss(["公司", "安装"]))


def test_only_english_questions_carry_english_words(dictionary: Dictionary) -> None:
    vector = np.zeros(384, dtype=np.float32)  # the lexical side does not read the vector
    english = lexical_query("Which clouds build in Mexico?", vector, dictionary).english
    assert english == ("cloud", "build", "mexico")
    assert lexical_query("哪些云厂商在墨西哥建设数据中心？", vector, dictionary).english == ()
    assert lexical_query("Which clouds build in Mexico?", vector, None).english == ()


@pytest.mark.parametrize(
    ("text", "common"),
    [
        ("许可证", True),  # one common word
        ("卫冕冠军", True),  # two common words (卫冕 + 冠军), not an entry of its own
        ("丹佛", False),  # CC-CEDICT writes the pinyin of a name capitalised
        ("约什·诺曼", False),  # a transliterated name the dictionary lacks
        ("陈晓建", False),
        ("", False),
    ],
)
def test_common_words_are_told_from_names(dictionary: Dictionary, text: str, common: bool) -> None:
    assert dictionary.is_common(text) is common

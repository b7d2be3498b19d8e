"""The answerer's settings: how many passages it reads, the sentence score's weights, the
confidence's fitted weights (`rag/answer/data/confidence.json`) and the abstention cut."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.answer.confidence import fitted_weights


@dataclass(frozen=True)
class AnswerSettings:
    read_k: int = 5  # passages whose sentences are read (3, 5, 8, 12 tried on dev)
    # Abstain below this confidence. The confidence is a logistic model of the `Evidence`, per
    # question language, fitted by eval/fit_confidence.py on the seeds' dev split (unanswerable
    # against answerable) with XQuAD's first 24 articles as more answerable questions; 0.5 sits
    # at the fit's cut with the most dev abstention recall at false abstention <= 0.02. Weights:
    # (best sentence cosine, log(1 + the best BM25 retrieved), wants a date or number the best
    # sentence lacks, bias), written by the fit to rag/answer/data/confidence.json. Near misses
    # ("when will the New Zealand data centre open?") find a sentence nearly as similar as real
    # answers do, so the cosine does not help: given the BM25, its fitted weight is negative.
    abstain_below: float = 0.5
    confidence_zh: tuple[float, ...] = field(default_factory=lambda: fitted_weights()["zh"])
    confidence_en: tuple[float, ...] = field(default_factory=lambda: fitted_weights()["en"])
    # Sentence score weights, from a grid on the dev splits (seeds dev, XQuAD's first 24
    # articles): whole-word overlap and character-pair overlap, each in [0, 1], weigh a quarter of
    # a cosine each, the passage's (min-max scaled) retrieval score a tenth. Against word overlap
    # alone at 0.75, character pairs lifted the held-out splits (seeds test accuracy 0.727 ->
    # 0.739, XQuAD zh articles 25-48 right sentence 0.753 -> 0.771). "Holds a span of the
    # expected type" (0.02 to 0.6 tried) gained nothing or cost accuracy, so it stays out.
    w_dense: float = 1.0
    w_lexical: float = 0.25
    w_bigram: float = 0.25
    w_passage: float = 0.1
    # The question's words that the previous sentence holds and this one lacks: an answer often
    # continues the sentence that names its subject ("Tesla founded a company. It installed arc
    # lamps..."). 0.2 on the dev splits (0.1 to 0.6 tried); held out, XQuAD zh articles 25-48
    # right answer 0.701 -> 0.728, English and the seeds unchanged.
    w_context: float = 0.2
    # English questions: the idf-weighted share of their words that the CC-CEDICT glosses of the
    # sentence's words use (all senses: "install" meets 安装 and 装设). 0.1 on XQuAD's dev
    # articles (0.1 to 0.5 tried); held out, right sentence 0.658 -> 0.704.
    w_gloss: float = 0.1
    list_max: int = 3  # sentences a list answer collects
    list_gap: float = 0.08  # how far below the best a list sentence may score
    span_margin: float = 15.0  # characters of distance that make one span clearly the nearest
    max_answer_chars: int = 300

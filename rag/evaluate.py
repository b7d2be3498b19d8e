"""Evaluate: run a gold set or a SQuAD-format benchmark through `Pipeline.ask` and score it.

Entry point for the command line: `run_cli(args, settings) -> exit status` (`rag eval`, see
CONTRACT.md "Command line" and "Metrics"). From Python:

    >>> pipe = Pipeline(replace(Settings.from_env(), cache_size=0))
    >>> run = evaluate_gold(pipe, load_gold(Path("eval/gold/seeds.jsonl"), split="dev"))
    >>> run.metrics.answer_accuracy, run.metrics.hit_at[5]

The runner only reads the `/ask` response object (answer, abstained, confidence, citations,
passages), never the answerer's internals, so any answerer behind `Pipeline.ask` can be scored.
The metric definitions live in `rag.metrics`; tables, plots and the Markdown report in `rag.report`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rag import metrics as M
from rag.config import Settings
from rag.errors import RagError
from rag.retrieve import Mode

GOLD_K = (1, 3, 5, 10)  # CONTRACT hit@k
GOLD_TOP_K = max(GOLD_K)  # passages asked for, so one call gives the whole hit@k curve
SQUAD_K = (1, 3, 5, 10, 20)
SQUAD_TOP_K = max(SQUAD_K)  # the API's maximum: MRR over 20 passages is close to the full one
SPLITS = ("dev", "test")
# One untimed question first: the first call loads jieba's dictionary (~1 s), which would
# otherwise land in p95 as if it were a slow answer.
WARM_UP = "华为在北非发布了什么? What did Huawei launch?"
STDOUT_FAILURES = 10
# Settings that change results or latency, recorded in reports (thread settings matter a lot on a
# shared 2-core machine: an OpenMP engine spinning on busy cores is many times slower).


class EvalError(RagError, ValueError):
    """A problem with the eval inputs; the message says what to fix."""


# -- gold set ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GoldItem:
    """One line of a gold file (CONTRACT "Gold Q&A set"); `answers == []` means unanswerable."""

    id: str
    question: str
    answers: list[list[str]]
    docs: list[str]
    lang: str = ""
    type: str = ""
    split: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass
class GoldRecord:
    """What one question got, and how it scored."""

    id: str
    lang: str
    type: str
    question: str
    expected: list[list[str]]
    docs: list[str]
    answer: str
    abstained: bool
    confidence: float
    rank: int | None  # first relevant passage, 1-based; None when none of the GOLD_TOP_K is
    correct: bool
    supported: bool
    citations: int
    citations_valid: int
    quotes: list[str]
    cited_docs: list[str]
    top_docs: list[str]
    latency_ms: float
    stages_ms: dict[str, float] = field(default_factory=dict)  # the response's timings_ms

    @property
    def answerable(self) -> bool:
        return bool(self.expected)

    @property
    def failure(self) -> str | None:
        """Why the question failed, in words the answerer's author can act on; None if it passed."""
        if not self.answerable:
            return None if self.abstained else "answered an unanswerable question"
        if self.correct:
            return None
        retrieval = "" if self.rank is not None else f" (no relevant passage in top {GOLD_TOP_K})"
        if self.abstained:
            return "abstained" + retrieval
        bare = M.strip_markers(self.answer)
        if len(bare) > M.MAX_ANSWER_CHARS and M.satisfies(bare, self.expected):
            return f"right content but over {M.MAX_ANSWER_CHARS} characters"
        if M.mentions_any(bare, self.expected):
            return "partly right (some groups missing)" + retrieval
        return "wrong answer" + retrieval


@dataclass
class GoldMetrics:
    """CONTRACT metrics over a set of records; None where a metric has no questions to count."""

    n: int
    answerable: int
    unanswerable: int
    hit_at: dict[int, float | None]
    mrr: float | None
    answer_accuracy: float | None
    citation_validity: float | None
    citation_support: float | None
    abstention_recall: float | None
    false_abstention: float | None
    latency_p50: float | None
    latency_p95: float | None
    citations: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The contract's names (`hit@5`, `latency_ms.p50`, ...)."""
        out: dict[str, Any] = {"n": self.n, "answerable": self.answerable}
        out["unanswerable"] = self.unanswerable
        out.update({f"hit@{k}": v for k, v in self.hit_at.items()})
        out.update(
            mrr=self.mrr,
            answer_accuracy=self.answer_accuracy,
            citation_validity=self.citation_validity,
            citation_support=self.citation_support,
            abstention_recall=self.abstention_recall,
            false_abstention=self.false_abstention,
            latency_ms={"p50": self.latency_p50, "p95": self.latency_p95},
            citations=self.citations,
        )
        return out


@dataclass
class GoldRun:
    """One configuration's run over a gold set."""

    config: str
    metrics: GoldMetrics
    by_lang: dict[str, GoldMetrics]
    by_type: dict[str, GoldMetrics]
    records: list[GoldRecord]
    seconds: float

    def as_dict(self, with_records: bool = True) -> dict[str, Any]:
        out = self.metrics.as_dict()
        out["by_lang"] = {k: m.as_dict() for k, m in self.by_lang.items()}
        out["by_type"] = {k: m.as_dict() for k, m in self.by_type.items()}
        out["seconds"] = round(self.seconds, 2)
        if with_records:
            out["questions"] = [asdict(r) | {"failure": r.failure} for r in self.records]
        return out


def load_gold(path: Path, split: str | None = None, limit: int | None = None) -> list[GoldItem]:
    """The gold items of `path` (JSONL), optionally only one split, at most `limit` of them."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"cannot read gold file {path}: {exc}") from None
    items: list[GoldItem] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            item = GoldItem(
                id=str(obj["id"]),
                question=str(obj["question"]),
                answers=[[str(a) for a in group] for group in obj["answers"]],
                docs=[str(d) for d in obj["docs"]],
                lang=str(obj.get("lang", "")),
                type=str(obj.get("type", "")),
                split=str(obj.get("split", "")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(
                f"{path} line {number}: not a gold item ({type(exc).__name__}: {exc}); "
                "see CONTRACT.md 'Gold Q&A set' (python eval/validate_gold.py checks a file)"
            ) from None
        if split is None or item.split == split:
            items.append(item)
    return items[:limit] if limit is not None else items


def score_gold(
    item: GoldItem, response: dict[str, Any], texts: dict[str, str], ms: float
) -> GoldRecord:
    """Score one `/ask` response against its gold item (texts: doc_id -> the index's text)."""
    answer = str(response.get("answer") or "")
    abstained = bool(response.get("abstained"))
    citations = list(response.get("citations") or [])
    passages = list(response.get("passages") or [])
    correct = item.answerable and not abstained and M.answer_correct(answer, item.answers)
    return GoldRecord(
        id=item.id,
        lang=item.lang,
        type=item.type,
        question=item.question,
        expected=item.answers,
        docs=item.docs,
        answer=answer,
        abstained=abstained,
        confidence=float(response.get("confidence") or 0.0),
        rank=M.first_relevant_rank(passages, item.docs, item.answers) if item.answerable else None,
        correct=correct,
        supported=correct and M.citation_supports(citations, item.docs, item.answers),
        citations=len(citations),
        citations_valid=sum(M.citation_valid(c, texts) for c in citations),
        quotes=[str(c.get("quote", "")) for c in citations],
        cited_docs=[str(c.get("doc_id", "")) for c in citations],
        top_docs=[str(p.get("doc_id", "")) for p in passages],
        latency_ms=ms,
        stages_ms=_stages(response),
    )


def _stages(response: dict[str, Any]) -> dict[str, float]:
    """Per-stage times the pipeline reports (embed, retrieve, extract...), for the report."""
    timings = response.get("timings_ms") or {}
    return {k: float(v) for k, v in timings.items() if k != "total" and isinstance(v, int | float)}


def gold_metrics(records: Sequence[GoldRecord]) -> GoldMetrics:
    """The CONTRACT metrics of a set of scored questions."""
    answerable = [r for r in records if r.answerable]
    unanswerable = [r for r in records if not r.answerable]
    ranks = [r.rank for r in answerable]
    n_citations = sum(r.citations for r in records)
    latencies = [r.latency_ms for r in records]
    return GoldMetrics(
        n=len(records),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        hit_at={k: M.hit_at(ranks, k) for k in GOLD_K},
        mrr=M.mean_reciprocal_rank(ranks),
        answer_accuracy=M.share([r.correct for r in answerable]),
        citation_validity=(
            sum(r.citations_valid for r in records) / n_citations if n_citations else None
        ),
        citation_support=M.share([r.supported for r in answerable if r.correct]),
        abstention_recall=M.share([r.abstained for r in unanswerable]),
        false_abstention=M.share([r.abstained for r in answerable]),
        latency_p50=M.percentile(latencies, 50),
        latency_p95=M.percentile(latencies, 95),
        citations=n_citations,
    )


def _breakdown(
    records: Sequence[GoldRecord], key: Callable[[GoldRecord], str]
) -> dict[str, GoldMetrics]:
    groups: dict[str, list[GoldRecord]] = defaultdict(list)
    for r in records:
        groups[key(r) or "?"].append(r)
    return {k: gold_metrics(v) for k, v in sorted(groups.items())}


def evaluate_gold(
    pipe: Any, items: Sequence[GoldItem], mode: Mode | None = None, progress: bool = False
) -> GoldRun:
    """Ask every gold question through `pipe.ask` (top_k 10) and score it."""
    mode = mode or pipe.retrieve_settings.mode
    texts = {d: doc.text for d, doc in pipe.index.documents.items()}
    started = time.perf_counter()
    records = [
        score_gold(item, response, texts, ms)
        for item, (response, ms) in zip(
            items,
            _ask_all(pipe, [i.question for i in items], GOLD_TOP_K, mode, progress),
            strict=True,
        )
    ]
    return GoldRun(
        config=mode.value,
        metrics=gold_metrics(records),
        by_lang=_breakdown(records, lambda r: r.lang),
        by_type=_breakdown(records, lambda r: r.type),
        records=records,
        seconds=time.perf_counter() - started,
    )


def _ask_all(
    pipe: Any, questions: Sequence[str], top_k: int, mode: Mode, progress: bool
) -> Iterable[tuple[dict[str, Any], float]]:
    """(response, in-process milliseconds) for each question, with a progress bar on stderr."""
    from tqdm import tqdm

    pipe.ask(WARM_UP, top_k=top_k, mode=mode)
    # Redraw at most every 2 s: a log file of a long benchmark stays readable.
    bar = tqdm(
        questions, desc=f"eval {mode.value}", unit="q", disable=not progress, mininterval=2.0
    )
    for question in bar:
        t = time.perf_counter()
        answer = pipe.ask(question, top_k=top_k, mode=mode)
        ms = (time.perf_counter() - t) * 1000
        # Scored as the CONTRACT's object, what a client of /ask reads.
        yield answer.to_json(), ms


# -- SQuAD format --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str  # what is asked (from --questions when given)
    doc_id: str  # the gold paragraph
    golds: list[str]  # gold spans, always from the context file


@dataclass
class SquadCorpus:
    documents: list[dict[str, str]]  # {"doc_id", "title", "text"}: one per paragraph
    questions: list[SquadQuestion]
    sha256: str


@dataclass
class SquadRecord:
    id: str
    question: str
    doc_id: str
    golds: list[str]
    answer: str
    abstained: bool
    confidence: float
    rank: int | None  # first passage from the gold paragraph, 1-based
    em: bool
    f1: float
    contained: bool
    quotes: list[str]
    top_docs: list[str]
    latency_ms: float
    stages_ms: dict[str, float] = field(default_factory=dict)

    @property
    def failure(self) -> str | None:
        if self.contained:
            return None
        retrieval = "" if self.rank is not None else f" (gold paragraph not in top {SQUAD_TOP_K})"
        if self.abstained:
            return "abstained" + retrieval
        if len(M.strip_markers(self.answer)) > M.MAX_ANSWER_CHARS:
            return f"over {M.MAX_ANSWER_CHARS} characters"
        return "gold span not in the answer" + retrieval


@dataclass
class SquadMetrics:
    n: int
    r_at: dict[int, float | None]
    mrr: float | None
    em: float | None
    f1: float | None
    containment: float | None
    abstained: float | None
    latency_p50: float | None
    latency_p95: float | None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n}
        out.update({f"R@{k}": v for k, v in self.r_at.items()})
        out.update(
            MRR=self.mrr,
            EM=self.em,
            F1=self.f1,
            containment=self.containment,
            abstained=self.abstained,
            latency_ms={"p50": self.latency_p50, "p95": self.latency_p95},
        )
        return out


@dataclass
class SquadRun:
    config: str
    metrics: SquadMetrics
    records: list[SquadRecord]
    seconds: float

    def as_dict(self, with_records: bool = True) -> dict[str, Any]:
        out = self.metrics.as_dict()
        out["seconds"] = round(self.seconds, 2)
        if with_records:
            out["questions"] = [asdict(r) | {"failure": r.failure} for r in self.records]
        return out


_UNSAFE_ID = re.compile(r"[/\\\s]+")


def paragraph_id(title: str, n: int) -> str:
    """`Southern_California#3`: the article title (no slashes or spaces) and paragraph number."""
    return f"{_UNSAFE_ID.sub('_', title.strip()) or 'untitled'}#{n}"


def _read_squad(path: Path) -> tuple[list[dict[str, Any]], bytes]:
    try:
        raw = path.read_bytes()
        data = json.loads(raw.decode("utf-8"))["data"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise EvalError(f"{path} is not a SQuAD-format JSON file ({exc})") from None
    return data, raw


def load_squad(
    path: Path, questions: Path | None = None, limit: int | None = None, split: str | None = None
) -> SquadCorpus:
    """Paragraphs as documents and the questions in file order (the first `limit` of them);
    with `questions`, the question text comes from that parallel file, matched by `id`. A split
    asks only the questions of the first half of the articles ("dev", for tuning) or of the
    second half ("test", held out); every paragraph is indexed either way."""
    if split is not None and split not in SPLITS:
        raise EvalError(f"--split for a SQuAD file is one of {', '.join(SPLITS)}, not {split!r}")
    data, raw = _read_squad(path)
    asked: dict[str, str] | None = None
    if questions is not None:
        other, _ = _read_squad(questions)
        asked = {
            str(qa["id"]): str(qa["question"])
            for article in other
            for para in article["paragraphs"]
            for qa in para["qas"]
        }
    documents: list[dict[str, str]] = []
    items: list[SquadQuestion] = []
    seen: set[str] = set()
    for a, article in enumerate(data):
        title = str(article.get("title", "untitled"))
        asking = split is None or (a < len(data) // 2) == (split == "dev")
        for n, para in enumerate(article["paragraphs"]):
            doc_id = paragraph_id(title, n)
            while doc_id in seen:  # two articles with one title: keep the ids apart
                doc_id += "_"
            seen.add(doc_id)
            documents.append({"doc_id": doc_id, "title": f"{title} #{n}", "text": para["context"]})
            for qa in para["qas"]:
                qid = str(qa["id"])
                text = asked.get(qid) if asked is not None else str(qa["question"])
                if text is None or not asking:
                    continue
                golds = [str(g["text"]) for g in qa.get("answers", [])]
                items.append(SquadQuestion(qid, text, doc_id, golds))
    if not items:
        raise EvalError(
            f"no questions to ask: {questions} shares no question id with {path}"
            if questions is not None
            else f"{path} has no questions"
        )
    return SquadCorpus(
        documents, items[:limit] if limit is not None else items, hashlib.sha256(raw).hexdigest()
    )


def score_squad(item: SquadQuestion, response: dict[str, Any], ms: float) -> SquadRecord:
    answer = "" if response.get("abstained") else str(response.get("answer") or "")
    passages = list(response.get("passages") or [])
    docs = [str(p.get("doc_id", "")) for p in passages]
    return SquadRecord(
        id=item.id,
        question=item.question,
        doc_id=item.doc_id,
        golds=item.golds,
        answer=answer,
        abstained=bool(response.get("abstained")),
        confidence=float(response.get("confidence") or 0.0),
        rank=docs.index(item.doc_id) + 1 if item.doc_id in docs else None,
        em=bool(item.golds) and M.cmrc_em(item.golds, answer),
        f1=M.cmrc_f1(item.golds, answer) if item.golds else 0.0,
        contained=M.contains_span(item.golds, answer),
        quotes=[str(c.get("quote", "")) for c in response.get("citations") or []],
        top_docs=docs,
        latency_ms=ms,
        stages_ms=_stages(response),
    )


def squad_metrics(records: Sequence[SquadRecord]) -> SquadMetrics:
    ranks = [r.rank for r in records]
    latencies = [r.latency_ms for r in records]
    return SquadMetrics(
        n=len(records),
        r_at={k: M.hit_at(ranks, k) for k in SQUAD_K},
        mrr=M.mean_reciprocal_rank(ranks),
        em=M.share([r.em for r in records]),
        f1=sum(r.f1 for r in records) / len(records) if records else None,
        containment=M.share([r.contained for r in records]),
        abstained=M.share([r.abstained for r in records]),
        latency_p50=M.percentile(latencies, 50),
        latency_p95=M.percentile(latencies, 95),
    )


def evaluate_squad(
    pipe: Any, questions: Sequence[SquadQuestion], mode: Mode | None = None, progress: bool = False
) -> SquadRun:
    """Ask every question through `pipe.ask` (top_k 20) and score it against the gold spans."""
    mode = mode or pipe.retrieve_settings.mode
    started = time.perf_counter()
    asked = _ask_all(pipe, [q.question for q in questions], SQUAD_TOP_K, mode, progress)
    records = [score_squad(q, resp, ms) for q, (resp, ms) in zip(questions, asked, strict=True)]
    return SquadRun(mode.value, squad_metrics(records), records, time.perf_counter() - started)


def squad_index_dir(corpus: SquadCorpus, settings: Settings) -> Path:
    """A stable cache folder per (file content, embedder, chunking), so a rerun skips embedding."""
    root = Path(os.environ.get("RAG_CACHE_DIR") or Path.home() / ".cache" / "rag")
    flavour = re.sub(r"[^A-Za-z0-9._-]+", "_", settings.embedder)
    flavour += f"-c{settings.chunk.size}-{settings.chunk.overlap}"
    return root / "squad" / corpus.sha256[:16] / flavour


def open_squad_pipeline(
    corpus: SquadCorpus, settings: Settings, index_dir: Path | None = None
) -> Any:
    """A pipeline over an index of the corpus's paragraphs, built (or found up to date) there."""
    from rag.pipeline import Pipeline
    from rag.store import current_generation

    index_dir = index_dir or squad_index_dir(corpus, settings)
    index_dir.mkdir(parents=True, exist_ok=True)
    source = index_dir.parent / "paragraphs.jsonl"
    lines = [json.dumps(d, ensure_ascii=False) for d in corpus.documents]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cached = current_generation(index_dir) is not None
    print(
        f"{'checking cached' if cached else 'building'} index of {len(corpus.documents)} "
        f"paragraphs at {index_dir}",
        file=sys.stderr,
    )
    pipe = Pipeline(replace(settings, index_dir=index_dir, cache_size=0))
    report, _ = pipe.build([source], progress=not cached)
    print(
        f"index {'rebuilt' if report.changed else 'up to date'}: {report.documents} documents, "
        f"{report.chunks} chunks ({report.seconds:.1f}s)",
        file=sys.stderr,
    )
    return pipe


# -- the command ---------------------------------------------------------------------------------
@dataclass
class RunInfo:
    """What was run, where and when: the head of every report."""

    kind: str  # "gold" or "squad"
    title: str
    command: str
    source: str
    index: str
    embedder: str
    configs: list[str]
    abstain_below: float | None
    started: str
    machine: str
    commit: str
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # RAG_* and thread settings in force


def gold_pipeline(settings: Settings) -> Any:
    from rag.pipeline import Pipeline

    # No answer cache: a repeated question would otherwise be timed as a cache hit.
    settings = replace(settings, cache_size=0)
    pipe = Pipeline(settings)
    if not pipe.ready:
        print(
            f"no index at {settings.index_dir}: building it from {settings.seeds_dir}/ "
            "(as `rag build` would)",
            file=sys.stderr,
        )
        report, ingested = pipe.build([settings.seeds_dir], progress=True)
        if not ingested.documents:
            raise EvalError(f"no documents in {settings.seeds_dir}; nothing to evaluate against")
        print(f"index built: {report.documents} documents, {report.chunks} chunks", file=sys.stderr)
    return pipe

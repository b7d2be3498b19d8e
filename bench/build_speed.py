"""Build speed: a fresh `rag build`, an unchanged rebuild, and a rebuild after one document changed.

    .venv/bin/python bench/build_speed.py [--fresh-runs 1] [--runs 3] [--xquad-paragraphs 120]

Two corpora, each copied into a temporary folder so one of its documents can be edited:
  * seeds: the articles in seeds/;
  * XQuAD zh: the first `--xquad-paragraphs` paragraphs of xquad.zh.json (the whole file has
    240), one document a paragraph, written as one .jsonl file.

Every build is `Pipeline.build(sources)`, which is what `rag build` runs (read and clean the
sources, chunk, embed, write a new generation, swap it in), timed with time.perf_counter in this
one process. One embedder is loaded once and shared, so model loading is not part of any build.
  * fresh: an empty index folder, so the embedding cache is empty and every text is embedded;
    speed = (chunks + sentences) / seconds, the texts the build embeds and stores.
  * unchanged: the same sources again (nothing is written; target <= 1 s).
  * one document changed: a sentence appended to one document (different each run), so its
    chunks and sentences are cut and stored again; the cache skips texts it has seen, so only
    the changed texts are embedded.
The first-use costs of a process (the embedding engine's start-up, jieba's dictionary load) are
paid before the timed builds and reported apart. Medians of `--runs` runs for the cheap cases;
fresh builds embed every text (~10 texts a second on a busy 2-core machine), so `--fresh-runs`
defaults to 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from rag.config import Settings  # noqa: E402
from rag.embed import Embedder, get_embedder  # noqa: E402
from rag.indexing import BuildReport  # noqa: E402
from rag.lexical import tokenize  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.report import cpu_model  # noqa: E402

XQUAD = Path("/work/shared/benchmarks/xquad/xquad.zh.json")


@dataclass
class Corpus:
    name: str
    sources: list[Path]
    edit: Path  # the file whose document is changed
    jsonl: bool


@dataclass
class Timed:
    seconds: float
    report: BuildReport


def machine() -> str:
    cpu = cpu_model()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return f"{os.cpu_count()} cores, {cpu}, load average {load}"


def seeds_corpus(tmp: Path) -> Corpus:
    src = tmp / "seeds"
    shutil.copytree(ROOT / "seeds", src)
    files = sorted(src.iterdir())
    return Corpus("seeds", [src], files[-1], jsonl=False)


def xquad_corpus(tmp: Path, n_paragraphs: int) -> Corpus:
    data = json.loads(XQUAD.read_text("utf-8"))["data"]
    lines: list[str] = []
    for a, article in enumerate(data):
        for p, para in enumerate(article["paragraphs"]):
            if len(lines) < n_paragraphs:
                doc = {"doc_id": f"xquad-zh-{a:02d}-{p:02d}", "title": article.get("title", "")}
                lines.append(json.dumps({**doc, "text": para["context"]}, ensure_ascii=False))
    src = tmp / "xquad"
    src.mkdir()
    path = src / "xquad_zh.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return Corpus(f"XQuAD zh ({len(lines)} paragraphs)", [path], path, jsonl=True)


def change_one(corpus: Corpus, run: int) -> None:
    """Append a new sentence to one document (the last seed file, or the first .jsonl line)."""
    added = f"基准测试第{run}次修改：这一句是为测量增量重建而追加的。"
    if corpus.jsonl:
        lines = corpus.edit.read_text("utf-8").splitlines()
        first = json.loads(lines[0])
        first["text"] += added
        lines[0] = json.dumps(first, ensure_ascii=False)
        corpus.edit.write_text("\n".join(lines) + "\n", "utf-8")
    else:
        corpus.edit.write_text(corpus.edit.read_text("utf-8") + "\n\n" + added + "\n", "utf-8")


def timed_build(pipe: Pipeline, sources: list[Path]) -> Timed:
    t = time.perf_counter()
    report, _ = pipe.build(sources)
    return Timed(time.perf_counter() - t, report)


def measure(
    corpus: Corpus, embedder: Embedder, tmp: Path, fresh_runs: int, runs: int
) -> dict[str, list[Timed]]:
    out: dict[str, list[Timed]] = {"fresh": [], "unchanged": [], "changed": []}
    pipe: Pipeline | None = None
    for _ in range(fresh_runs):
        index_dir = Path(tempfile.mkdtemp(prefix="index-", dir=tmp))  # empty: no cache
        pipe = Pipeline(Settings(index_dir=index_dir, cache_size=0), embedder=embedder)
        out["fresh"].append(timed_build(pipe, corpus.sources))
        print(f"  {corpus.name}: fresh build {out['fresh'][-1].seconds:.1f} s", file=sys.stderr)
    assert pipe is not None
    for _ in range(runs):
        out["unchanged"].append(timed_build(pipe, corpus.sources))
        assert not out["unchanged"][-1].report.changed, "an unchanged rebuild wrote a generation"
    for r in range(runs):
        change_one(corpus, r + 1)
        out["changed"].append(timed_build(pipe, corpus.sources))
        assert out["changed"][-1].report.added == 1, "the edit did not change one document"
    return out


def median(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--fresh-runs", type=int, default=1, help="fresh builds per corpus")
    ap.add_argument("--runs", type=int, default=3, help="unchanged / one-changed rebuilds")
    ap.add_argument("--xquad-paragraphs", type=int, default=120, help="cap (the file has 240)")
    ap.add_argument("--skip-xquad", action="store_true")
    args = ap.parse_args(argv)

    embedder = get_embedder(Settings().embedder)
    embedder.embed_passages(["warm-up"])  # the first engine call pays a one-off start-up cost
    t = time.perf_counter()
    tokenize("预热")  # jieba loads its dictionary on first use: once a process, not per build
    jieba_s = time.perf_counter() - t
    results: list[tuple[Corpus, dict[str, list[Timed]]]] = []
    with tempfile.TemporaryDirectory(prefix="rag-build-speed-") as name:
        tmp = Path(name)
        corpora = [seeds_corpus(tmp)]
        if not args.skip_xquad:
            corpora.append(xquad_corpus(tmp, args.xquad_paragraphs))
        for corpus in corpora:
            results.append((corpus, measure(corpus, embedder, tmp, args.fresh_runs, args.runs)))

    print(f"# Build speed ({datetime.now(UTC).isoformat(timespec='seconds')})\n")
    print(
        f"Machine: {machine()}; embedder {embedder.name}; "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}; jieba dictionary "
        f"load {jieba_s:.1f} s (one-off per process, done before the timed builds)\n"
    )
    print(
        "| corpus | docs | chunks | sentences | fresh build s | (chunks+sentences)/s "
        "| embedded texts | unchanged rebuild s (median) | one doc changed s (median) "
        "| texts embedded on change |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for corpus, res in results:
        fresh = res["fresh"]
        rep = fresh[-1].report
        fresh_s = median([t.seconds for t in fresh])
        rate = (rep.chunks + rep.sentences) / fresh_s
        unchanged = median([t.seconds for t in res["unchanged"]])
        changed = median([t.seconds for t in res["changed"]])
        emb_changed = median([float(t.report.embedded) for t in res["changed"]])
        print(
            f"| {corpus.name} | {rep.documents} | {rep.chunks} | {rep.sentences} | {fresh_s:.1f} "
            f"| {rate:.1f} | {rep.embedded} | {unchanged:.3f} | {changed:.3f} | {emb_changed:.0f} |"
        )
    print("\nAll runs (seconds):\n")
    for corpus, res in results:
        for kind, timed in res.items():
            print(f"- {corpus.name} {kind}: " + ", ".join(f"{t.seconds:.3f}" for t in timed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

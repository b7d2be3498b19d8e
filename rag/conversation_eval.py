"""Conversation eval: multi-turn gold conversations, scored per turn with the gold-set metrics.

Entry point: `evaluate_conversations(pipe, conversations) -> ConversationRun`; `rag eval
--conversations eval/gold/conversations.jsonl [--split dev|test]` prints its table.

    >>> convs = load_conversations(Path("eval/gold/conversations.jsonl"), split="dev")
    >>> run = evaluate_conversations(pipe, convs)
    >>> run.conditions["context"].follow_ups.answer_accuracy

A line of the file is one conversation: `{"id", "lang", "split", "turns": [{"question",
"answers", "docs", "rewrite"?}, ...]}`, each turn scored like a gold item (CONTRACT "Gold Q&A
set"). `rewrite` is the follow-up written out in full by the person who wrote the set. Every turn
is asked three ways:

- `alone`: the question by itself, as the service did before it read conversations;
- `context`: with `history`, the earlier questions and the service's own answers to them, as
  the widget sends them (so an early wrong answer can mislead a later turn, as it would a user);
- `rewrite`: the hand-written full question, an upper bound for any reading of the follow-up.

The first turn of a conversation stands alone in all three, so the follow-ups are where the
conditions differ; both are reported.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.conversation import Turn
from rag.evaluate import (
    GOLD_TOP_K,
    SPLITS,
    EvalError,
    GoldItem,
    GoldMetrics,
    GoldRecord,
    gold_metrics,
    score_gold,
)
from rag.retrieve import Mode

CONDITIONS = ("alone", "context", "rewrite")


@dataclass(frozen=True)
class ConversationTurn:
    question: str
    answers: list[list[str]]
    docs: list[str]
    rewrite: str = ""


@dataclass(frozen=True)
class Conversation:
    id: str
    lang: str
    split: str
    turns: list[ConversationTurn]


@dataclass
class TurnRecord:
    conversation: str
    turn: int  # 0-based
    condition: str
    asked: str
    resolved: str
    record: GoldRecord


@dataclass
class ConditionMetrics:
    all_turns: GoldMetrics
    follow_ups: GoldMetrics
    by_lang: dict[str, GoldMetrics] = field(default_factory=dict)  # follow-ups only


@dataclass
class ConversationRun:
    conditions: dict[str, ConditionMetrics]
    records: list[TurnRecord]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "conditions": {
                name: {
                    "all_turns": m.all_turns.as_dict(),
                    "follow_ups": m.follow_ups.as_dict(),
                    "follow_ups_by_lang": {k: v.as_dict() for k, v in m.by_lang.items()},
                }
                for name, m in self.conditions.items()
            },
            "turns": [
                {
                    "conversation": r.conversation,
                    "turn": r.turn,
                    "condition": r.condition,
                    "asked": r.asked,
                    "resolved": r.resolved,
                    "answer": r.record.answer,
                    "expected": r.record.expected,
                    "correct": r.record.correct,
                    "rank": r.record.rank,
                }
                for r in self.records
            ],
            "seconds": round(self.seconds, 2),
        }


def load_conversations(path: Path, split: str | None = None) -> list[Conversation]:
    if split is not None and split not in SPLITS:
        raise EvalError(f"unknown split {split!r}; use one of {list(SPLITS)}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"cannot read conversation file {path}: {exc}") from None
    out: list[Conversation] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            turns = [
                ConversationTurn(
                    question=str(t["question"]),
                    answers=[[str(a) for a in group] for group in t["answers"]],
                    docs=[str(d) for d in t["docs"]],
                    rewrite=str(t.get("rewrite") or ""),
                )
                for t in obj["turns"]
            ]
            conv = Conversation(str(obj["id"]), str(obj.get("lang", "")), str(obj["split"]), turns)
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(
                f"{path} line {number}: not a conversation ({type(exc).__name__}: {exc}); see "
                "rag/conversation_eval.py for the format"
            ) from None
        if not 2 <= len(conv.turns) <= 4:
            raise EvalError(f"{path} line {number}: a conversation has 2 to 4 turns")
        if split is None or conv.split == split:
            out.append(conv)
    return out


def _metrics(records: Sequence[TurnRecord]) -> ConditionMetrics:
    follow = [r for r in records if r.turn > 0]
    langs = sorted({r.record.lang for r in follow})
    return ConditionMetrics(
        all_turns=gold_metrics([r.record for r in records]),
        follow_ups=gold_metrics([r.record for r in follow]),
        by_lang={
            lang: gold_metrics([r.record for r in follow if r.record.lang == lang])
            for lang in langs
        },
    )


def evaluate_conversations(
    pipe: Any, conversations: Sequence[Conversation], mode: Mode | None = None
) -> ConversationRun:
    """Ask every turn of every conversation in the three conditions and score each."""
    mode = mode or pipe.retrieve_settings.mode
    texts = {d: doc.text for d, doc in pipe.index.documents.items()}
    started = time.perf_counter()
    records: list[TurnRecord] = []
    for conv in conversations:
        history: list[Turn] = []
        for k, turn in enumerate(conv.turns):
            item = GoldItem(
                id=f"{conv.id}#{k + 1}",
                question=turn.question,
                answers=turn.answers,
                docs=turn.docs,
                lang=conv.lang,
                type="first" if k == 0 else "follow-up",
                split=conv.split,
            )
            asks = {
                "alone": (turn.question, None),
                "context": (turn.question, list(history)),
                "rewrite": (turn.rewrite or turn.question, None),
            }
            for condition, (question, context) in asks.items():
                t = time.perf_counter()
                answer = pipe.ask(question, top_k=GOLD_TOP_K, mode=mode, history=context)
                ms = (time.perf_counter() - t) * 1000
                record = score_gold(item, answer.to_json(), texts, ms)
                resolved = answer.resolved_question
                records.append(TurnRecord(conv.id, k, condition, question, resolved, record))
                if condition == "context":
                    history.append(Turn(turn.question, answer.answer))
    conditions = {c: _metrics([r for r in records if r.condition == c]) for c in CONDITIONS}
    return ConversationRun(conditions, records, time.perf_counter() - started)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render_table(run: ConversationRun, title: str) -> str:
    """Markdown: turn-level accuracy and hit@5 per condition, all turns and follow-ups."""
    lines = [
        f"## {title}",
        "",
        "| condition | turns | accuracy (all) | hit@5 (all) | follow-ups | accuracy (follow-ups) "
        "| hit@5 (follow-ups) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in run.conditions.items():
        a, f = m.all_turns, m.follow_ups
        lines.append(
            f"| {name} | {a.n} | {_fmt(a.answer_accuracy)} | {_fmt(a.hit_at.get(5))} | {f.n} "
            f"| {_fmt(f.answer_accuracy)} | {_fmt(f.hit_at.get(5))} |"
        )
    lines += [
        "",
        "Follow-ups by language (accuracy): "
        + "; ".join(
            f"{name} "
            + ", ".join(
                f"{lang} {_fmt(g.answer_accuracy)} ({g.n})" for lang, g in m.by_lang.items()
            )
            for name, m in run.conditions.items()
        ),
    ]
    return "\n".join(lines)


def render_failures(run: ConversationRun, limit: int = 20) -> str:
    """Follow-ups answered wrongly with context: how each was read, and what it got."""
    out = ["Follow-ups wrong with context:"]
    wrong = [
        r for r in run.records if r.condition == "context" and r.turn > 0 and not r.record.correct
    ]
    for r in wrong[:limit]:
        out.append(
            f"  {r.conversation}#{r.turn + 1}: {r.asked!r} read as {r.resolved!r} -> "
            f"{r.record.answer!r} (expected {r.record.expected})"
        )
    if len(wrong) > limit:
        out.append(f"  ... and {len(wrong) - limit} more")
    return "\n".join(out)


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    """`rag eval --conversations FILE [--split S] [--json OUT] [--report DIR]`."""
    from rag.eval_cli import parse_modes
    from rag.evaluate import gold_pipeline

    try:
        conversations = load_conversations(Path(args.conversations), args.split)
        if not conversations:
            raise EvalError(f"no conversations in {args.conversations} for split {args.split}")
        pipe = gold_pipeline(settings)
        mode = parse_modes(args, pipe.retrieve_settings.mode)[0]
    except EvalError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 1
    run = evaluate_conversations(pipe, conversations, mode)
    split = f", {args.split} split" if args.split else ""
    n_turns = sum(len(c.turns) for c in conversations)
    title = (
        f"Conversations: {Path(args.conversations).name}{split} ({len(conversations)} "
        f"conversations, {n_turns} turns; {mode.value})"
    )
    table = render_table(run, title)
    print(table)
    print(render_failures(run))
    payload = run.as_dict() | {"title": title, "command": shlex.join(["rag", *sys.argv[1:]])}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.report:
        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        body = (
            f"{table}\n\n```\n{render_failures(run, 100)}\n```\n\nCommand: `{payload['command']}`\n"
        )
        (out / "report.md").write_text(body, encoding="utf-8")
        print(f"wrote {out / 'report.md'}", file=sys.stderr)
    return 0


__all__ = [
    "run_cli",
    "Conversation",
    "ConversationRun",
    "ConversationTurn",
    "evaluate_conversations",
    "load_conversations",
    "render_failures",
    "render_table",
]

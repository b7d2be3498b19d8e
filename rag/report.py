"""Report: the eval runs as text tables for the terminal and as a Markdown report with plots.

Entry point: `write_report(folder, info, runs) -> Path` (report.md, the PNG plots and failures.md);
`render_text(info, runs)` and `render_failures_text(run, n)` are what `rag eval` prints.

    >>> info, runs = ...                      # from rag.evaluate
    >>> print(render_text(info, runs))
    >>> write_report(Path("eval/reports/seeds-dev"), info, runs)

Plots use matplotlib's Agg backend (no display needed); it is imported only when a report is
written, so the metrics and the terminal output do not pay for it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.evaluate import GoldMetrics, GoldRecord, GoldRun, RunInfo, SquadRecord
from rag.metrics import percentile

REPO = Path(__file__).resolve().parent.parent


# -- run context -----------------------------------------------------------------------------------
def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (what platform offers elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_summary() -> str:
    """CPU model and cores, OS and Python: enough to tell whether latencies are comparable."""
    return (
        f"{cpu_model()}, {os.cpu_count()} cores; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def git_commit() -> str:
    """The code that ran (`git describe --always --dirty`), or '?' outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip() or "?"


# -- tables ----------------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    """A plain aligned table, or a Markdown one; the first column left-aligned, numbers right."""
    if markdown:
        lines = ["| " + " | ".join(header) + " |"]
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


# A row of the metrics table: its label and how to read it from a run's metrics dict.
_GOLD_ROWS: list[tuple[str, Callable[[dict[str, Any]], Any], int]] = [
    ("questions (answerable/unanswerable)", lambda m: f"{m['answerable']}/{m['unanswerable']}", 0),
    ("hit@1", lambda m: m["hit@1"], 3),
    ("hit@3", lambda m: m["hit@3"], 3),
    ("hit@5", lambda m: m["hit@5"], 3),
    ("hit@10", lambda m: m["hit@10"], 3),
    ("mrr", lambda m: m["mrr"], 3),
    ("answer_accuracy", lambda m: m["answer_accuracy"], 3),
    ("citation_validity", lambda m: m["citation_validity"], 3),
    ("citation_support", lambda m: m["citation_support"], 3),
    ("abstention_recall", lambda m: m["abstention_recall"], 3),
    ("false_abstention", lambda m: m["false_abstention"], 3),
    ("latency_ms p50", lambda m: m["latency_ms"]["p50"], 1),
    ("latency_ms p95", lambda m: m["latency_ms"]["p95"], 1),
    ("run time (s)", lambda m: m["seconds"], 1),
]
_SQUAD_ROWS: list[tuple[str, Callable[[dict[str, Any]], Any], int]] = [
    ("questions", lambda m: m["n"], 0),
    ("R@1", lambda m: m["R@1"], 3),
    ("R@3", lambda m: m["R@3"], 3),
    ("R@5", lambda m: m["R@5"], 3),
    ("R@10", lambda m: m["R@10"], 3),
    ("R@20", lambda m: m["R@20"], 3),
    ("MRR", lambda m: m["MRR"], 3),
    ("EM", lambda m: m["EM"], 3),
    ("F1", lambda m: m["F1"], 3),
    ("containment", lambda m: m["containment"], 3),
    ("abstained", lambda m: m["abstained"], 3),
    ("latency_ms p50", lambda m: m["latency_ms"]["p50"], 1),
    ("latency_ms p95", lambda m: m["latency_ms"]["p95"], 1),
    ("run time (s)", lambda m: m["seconds"], 1),
]


def metrics_table(runs: Sequence[Any], markdown: bool = False) -> str:
    """Metrics as rows, one column per configuration."""
    summaries = [r.as_dict(with_records=False) for r in runs]
    spec = _GOLD_ROWS if "by_type" in summaries[0] else _SQUAD_ROWS
    rows = [[label, *(fmt(get(s), d) for s in summaries)] for label, get, d in spec]
    return table(["metric", *(r.config for r in runs)], rows, markdown)


def _group_value(m: GoldMetrics, metric: str) -> Any:
    if metric == "answer_accuracy" and m.answerable == 0:
        return m.abstention_recall  # unanswerable questions: being right means abstaining
    return m.hit_at[5] if metric == "hit@5" else getattr(m, metric)


def group_table(runs: Sequence[GoldRun], by: str, metric: str, markdown: bool = False) -> str:
    """One metric by language or type (rows) and configuration (columns)."""
    groups = sorted({g for r in runs for g in getattr(r, by)})
    rows = []
    for g in groups:
        parts = [getattr(r, by).get(g) for r in runs]
        n = next((p.n for p in parts if p is not None), 0)
        label = g + (
            " (abstention recall)"
            if metric == "answer_accuracy" and all(p is None or p.answerable == 0 for p in parts)
            else ""
        )
        rows.append([label, str(n), *(fmt(_group_value(p, metric)) if p else "-" for p in parts)])
    return table(
        [f"{metric} by {by.removeprefix('by_')}", "n", *(r.config for r in runs)], rows, markdown
    )


def breakdown_table(run: GoldRun, by: str, markdown: bool = False) -> str:
    """Every main metric by language or type for one configuration."""
    cols = [
        "hit@1",
        "hit@5",
        "mrr",
        "answer_accuracy",
        "citation_support",
        "abstention_recall",
        "false_abstention",
    ]
    rows = []
    for g, m in getattr(run, by).items():
        d = m.as_dict()
        rows.append([g, str(m.n), *(fmt(d[c]) for c in cols), fmt(m.latency_p50, 1)])
    return table([by.removeprefix("by_"), "n", *cols, "p50 ms"], rows, markdown)


def failure_kinds_table(runs: Sequence[Any], markdown: bool = False) -> str:
    """How many questions failed for each reason, per configuration."""
    counts = [Counter(r.failure for r in run.records if r.failure) for run in runs]
    kinds = sorted({k for c in counts for k in c}, key=lambda k: -sum(c[k] for c in counts))
    rows = [[k, *(str(c[k]) for c in counts)] for k in kinds]
    rows.append(["total failed", *(str(sum(c.values())) for c in counts)])
    return table(["failure", *(r.config for r in runs)], rows, markdown)


def stages_table(runs: Sequence[Any], markdown: bool = False) -> str:
    """Median milliseconds of each pipeline stage (from the responses' timings_ms)."""
    stages = list(dict.fromkeys(k for run in runs for r in run.records for k in r.stages_ms))
    rows = []
    for stage in stages:
        cells = []
        for run in runs:
            values = [r.stages_ms[stage] for r in run.records if stage in r.stages_ms]
            cells.append(fmt(percentile(values, 50), 1))
        rows.append([stage, *cells])
    return table(["median ms by stage", *(r.config for r in runs)], rows, markdown)


def render_text(info: RunInfo, runs: Sequence[Any]) -> str:
    """The terminal summary: the metrics table, the breakdowns and the failure reasons."""
    parts = [
        f"{info.title}",
        f"{info.command}  [{info.embedder}; {info.started}; {info.seconds:.0f}s]",
        *([" ".join(f"{k}={v}" for k, v in info.env.items())] if info.env else []),
        *info.notes,
        "",
        metrics_table(runs),
    ]
    if info.kind == "gold":
        for by in ("by_lang", "by_type"):
            for metric in ("hit@5", "answer_accuracy"):
                parts += ["", group_table(runs, by, metric)]
    parts += ["", stages_table(runs), "", failure_kinds_table(runs)]
    return "\n".join(parts)


def _short(text: str, width: int) -> str:
    return textwrap.shorten(" ".join(text.split()), width, placeholder="…") if text else '""'


def _failure_lines(r: GoldRecord | SquadRecord, width: int) -> list[str]:
    if isinstance(r, GoldRecord):
        head = f"{r.id} [{r.lang}/{r.type}] {r.question}"
        expected = " ; ".join("|".join(g) for g in r.expected) or "(unanswerable: abstain)"
        where = f"relevant passage rank {r.rank}" if r.expected else ""
    else:
        head = f"{r.id} {r.question}"
        expected = " | ".join(dict.fromkeys(r.golds)) + f"  (in {r.doc_id})"
        where = f"gold paragraph rank {r.rank}; F1 {r.f1:.2f}"
    got = "(abstained)" if r.abstained else _short(r.answer, width)
    lines = [
        f"- {head}",
        f"    why:      {r.failure}",
        f"    expected: {expected}",
        f"    got:      {got}  [confidence {r.confidence:.2f}{'; ' + where if where else ''}]",
    ]
    lines += [f"    quote:    {_short(q, width)}" for q in r.quotes]
    lines.append(f"    top docs: {', '.join(r.top_docs[:5])}")
    return lines


def render_failures_text(run: Any, limit: int, report_dir: str | None = None) -> str:
    failed = [r for r in run.records if r.failure]
    where = f"{report_dir}/failures.md" if report_dir else "--report DIR for the full log"
    out = [
        f"\nFailures of {run.config}: {len(failed)} of {len(run.records)} "
        f"(first {min(limit, len(failed))} here; {where})"
    ]
    for r in failed[:limit]:
        out += _failure_lines(r, 160)
    return "\n".join(out)


# -- plots -----------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_hits(runs: Sequence[Any], path: Path) -> None:
    """hit@k (gold) or R@k (SQuAD) against k, one line per configuration."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for run in runs:
        curve = run.metrics.hit_at if hasattr(run.metrics, "hit_at") else run.metrics.r_at
        ks = sorted(k for k, v in curve.items() if v is not None)
        ax.plot(ks, [curve[k] for k in ks], marker="o", label=run.config)
    gold = hasattr(runs[0].metrics, "hit_at")
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("k (passages)")
    ax.set_ylabel("hit@k" if gold else "R@k")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title("A relevant passage in the first k" if gold else "Gold paragraph in the first k")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_groups(runs: Sequence[GoldRun], path: Path) -> None:
    """Answer accuracy by type and by language, bars per configuration; for unanswerable
    questions the bar is the abstention recall (hatched), since abstaining is the right answer."""
    plt = _pyplot()
    fig, axes = plt.subplots(
        1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [4, 1]}, sharey=True
    )
    width = 0.8 / len(runs)
    for ax, by in zip(axes, ("by_type", "by_lang"), strict=True):
        groups = sorted({g for r in runs for g in getattr(r, by)})
        for i, run in enumerate(runs):
            for j, g in enumerate(groups):
                m = getattr(run, by).get(g)
                value = _group_value(m, "answer_accuracy") if m else None
                ax.bar(
                    j + (i - (len(runs) - 1) / 2) * width,
                    value or 0.0,
                    width,
                    color=f"C{i}",
                    hatch="//" if m is not None and m.answerable == 0 else None,
                    label=run.config if j == 0 else None,
                )
        labels = [
            f"{g}\n(n={next(getattr(r, by)[g].n for r in runs if g in getattr(r, by))})"
            for g in groups
        ]
        ax.set_xticks(
            range(len(groups)),
            labels,
            rotation=45 if by == "by_type" else 0,
            ha="right" if by == "by_type" else "center",
            fontsize=8,
        )
        ax.set_title("by question type" if by == "by_type" else "by question language")
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("answer accuracy (hatched: abstention recall)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _confidence_groups(run: Any) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = {}
    for r in run.records:
        answerable = bool(r.expected) if hasattr(r, "expected") else True
        right = r.correct if hasattr(r, "expected") else r.contained
        if not answerable:
            key = "unanswerable"
        elif r.abstained:
            key = "abstained (answerable)"
        else:
            key = "answered, correct" if right else "answered, wrong"
        groups.setdefault(key, []).append(r.confidence)
    return groups


def plot_confidence(runs: Sequence[Any], threshold: float | None, path: Path) -> None:
    """Confidence histograms of the four kinds of outcome, the abstention threshold marked."""
    plt = _pyplot()
    order = ["answered, correct", "answered, wrong", "abstained (answerable)", "unanswerable"]
    colors = dict(zip(order, ["tab:green", "tab:red", "tab:orange", "tab:gray"], strict=True))
    fig, axes = plt.subplots(len(runs), 1, figsize=(7, 2.6 * len(runs) + 0.6), squeeze=False)
    bins = [i / 20 for i in range(21)]
    for ax, run in zip(axes[:, 0], runs, strict=True):
        groups = _confidence_groups(run)
        keys = [k for k in order if k in groups]
        ax.hist(
            [groups[k] for k in keys],
            bins=bins,
            stacked=True,
            label=[f"{k} ({len(groups[k])})" for k in keys],
            color=[colors[k] for k in keys],
        )
        if threshold is not None:
            ax.axvline(threshold, color="black", linestyle="--", label=f"abstain below {threshold}")
        ax.set_title(f"confidence: {run.config}", fontsize=10)
        ax.set_ylabel("questions")
        ax.legend(fontsize=7)
    axes[-1, 0].set_xlabel("confidence")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the report ------------------------------------------------------------------------------------
MAX_LOGGED_FAILURES = 300  # per configuration: enough to see the patterns, small enough to commit


def render_failures_markdown(runs: Sequence[Any]) -> str:
    out = ["# Failures", "", "The questions a configuration got wrong, with what it returned.", ""]
    out += [failure_kinds_table(runs, markdown=True), ""]
    for run in runs:
        failed = [r for r in run.records if r.failure]
        shown = min(len(failed), MAX_LOGGED_FAILURES)
        more = f" (the first {shown} here; `--json` keeps all)" if shown < len(failed) else ""
        out += [f"## {run.config}: {len(failed)} of {len(run.records)}{more}", "", "```text"]
        for r in failed[:shown]:
            out += _failure_lines(r, 400)
        out += ["```", ""]
    return "\n".join(out)


def write_report(folder: Path, info: RunInfo, runs: Sequence[Any]) -> Path:
    """Write folder/report.md with its plots, failures.md and metrics.json; returns report.md."""
    folder.mkdir(parents=True, exist_ok=True)
    gold = info.kind == "gold"
    plot_hits(runs, folder / "hit_at_k.png")
    plot_confidence(runs, info.abstain_below, folder / "confidence.png")
    if gold:
        plot_groups(runs, folder / "accuracy_by_group.png")
    (folder / "failures.md").write_text(render_failures_markdown(runs), encoding="utf-8")
    summary = {r.config: r.as_dict(with_records=False) for r in runs} | {"run": asdict(info)}
    (folder / "metrics.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    md = [
        f"# {info.title}",
        "",
        f"- **Command:** `{info.command}`",
        f"- **Date:** {info.started}; the run took {info.seconds:.0f} s",
        f"- **Machine:** {info.machine}",
        f"- **Code:** commit `{info.commit}`; embedder `{info.embedder}`; index `{info.index}`",
        f"- **Configurations** (retrieval modes): {', '.join(info.configs)}; "
        f"abstention threshold {info.abstain_below}",
        f"- **Environment:** {', '.join(f'`{k}={v}`' for k, v in info.env.items()) or 'defaults'}",
        *(f"- {note}" for note in info.notes),
        "",
        'Metrics are defined in CONTRACT.md ("Metrics"). Latencies are in-process `Pipeline.ask`'
        " times on this machine and are noisy when other work shares it.",
        "",
        "## Metrics",
        "",
        metrics_table(runs, markdown=True),
        "",
        "![hit@k](hit_at_k.png)" if gold else "![R@k](hit_at_k.png)",
        "",
        stages_table(runs, markdown=True),
        "",
    ]
    if gold:
        md += ["## By language and question type", ""]
        for by in ("by_lang", "by_type"):
            for metric in ("hit@5", "answer_accuracy"):
                md += [group_table(runs, by, metric, markdown=True), ""]
        md += ["![accuracy by type and language](accuracy_by_group.png)", ""]
        for run in runs:
            md += [f"### All metrics by group: {run.config}", ""]
            md += [breakdown_table(run, "by_lang", True), "", breakdown_table(run, "by_type", True)]
            md += [""]
    md += [
        "## Confidence",
        "",
        "How sure the answerer was, split by outcome; the dashed line is the abstention threshold.",
        "",
        "![confidence](confidence.png)",
        "",
        "## Failures",
        "",
        failure_kinds_table(runs, markdown=True),
        "",
        "Every failed question, with its answer and quotes: [failures.md](failures.md).",
        "",
    ]
    out = folder / "report.md"
    out.write_text("\n".join(md), encoding="utf-8")
    return out

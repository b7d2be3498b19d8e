"""Compare two `rag eval --json` outputs question by question, ignoring what may differ between
runs of the same code (timings, the run header). Exit 0 when identical, 1 with every difference.

    python eval/compare_runs.py before.json after.json

Made for refactors that must not change behaviour (issue 14): the same index and questions must
give the same answers, citations, confidences, ranks and retrieved documents.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

VOLATILE = {"latency_ms", "stages_ms", "seconds", "timings_ms", "latency"}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for config in sorted((set(before) | set(after)) - {"run"}):
        a, b = before.get(config), after.get(config)
        if a is None or b is None:
            out.append(f"{config}: only in {'after' if a is None else 'before'}")
            continue
        qa = {q["id"]: q for q in a.get("questions", [])}
        qb = {q["id"]: q for q in b.get("questions", [])}
        for qid in sorted(set(qa) | set(qb)):
            x, y = _strip(qa.get(qid)), _strip(qb.get(qid))
            if x != y:
                x, y = x or {}, y or {}
                keys = sorted(k for k in x.keys() | y.keys() if x.get(k) != y.get(k))
                changed = "; ".join(f"{k}: {x.get(k)!r} -> {y.get(k)!r}" for k in keys)
                out.append(f"{config} {qid}: {changed}")
        ma = _strip({k: v for k, v in a.items() if k != "questions"})
        mb = _strip({k: v for k, v in b.items() if k != "questions"})
        for k in sorted(ma.keys() | mb.keys()):
            if ma.get(k) != mb.get(k):
                out.append(f"{config} metric {k}: {ma.get(k)!r} -> {mb.get(k)!r}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python eval/compare_runs.py BEFORE.json AFTER.json", file=sys.stderr)
        return 2
    before, after = (json.loads(Path(p).read_text("utf-8")) for p in argv)
    diffs = differences(before, after)
    n = sum(len(v.get("questions", [])) for k, v in after.items() if k != "run")
    for line in diffs:
        print(line)
    print(f"{n} questions compared: {'identical' if not diffs else f'{len(diffs)} differences'}")
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

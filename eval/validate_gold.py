"""Validate the gold Q&A set (see /work/shared/CONTRACT.md, "Gold Q&A set").

Usage: python eval/validate_gold.py [FILE]   (default: eval/gold/seeds.jsonl)

Checks every line of FILE against the cleaned seed articles (`rag.ingest.load_sources`):
valid JSON objects, required fields and their types, unique ids, `lang` in {en, zh},
`split` in {dev, test}, a known `type`, every answer alternative found (after the contract's
normalisation: NFKC, lower case, all whitespace removed) in at least one listed document,
listed documents exist, and `type == "unanswerable"` iff `answers == []` iff `docs == []`.
Prints a summary table and exits 1 (with line numbers and ids) on any problem.

Import-safe: tests can load it with importlib and call `load_gold`, `load_docs` and `validate`.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO_ROOT))

from rag.evaluate import SPLITS  # noqa: E402
from rag.ingest import load_sources  # noqa: E402
from rag.metrics import normalise  # noqa: E402

DEFAULT_GOLD = REPO_ROOT / "eval" / "gold" / "seeds.jsonl"
SEEDS_DIR = REPO_ROOT / "seeds"

LANGS = ("en", "zh")
TYPES = (
    "when",
    "how_many",
    "how_much",
    "percentage",
    "who",
    "which_company",
    "where",
    "what_name",
    "yes_no",
    "list",
    "other",
    "unanswerable",
)
REQUIRED_FIELDS: dict[str, type] = {
    "id": str,
    "lang": str,
    "question": str,
    "answers": list,
    "docs": list,
    "split": str,
    "type": str,
}


class GoldFormatError(ValueError):
    """The gold file has lines that are not JSON objects."""


def read_gold(path: Path) -> tuple[list[dict[str, Any]], list[int], list[str]]:
    """Parse a JSONL gold file: (items, their 1-based line numbers, parse problems)."""
    items: list[dict[str, Any]] = []
    line_numbers: list[int] = []
    problems: list[str] = []
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [], [f"{path}: cannot read: {exc}"]
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            problems.append(f"line {number}: blank line")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {number}: not a JSON object")
            continue
        items.append(obj)
        line_numbers.append(number)
    return items, line_numbers, problems


def load_gold(path: Path) -> list[dict[str, Any]]:
    """Load a gold JSONL file; raise `GoldFormatError` if any line is not a JSON object."""
    items, _, problems = read_gold(path)
    if problems:
        raise GoldFormatError("; ".join(problems))
    return items


def load_docs(seeds: Path = SEEDS_DIR) -> dict[str, str]:
    """The cleaned seed articles, as the service indexes them: doc_id -> text."""
    return {d.doc_id: d.text for d in load_sources([seeds]).documents}


def _as_texts(docs: Mapping[str, str] | Iterable[Any]) -> dict[str, str]:
    if isinstance(docs, Mapping):
        return {str(k): str(v) for k, v in docs.items()}
    return {d.doc_id: d.text for d in docs}  # rag.types.Document or alike


def _where(item: Any, index: int, line_numbers: Sequence[int] | None) -> str:
    line = line_numbers[index] if line_numbers and index < len(line_numbers) else index + 1
    qid = item.get("id") if isinstance(item, dict) else None
    return f"line {line} (id {qid!r})" if qid is not None else f"line {line}"


def validate(
    items: Sequence[dict[str, Any]],
    docs: Mapping[str, str] | Iterable[Any],
    line_numbers: Sequence[int] | None = None,
) -> list[str]:
    """Every problem with the gold items, one message each; `[]` when the set is valid.

    `docs` maps doc_id to cleaned text (or is an iterable of `Document`s). Line numbers are
    taken from `line_numbers` when given, else an item's position (1-based).
    """
    texts = {doc_id: normalise(text) for doc_id, text in _as_texts(docs).items()}
    problems: list[str] = []
    seen_ids: dict[str, str] = {}
    seen_questions: dict[str, str] = {}

    for index, item in enumerate(items):
        where = _where(item, index, line_numbers)
        if not isinstance(item, dict):
            problems.append(f"{where}: not a JSON object")
            continue
        bad_field = False
        for name, kind in REQUIRED_FIELDS.items():
            if name not in item:
                problems.append(f"{where}: missing field {name!r}")
                bad_field = True
            elif not isinstance(item[name], kind):
                problems.append(
                    f"{where}: field {name!r} must be {kind.__name__}, "
                    f"got {type(item[name]).__name__}"
                )
                bad_field = True
        if bad_field:
            continue

        qid: str = item["id"]
        if not qid.strip():
            problems.append(f"{where}: empty id")
        elif qid in seen_ids:
            problems.append(f"{where}: duplicate id (first at {seen_ids[qid]})")
        else:
            seen_ids[qid] = where
        if item["lang"] not in LANGS:
            problems.append(f"{where}: lang {item['lang']!r} not in {LANGS}")
        if item["split"] not in SPLITS:
            problems.append(f"{where}: split {item['split']!r} not in {SPLITS}")
        if item["type"] not in TYPES:
            problems.append(f"{where}: type {item['type']!r} not in {TYPES}")
        question = item["question"].strip()
        if not question:
            problems.append(f"{where}: empty question")
        elif len(question) > 1000:
            problems.append(f"{where}: question longer than 1000 characters")
        else:
            key = normalise(question)
            if key in seen_questions:
                problems.append(f"{where}: same question as {seen_questions[key]}")
            else:
                seen_questions[key] = where

        doc_ids = item["docs"]
        known_docs: list[str] = []
        for doc_id in doc_ids:
            if not isinstance(doc_id, str):
                problems.append(f"{where}: doc id {doc_id!r} is not a string")
            elif doc_id not in texts:
                problems.append(f"{where}: unknown doc {doc_id!r}")
            else:
                known_docs.append(doc_id)
        if len(set(map(str, doc_ids))) != len(doc_ids):
            problems.append(f"{where}: duplicate doc ids in 'docs'")

        answers = item["answers"]
        unanswerable = item["type"] == "unanswerable"
        if unanswerable != (answers == []) or (answers == []) != (doc_ids == []):
            problems.append(
                f"{where}: type 'unanswerable', answers == [] and docs == [] must go together "
                f"(type {item['type']!r}, {len(answers)} answer groups, {len(doc_ids)} docs)"
            )
        if item["type"] == "list" and len(answers) < 2:
            problems.append(f"{where}: a list question needs at least 2 answer groups")

        for g, group in enumerate(answers, start=1):
            if not isinstance(group, list) or not group:
                problems.append(f"{where}: answer group {g} must be a non-empty list")
                continue
            for alt in group:
                if not isinstance(alt, str) or not normalise(alt):
                    problems.append(f"{where}: group {g}: alternative {alt!r} is not a string")
                    continue
                if known_docs and not any(normalise(alt) in texts[d] for d in known_docs):
                    problems.append(
                        f"{where}: group {g}: alternative {alt!r} occurs in none of "
                        f"the listed docs {known_docs}"
                    )
    return problems


def summary(items: Sequence[dict[str, Any]], docs: Mapping[str, str] | Iterable[Any]) -> str:
    """A plain-text table: counts by split/lang/type, list and unanswerable counts, coverage."""
    texts = _as_texts(docs)
    rows = [i for i in items if isinstance(i, dict)]

    def get(item: dict[str, Any], key: str) -> str:
        return str(item.get(key, "?"))

    out: list[str] = [f"gold items: {len(rows)}", ""]
    by = Counter((get(i, "type"), get(i, "split"), get(i, "lang")) for i in rows)
    types = [t for t in TYPES if any(k[0] == t for k in by)]
    types += sorted({k[0] for k in by} - set(types))
    cols = [(s, lang) for s in SPLITS for lang in LANGS]
    header = f"{'type':<14}" + "".join(f"{s + '/' + lang:>9}" for s, lang in cols) + f"{'total':>8}"
    out += [header, "-" * len(header)]
    for t in types:
        counts = [by[(t, s, lang)] for s, lang in cols]
        out.append(f"{t:<14}" + "".join(f"{c:>9}" for c in counts) + f"{sum(counts):>8}")
    totals = [sum(by[(t, s, lang)] for t in types) for s, lang in cols]
    out += ["-" * len(header), f"{'total':<14}" + "".join(f"{c:>9}" for c in totals)]
    out[-1] += f"{sum(totals):>8}"

    split_c = Counter(get(i, "split") for i in rows)
    lang_c = Counter(get(i, "lang") for i in rows)
    out += [
        "",
        "by split: " + ", ".join(f"{k}={v}" for k, v in sorted(split_c.items())),
        "by lang:  " + ", ".join(f"{k}={v}" for k, v in sorted(lang_c.items())),
        f"list questions: {sum(1 for i in rows if i.get('type') == 'list')}",
        f"unanswerable:   {sum(1 for i in rows if i.get('answers') == [])}",
        f"multi-doc:      {sum(1 for i in rows if len(i.get('docs') or []) > 1)}",
        "",
        f"{'doc_id':<22}{'chars':>7}{'share':>7}{'questions':>11}{'en':>5}{'zh':>5}{'q share':>9}",
    ]
    total_chars = sum(len(t) for t in texts.values()) or 1
    cited = [i for i in rows if i.get("docs")]
    for doc_id, text in sorted(texts.items()):
        qs = [i for i in cited if doc_id in (i.get("docs") or [])]
        en = sum(1 for i in qs if i.get("lang") == "en")
        q_share = len(qs) / (sum(len(i.get("docs") or []) for i in cited) or 1)
        out.append(
            f"{doc_id:<22}{len(text):>7}{len(text) / total_chars:>7.0%}{len(qs):>11}"
            f"{en:>5}{len(qs) - en:>5}{q_share:>9.0%}"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(__doc__)
        return 0 if args and args[0] in ("-h", "--help") else 2
    path = Path(args[0]) if args else DEFAULT_GOLD
    docs = load_docs()
    if not docs:
        print(f"no documents loaded from {SEEDS_DIR}", file=sys.stderr)
        return 1
    items, line_numbers, problems = read_gold(path)
    problems += validate(items, docs, line_numbers)
    print(summary(items, docs))
    if problems:
        print(f"\n{len(problems)} problem(s) in {path}:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"\nOK: {path} is valid ({len(items)} items).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Feedback: users' votes on answers, and the questions the service could not answer, in SQLite.

Entry point: `FeedbackStore(path)`; `add(feedback) -> id`, `record_abstention(question,
resolved)`, `all()` (what `GET /feedback` exports), `gold_candidates()` (`rag feedback export
--gold`) and `gaps()` (`rag feedback gaps`).

    >>> store = FeedbackStore(Path("index") / FEEDBACK_FILE)
    >>> store.add(Feedback(question="那腾讯呢？", answer="", vote="down", comment="wrong"))
    '3f0c...'
    >>> [g.question for g in store.gaps()][:1]
    ['那腾讯呢？']

The database lives beside the index (`index/feedback.sqlite3`), outside its generations, so
rebuilding the index keeps it. Every write is its own transaction in WAL mode with
`synchronous=FULL`: once `add` returns, the vote survives a crash. One connection per call keeps
it safe to use from the server's worker threads.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.answer import detect_type
from rag.errors import RagError
from rag.lexical import language
from rag.metrics import normalise, strip_markers

FEEDBACK_FILE = "feedback.sqlite3"
VOTES = ("up", "down")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS abstention (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    question TEXT NOT NULL,
    resolved_question TEXT NOT NULL
);
"""
# How an answer's parts are separated (`阿里云 [1]；亚马逊云科技 [2]`): each is a gold group.
_PARTS = re.compile(r"\s*[；;]\s*")


class FeedbackError(RagError, ValueError):
    """Feedback the store will not take; the message says what to fix."""


@dataclass(frozen=True)
class Feedback:
    """One vote on one answer (CONTRACT "Feedback")."""

    question: str
    answer: str
    vote: str
    resolved_question: str | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    comment: str | None = None

    def __post_init__(self) -> None:
        if self.vote not in VOTES:
            raise FeedbackError(f"vote must be one of {list(VOTES)}, not {self.vote!r}")
        if not self.question.strip():
            raise FeedbackError("question is empty: send the question the answer was for")


@dataclass(frozen=True)
class Gap:
    """A question users asked that found no good answer, and how often."""

    question: str
    count: int
    abstained: int
    down_votes: int
    comments: list[str]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.executescript(_SCHEMA)
            with con:  # one transaction: committed on success, rolled back on error
                yield con

    # -- writing -------------------------------------------------------------------------------
    def add(self, feedback: Feedback) -> str:
        """Store one vote durably; returns its id."""
        fid = uuid.uuid4().hex
        body = {
            "question": feedback.question,
            "resolved_question": feedback.resolved_question,
            "answer": feedback.answer,
            "citations": feedback.citations,
            "vote": feedback.vote,
            "comment": feedback.comment,
        }
        with self._connect() as con:
            con.execute(
                "INSERT INTO feedback (id, created, body) VALUES (?, ?, ?)",
                (fid, _now(), json.dumps(body, ensure_ascii=False)),
            )
        return fid

    def record_abstention(self, question: str, resolved_question: str | None = None) -> None:
        """Remember a question the service abstained on (what the corpus may be missing)."""
        with self._connect() as con:
            con.execute(
                "INSERT INTO abstention (created, question, resolved_question) VALUES (?, ?, ?)",
                (_now(), question, resolved_question or question),
            )

    # -- reading -------------------------------------------------------------------------------
    def all(self) -> Iterator[dict[str, Any]]:
        """Every stored vote, oldest first, with its `id` and UTC `created` time."""
        if not self.path.exists():
            return
        with self._connect() as con:
            rows = con.execute("SELECT id, created, body FROM feedback ORDER BY seq").fetchall()
        for fid, created, body in rows:
            yield {"id": fid, "created": created, **json.loads(body)}

    def _abstentions(self) -> list[tuple[str, str]]:
        if not self.path.exists():
            return []
        with self._connect() as con:
            return con.execute(
                "SELECT question, resolved_question FROM abstention ORDER BY seq"
            ).fetchall()

    def gold_candidates(self) -> list[dict[str, Any]]:
        """Up-voted answers as gold items in the CONTRACT's format, one per distinct question
        (its resolved reading, which stands on its own), newest vote first when repeated. Each
        part of a list answer is a group; `docs` are the cited documents; `type` is the answer
        type the service detects and `split` is dev or test by a hash of the question (stable,
        about half each), so `eval/validate_gold.py` accepts them. Candidates, for a person to
        check before they join a gold set."""
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        for item in reversed(list(self.all())):
            answer = strip_markers(str(item.get("answer") or ""))
            if item.get("vote") != "up" or not answer:
                continue
            question = str(item.get("resolved_question") or item["question"]).strip()
            key = normalise(question)
            if key in seen:
                continue
            seen.add(key)
            groups = [[part] for part in _PARTS.split(answer) if part.strip()]
            cited = [c for c in item.get("citations") or [] if "doc_id" in c]
            docs = list(dict.fromkeys(str(c["doc_id"]) for c in cited))
            digest = hashlib.sha256(key.encode("utf-8")).digest()
            out.append(
                {
                    "id": f"fb-{item['id'][:12]}",
                    "lang": language(question),
                    "question": question,
                    "answers": groups,
                    "docs": docs,
                    "split": "dev" if digest[0] % 2 == 0 else "test",
                    "type": detect_type(question).value,
                    "source": "feedback",
                    "created": item["created"],
                }
            )
        return list(reversed(out))

    def gaps(self, limit: int | None = None) -> list[Gap]:
        """Questions abstained on or voted down, most frequent first (ties: first asked first),
        grouped by their normalised resolved reading."""
        groups: dict[str, dict[str, Any]] = {}

        def bump(question: str, kind: str, comment: str | None = None) -> None:
            key = normalise(question)
            g = groups.setdefault(
                key, {"question": question, "abstained": 0, "down": 0, "comments": []}
            )
            g[kind] += 1
            if comment:
                g["comments"].append(comment)

        for question, resolved in self._abstentions():
            bump(resolved or question, "abstained")
        for item in self.all():
            if item.get("vote") == "down":
                question = str(item.get("resolved_question") or item["question"])
                bump(question, "down", item.get("comment"))
        ranked = sorted(groups.values(), key=lambda g: -(g["abstained"] + g["down"]))
        gaps = [
            Gap(g["question"], g["abstained"] + g["down"], g["abstained"], g["down"], g["comments"])
            for g in ranked
        ]
        return gaps[:limit] if limit is not None else gaps


def dump_jsonl(items: Sequence[dict[str, Any]] | Iterator[dict[str, Any]]) -> Iterator[str]:
    """One JSON object a line."""
    for item in items:
        yield json.dumps(item, ensure_ascii=False) + "\n"


__all__ = ["FEEDBACK_FILE", "Feedback", "FeedbackError", "FeedbackStore", "Gap", "dump_jsonl"]

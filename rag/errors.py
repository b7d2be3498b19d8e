"""Errors: the one base class of every error a user or an operator can cause.

    >>> try:
    ...     pipe.ask("   ")
    ... except RagError as exc:
    ...     print(exc)           # says what to change: "question is empty: ask something, ..."

Each module keeps its own subclass (`QuestionError` in rag.pipeline, `StoreError` in rag.store,
...), with the builtin it always had as a second base (ValueError for bad input, RuntimeError
for a broken environment), so `except ValueError` clauses keep catching them.

The library says what went wrong, not how to report it: the service maps each class to an HTTP
status in one place (`api.errors`), the command line to an exit status in one place
(`rag.cli.main`). A `RagError` that neither knows is a failure of the machine's side (HTTP 500,
exit 1). Anything that is not a `RagError` is a bug, and keeps its traceback.
"""

from __future__ import annotations


class RagError(Exception):
    """An error with a message that says what to do; raised as one of the subclasses."""

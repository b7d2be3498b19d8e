"""One error base class, mapped in one place each: the service's HTTP statuses (`api.errors`)
and the command line's exit statuses (`rag.cli.exit_code`). Fast: no model, no index, no
subprocess."""

from __future__ import annotations

import pytest

from api.errors import status_of
from rag.cli import CliError, exit_code, main
from rag.config import ConfigError
from rag.embed import EmbedderError
from rag.errors import RagError
from rag.evaluate import EvalError
from rag.feedback import FeedbackError
from rag.ingest import IngestError
from rag.pipeline import NotReadyError, QuestionError
from rag.reader.onnx_reader import ReaderWeightsError
from rag.store import StoreError

# Every library error, its builtin base (kept for old except clauses), HTTP status, exit status.
ERRORS = [
    (QuestionError, ValueError, 422, 2),
    (IngestError, ValueError, 422, 1),
    (FeedbackError, ValueError, 422, 1),
    (NotReadyError, RuntimeError, 503, 1),
    (ConfigError, ValueError, 500, 1),
    (EmbedderError, RuntimeError, 500, 1),
    (StoreError, RuntimeError, 500, 1),
    (ReaderWeightsError, RuntimeError, 500, 1),
    (EvalError, ValueError, 500, 1),
]


@pytest.mark.parametrize(("cls", "builtin", "status", "code"), ERRORS)
def test_each_error_is_a_rag_error_with_one_status_and_one_exit_code(
    cls: type[RagError], builtin: type[Exception], status: int, code: int
) -> None:
    exc = cls("what to change")
    assert isinstance(exc, RagError) and isinstance(exc, builtin)
    assert status_of(exc) == status
    assert exit_code(exc) == code


def test_a_subclass_maps_as_its_nearest_listed_class() -> None:
    class DocTooLong(IngestError):
        pass

    assert status_of(DocTooLong("x")) == 422
    assert status_of(RagError("x")) == 500  # unlisted: the server's side


def test_a_cli_error_carries_its_own_exit_code() -> None:
    assert exit_code(CliError("x")) == 1 and exit_code(CliError("x", 2)) == 2


@pytest.fixture(autouse=True)
def _restore_omp_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """`main` sets OMP_WAIT_POLICY for its process; undo that after each test."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)


def test_main_prints_a_rag_error_as_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_RATE_LIMIT", "many")
    assert main(["ask", "anything"]) == 1
    err = capsys.readouterr().err
    assert err == "rag: error: RAG_RATE_LIMIT='many' is not a whole number\n"


def test_main_says_a_bad_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers 0: give 1 or more" in capsys.readouterr().err

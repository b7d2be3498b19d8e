"""Service: the app's pipeline, opened (or built from seeds/) in a background thread.

    >>> service = Service(settings)
    >>> service.start()          # returns at once; the server answers /healthz meanwhile
    >>> service.pipeline()       # the Pipeline, or HTTP 503 while the index is not loaded

Loading in the background lets uvicorn bind its port at once: /healthz answers while a first
start embeds the seed articles, and /readyz says 503 (with what is going on) until the index is
live. If loading fails, `on_failure` is called (`rag serve` uses it to stop the server and exit
with the message) and /readyz keeps saying why.

At start-up the service marks the folder as served (`rag build` then refuses to replace it, see
`rag.store.hold_serving`), removes what crashed builds left, and once loaded, follows the
committed generation: every `settings.reload_seconds` it checks `CURRENT` and swaps in a
generation another process wrote (a second worker, `rag build --merge`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

from fastapi import HTTPException

from rag.config import Settings
from rag.embed import configure_batching
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.store import hold_serving

log = logging.getLogger("api")

PipelineFactory = Callable[[Settings], Pipeline]
RETRY_AFTER_SECONDS = 5  # what a 503 tells clients: loading takes seconds, a first build a minute


class Service:
    def __init__(self, settings: Settings, factory: PipelineFactory | None = None) -> None:
        self.settings = settings
        self.factory: PipelineFactory = factory or Pipeline
        self.on_failure: Callable[[], None] = lambda: None
        self.status = "starting"
        self.error: str | None = None
        self._pipeline: Pipeline | None = None
        self._thread: threading.Thread | None = None
        self._serving: IO[str] | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._load, name="index-loader", daemon=True)
            self._thread.start()

    def _load(self) -> None:
        settings = self.settings
        try:
            self._serving = hold_serving(settings.index_dir)
            self.status = f"loading the index at {settings.index_dir}"
            pipe = self.factory(settings)
            # What crashed writes left (generation folders, or a Milvus store's unfinished
            # collections): the store's own business, whichever engine RAG_STORE names.
            removed = pipe.backend.clean()
            if removed:
                log.info("removed leftovers of earlier builds: %s", ", ".join(sorted(removed)))
            configure_batching(pipe.embedder, settings.max_batch, settings.batch_window_ms)
            if not pipe.ready:
                self.status = f"building the index from {settings.seeds_dir} (first start)"
                log.info(self.status)
                _, ingested = pipe.build([settings.seeds_dir], progress=sys.stderr.isatty())
                for source, reason in ingested.skipped:
                    log.warning("skipped %s: %s", source, reason)
                if not ingested.documents:
                    log.warning("no documents in %s: serving an empty index", settings.seeds_dir)
            self._warm_up(pipe)
            self._pipeline = pipe
            index = pipe.index
            self.status = "ready"
            log.info(
                "index ready",
                extra={"documents": len(index.documents), "chunks": index.stats.chunks},
            )
        except (RagError, OSError) as exc:  # says what to do: no traceback needed
            self._fail(str(exc), traceback=False)
            return
        except Exception as exc:  # anything else is a bug: keep its traceback in the log
            self._fail(f"{type(exc).__name__}: {exc}", traceback=True)
            return
        self._follow(pipe)

    def _follow(self, pipe: Pipeline) -> None:
        """Swap in generations other processes commit (runs for the life of the server)."""
        while True:
            time.sleep(self.settings.reload_seconds)
            try:
                if pipe.refresh():
                    index = pipe.index
                    log.info(
                        "followed a generation written by another process",
                        extra={"documents": len(index.documents), "chunks": index.stats.chunks},
                    )
            except Exception:  # noqa: BLE001 - e.g. a generation deleted while it was read
                log.warning("could not load the committed generation; retrying", exc_info=True)

    @staticmethod
    def _warm_up(pipe: Pipeline) -> None:
        """One question before /readyz says yes: the first real one would otherwise wait for
        the tokeniser's dictionary to load (seconds)."""
        if pipe.index.documents:
            pipe.ask("warm-up", top_k=1)

    def _fail(self, message: str, traceback: bool) -> None:
        self.error = message
        self.status = f"failed: {message}"
        log.error("could not load the index: %s", message, exc_info=traceback)
        self.on_failure()

    @property
    def ready(self) -> bool:
        return self._pipeline is not None

    def pipeline(self) -> Pipeline:
        """The live pipeline; a 503 saying what is going on while there is none."""
        pipe = self._pipeline
        if pipe is None:
            raise HTTPException(
                503,
                detail=f"not ready: {self.status}; try again shortly",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return pipe

    def index_size(self) -> tuple[int, int]:
        pipe = self._pipeline
        if pipe is None:
            return 0, 0
        index = pipe.index
        return len(index.documents), index.stats.chunks

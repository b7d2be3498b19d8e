"""Server: `rag serve`, uvicorn with FastAPI's threadpool, in one process or several.

    >>> serve(Settings.from_env(), host="127.0.0.1", port=8000)              # one process
    >>> serve(Settings.from_env(), host="127.0.0.1", port=8000, workers=2)   # two, one index

One process by default: the embedder batches concurrent questions itself (`rag.embed`), and on
a small machine a second process adds memory sooner than throughput (bench/RESULTS.md). With
`workers=N`, uvicorn forks N processes on one socket; each holds its own copy of the index and
follows the committed generation (`api.service`, every RAG_RELOAD_SECONDS), so a document
written through any worker is answered by all of them within that time.

Connections must send their request line and headers within `header_timeout` seconds
(RAG_HEADER_TIMEOUT) and a body within `body_timeout` (`api.middleware`), so half-sent requests
cannot hold the server's connections. Forwarded headers are not trusted by uvicorn (which by
default believes X-Forwarded-For from loopback): `api.middleware.TrustedProxyMiddleware` reads
them from RAG_TRUSTED_PROXIES only.

SIGTERM (or Ctrl-C) stops accepting connections, lets in-flight requests finish for up to
`GRACEFUL_SHUTDOWN_SECONDS`, then uvicorn re-raises the signal so the process ends as signalled.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.app import create_app
from api.logs import configure_logging, log_config
from rag.config import Settings

GRACEFUL_SHUTDOWN_SECONDS = 30  # an ingest of a 64 KiB document takes seconds; asks far less
# How long uvicorn's supervisor waits for a worker to answer its health check. A new worker first
# imports the library (FAISS, jieba, FastAPI: 4 s on an idle 2-core machine, more under load)
# before it can answer, and uvicorn's default of 5 s then kills and restarts it over and over.
WORKER_HEALTHCHECK_SECONDS = 60

log = logging.getLogger("api")


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request line and headers are not all
    there within `header_timeout` seconds of the connection or of the previous response (a
    slow-loris client sends a byte every few seconds, which resets uvicorn's keep-alive timer)."""

    # Set by `serve`; a worker process (started afresh by uvicorn) reads RAG_HEADER_TIMEOUT.
    header_timeout = float(os.environ.get("RAG_HEADER_TIMEOUT") or Settings.header_timeout)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.header_timeout, self._header_timed_out
        )

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # no request yet: nobody to answer

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        timer = getattr(self, "_header_timer", None)
        if timer is not None and self.conn.their_state is not h11.IDLE:
            timer.cancel()  # the headers are complete
            self._header_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and getattr(self, "_header_timer", None) is None:
            self._arm_header_timer()  # the next request on this connection gets the same time

    def connection_lost(self, exc: Exception | None) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)


def _config(settings: Settings, host: str, port: int, **extra: object) -> dict[str, object]:
    HeaderTimeoutProtocol.header_timeout = settings.header_timeout
    return {
        "host": host,
        "port": port,
        "http": HeaderTimeoutProtocol,
        "proxy_headers": False,  # see TrustedProxyMiddleware
        "log_config": log_config(),
        "access_log": False,  # the request middleware writes one JSON line per request instead
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "server_header": False,
        **extra,
    }


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> int:
    """Serve the API until stopped; 1 if the index could not be loaded or built."""
    configure_logging()
    if workers > 1:
        return _serve_workers(settings, host, port, workers)
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, **_config(settings, host, port)))  # type: ignore[arg-type]
    service = app.state.rag.service

    def stop() -> None:
        server.should_exit = True

    service.on_failure = stop
    log.info("serving", extra={"url": f"http://{host}:{port}", "index": str(settings.index_dir)})
    server.run()
    if service.error:
        print(f"rag: error: {service.error}", file=sys.stderr, flush=True)
        return 1
    return 0


def _serve_workers(settings: Settings, host: str, port: int, workers: int) -> int:
    """N uvicorn worker processes; each builds its app from the environment (`api.app:factory`),
    so the settings this process was given travel as RAG_* variables."""
    os.environ["RAG_INDEX_DIR"] = str(settings.index_dir)
    os.environ["RAG_HEADER_TIMEOUT"] = str(settings.header_timeout)
    log.info(
        "serving",
        extra={
            "url": f"http://{host}:{port}",
            "index": str(settings.index_dir),
            "workers": workers,
        },
    )
    config = _config(
        settings,
        host,
        port,
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    uvicorn.run("api.app:factory", **config)  # type: ignore[arg-type]
    return 0

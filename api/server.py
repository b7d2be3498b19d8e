"""Server: `rag serve`, one uvicorn process with FastAPI's threadpool.

    >>> serve(Settings.from_env(), host="127.0.0.1", port=8000)   # returns the exit status

One process, not several workers: the embedder is serialised by a lock and the box has two
cores, so a second worker adds memory, not throughput (bench/RESULTS.md "HTTP load"), and each
worker would hold its own copy of the index, so a document ingested through one would stay
invisible to the others until a restart.

SIGTERM (or Ctrl-C) stops accepting connections, lets in-flight requests finish for up to
`GRACEFUL_SHUTDOWN_SECONDS`, then uvicorn re-raises the signal so the process ends as signalled.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from api.app import create_app
from api.logs import configure_logging, log_config
from rag.config import Settings

GRACEFUL_SHUTDOWN_SECONDS = 30  # an ingest of a 64 KiB document takes seconds; asks far less

log = logging.getLogger("api")


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Serve the API until stopped; 1 if the index could not be loaded or built."""
    configure_logging()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=log_config(),
        access_log=False,  # the request middleware writes one JSON line per request instead
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
    )
    server = uvicorn.Server(config)
    service = app.state.service

    def stop() -> None:
        server.should_exit = True

    service.on_failure = stop
    log.info("serving", extra={"url": f"http://{host}:{port}", "index": str(settings.index_dir)})
    server.run()
    if service.error:
        print(f"rag: error: {service.error}", file=sys.stderr, flush=True)
        return 1
    return 0

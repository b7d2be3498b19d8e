"""Metrics: Prometheus counters and histograms per app, in a registry of their own.

    >>> metrics = HttpMetrics(index_size=lambda: (5, 91))
    >>> metrics.observe("POST", "/ask", 200, 0.021)
    >>> metrics.render()  # (body, content type) for GET /metrics

A registry per app (not prometheus-client's global one) lets tests create several apps in one
process without "Duplicated timeseries" errors.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

# Seconds: a cached answer takes about 1 ms, a fresh one tens to hundreds, an ingest seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class HttpMetrics:
    def __init__(self, index_size: Callable[[], tuple[int, int]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("method", "route", "status")
        self.requests = Counter(
            "rag_http_requests",
            "HTTP requests by method, route template and status",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "rag_http_request_duration_seconds",
            "HTTP request latency by method, route template and status",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        reg = self.registry
        documents = Gauge("rag_index_documents", "Documents in the live index", registry=reg)
        chunks = Gauge("rag_index_chunks", "Chunks in the live index", registry=reg)
        documents.set_function(lambda: index_size()[0])
        chunks.set_function(lambda: index_size()[1])

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

"""Config: every setting in one place, read from the environment once, passed down explicitly.

>>> settings = Settings.from_env()
>>> settings.index_dir
PosixPath('index')
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from rag.chunk import ChunkSettings
from rag.embed import DEFAULT_EMBEDDER
from rag.errors import RagError
from rag.store.ann import IndexKind, parse_kind


class ConfigError(RagError, ValueError):
    """A setting with a bad value; the message names the variable and what it accepts."""


def _int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range ({low} to {high})")
    return value


def _float(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:  # also refuses nan
        raise ConfigError(f"{name}={value} is out of range ({low} to {high})")
    return value


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: use one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class Settings:
    index_dir: Path = Path("index")
    seeds_dir: Path = Path("seeds")
    embedder: str = DEFAULT_EMBEDDER
    admin_token: str | None = None
    cors_origins: tuple[str, ...] = ("*",)
    rate_limit_per_minute: int = 120  # per client on /ask; generous for people, a wall for loops
    chunk: ChunkSettings = field(default_factory=ChunkSettings)
    index_kind: IndexKind = IndexKind.AUTO
    cache_size: int = 1024  # answers kept for repeated questions
    # RAG_READER: "e5-reader" (default), the trained reader, or "rules". The reader answers with
    # the span (XQuAD test EM 0.62 where the rules' sentences score 0.08) and abstains more
    # often when it should, for one seeds test question fewer than the rules answer right
    # (eval/reports/reader/README.md); without its weights file it falls back to the rules.
    reader: str = "e5-reader"
    # Serving under load (issue 16): see README "Configuration" for each.
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-For is believed
    max_queue: int = 64  # questions admitted at once (running or waiting); 503 beyond
    batch_window_ms: float = 2.0  # how long the first question of a batch waits for company
    max_batch: int = 16  # questions embedded together at most
    header_timeout: float = 10.0  # seconds to send the request line and headers
    body_timeout: float = 30.0  # seconds to send the body
    reload_seconds: float = 1.0  # how often a server checks for a generation another wrote
    # RAG_STORE: "faiss" (generation folders in index_dir) or "milvus" (README "Scaling out"):
    # RAG_MILVUS_URI is a local path for the embedded milvus-lite or http://host:19530.
    store: str = "faiss"
    milvus_uri: str | None = None  # None: milvus-lite in index_dir/milvus.db
    milvus_token: str | None = None

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        origins = tuple(o.strip() for o in env.get("RAG_CORS_ORIGINS", "*").split(",") if o.strip())
        try:
            kind = parse_kind(env.get("RAG_INDEX_KIND", "auto"))
            chunk = ChunkSettings(
                size=_int("RAG_CHUNK_SIZE", ChunkSettings.size, 20, 4000),
                overlap=_int("RAG_CHUNK_OVERLAP", ChunkSettings.overlap, 0, 3999),
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        proxies = tuple(
            p.strip() for p in env.get("RAG_TRUSTED_PROXIES", "").split(",") if p.strip()
        )
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(
                    f"RAG_TRUSTED_PROXIES: {proxy!r} is not an IP address or network "
                    "(e.g. 10.0.0.5 or 10.0.0.0/8)"
                ) from None
        settings = cls(
            index_dir=Path(env.get("RAG_INDEX_DIR", "index")),
            seeds_dir=Path(env.get("RAG_SEEDS_DIR", "seeds")),
            embedder=env.get("RAG_EMBEDDER", DEFAULT_EMBEDDER) or DEFAULT_EMBEDDER,
            admin_token=env.get("RAG_ADMIN_TOKEN") or None,
            cors_origins=origins or ("*",),
            rate_limit_per_minute=_int("RAG_RATE_LIMIT", 120, 0, 1_000_000),
            chunk=chunk,
            index_kind=kind,
            cache_size=_int("RAG_CACHE_SIZE", 1024, 0, 1_000_000),
            reader=_choice("RAG_READER", "e5-reader", ("rules", "e5-reader")),
            trusted_proxies=proxies,
            max_queue=_int("RAG_MAX_QUEUE", 64, 1, 100_000),
            batch_window_ms=_float("RAG_BATCH_WINDOW_MS", 2.0, 0.0, 1000.0),
            max_batch=_int("RAG_MAX_BATCH", 16, 1, 1024),
            header_timeout=_float("RAG_HEADER_TIMEOUT", 10.0, 0.1, 3600.0),
            body_timeout=_float("RAG_BODY_TIMEOUT", 30.0, 0.1, 3600.0),
            reload_seconds=_float("RAG_RELOAD_SECONDS", 1.0, 0.05, 3600.0),
            store=_choice("RAG_STORE", "faiss", ("faiss", "milvus")),
            milvus_uri=env.get("RAG_MILVUS_URI") or None,
            milvus_token=env.get("RAG_MILVUS_TOKEN") or None,
        )
        return replace(settings, **overrides)  # type: ignore[arg-type]

"""Config: every setting in one place, read from the environment once, passed down explicitly.

>>> settings = Settings.from_env()
>>> settings.index_dir
PosixPath('index')
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from rag.ann import IndexKind, parse_kind
from rag.chunk import ChunkSettings
from rag.embed import DEFAULT_EMBEDDER


class ConfigError(ValueError):
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
        )
        return replace(settings, **overrides)  # type: ignore[arg-type]

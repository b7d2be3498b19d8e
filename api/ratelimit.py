"""Rate limit and admission: what one client may spend, and how much the server takes at once.

    >>> limiter = RateLimiter(per_minute=120)
    >>> limiter.wait("127.0.0.1")   # 0.0: go ahead; otherwise the seconds until a token is back
    0.0
    >>> limiter.charge("127.0.0.1", ask_cost(tokens=512, passages=20) - 1)   # the rest of its cost

Each client's bucket holds up to `per_minute` tokens and refills at `per_minute` a minute, so a
person can ask a burst of questions while a loop settles at the configured rate. A token is the
work of an ordinary question (`ask_cost`): a question is let in while its client's balance is at
least one token, pays one on the way in, and the rest of its cost once its length is known, so a
balance may go below zero and the client then waits until the debt is repaid. A maximal
question (the embedder's whole window of 512 tokens, 20 passages) costs 17 tokens: one client
sending those at the limit gets the engine time of an ordinary asker, not 17 times it.
Buckets live in an LRU of `max_clients` entries, so a flood of addresses cannot grow memory.

`Admission` bounds the questions in the server at once (running or queued for the embedder):
past `limit`, a question gets 503 with Retry-After at once instead of waiting in a queue that
only grows.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

TOKENS_PER_UNIT = 32  # question tokens in one unit of work: an ordinary question is 10-30
PASSAGES_PER_UNIT = 20  # passages read in one unit (the answerer reads at least 5 a question)


def ask_cost(tokens: int, passages: int) -> float:
    """The work of one question in units of an ordinary one: embedding grows with its tokens
    (measured: 16 tokens 33 ms, 106 tokens 370 ms, 506 tokens 2.6 s on a loaded machine), and
    reading with the passages read. A question of up to 24 tokens reading the usual 5 passages
    is one unit; never under one."""
    return max(1.0, tokens / TOKENS_PER_UNIT + passages / PASSAGES_PER_UNIT)


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1 (leave the limiter out to disable it)")
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, last time
        self._lock = threading.Lock()

    def _balance(self, client: str, now: float) -> float:
        tokens, last = self._buckets.pop(client, (self.capacity, now))
        return min(self.capacity, tokens + (now - last) * self.refill_per_second)

    def _store(self, client: str, tokens: float, now: float) -> None:
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)

    def wait(self, client: str, cost: float = 1.0) -> float:
        """Take `cost` tokens for `client` if it has at least one: 0.0; else the seconds until
        it will have one (nothing taken)."""
        now = self.clock()
        with self._lock:
            tokens = self._balance(client, now)
            if tokens >= 1.0:
                tokens -= cost
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.refill_per_second
            self._store(client, tokens, now)
            return wait

    def charge(self, client: str, cost: float) -> None:
        """Take `cost` more tokens from `client`, into debt if need be (the rest of the cost of a
        question already let in)."""
        if cost <= 0:
            return
        now = self.clock()
        with self._lock:
            self._store(client, self._balance(client, now) - cost, now)


class Admission:
    """At most `limit` requests inside at once; `enter` says False beyond (answer 503)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.inside = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.inside >= self.limit:
                return False
            self.inside += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.inside -= 1

"""Rate limit: a token bucket per client, in memory.

    >>> limiter = RateLimiter(per_minute=120)
    >>> limiter.wait("127.0.0.1")   # 0.0: go ahead; otherwise the seconds until a token is back
    0.0

Each client's bucket holds up to `per_minute` tokens and refills at `per_minute` a minute, so a
person can ask a burst of questions while a loop settles at the configured rate. Buckets live in
an LRU of `max_clients` entries, so a flood of addresses cannot grow memory without bound.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


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

    def wait(self, client: str) -> float:
        """Take a token for `client`: 0.0 if it had one, else the seconds until it will."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill_per_second)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.refill_per_second
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return wait

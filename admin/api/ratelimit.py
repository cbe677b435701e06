"""Per-client token buckets: a steady rate with a burst allowance. In this process's memory (Buckets), or, for the
API when several admin workers serve it, in Postgres (SharedBuckets), so a client's calls spread over the workers
share one budget. Both answer `spend(conn, key)` the same way."""

from __future__ import annotations

import math
import time


class Buckets:
    """`take(key)` spends one token of `key`'s bucket; returns 0 when it could, else the whole seconds to wait.

    In memory, per process: what one admin worker uses, and the failed-authentication throttle (per source
    address, before any database lookup) in every worker, so with N workers a guesser gets N times its rate."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic, max_keys: int = 100_000):
        self.rate, self.burst, self.clock, self.max_keys = rate, burst, clock, max_keys
        self._state: dict[object, tuple[float, float]] = {}  # key -> (tokens, at)

    def wait(self, key) -> int:
        """What `take` would answer, without spending: 0 when a token is there, else the whole seconds to wait."""
        tokens, at = self._state.get(key, (float(self.burst), self.clock()))
        tokens = min(float(self.burst), tokens + (self.clock() - at) * self.rate)
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / self.rate))

    async def spend(self, conn, key) -> int:
        """`take`, in the shape SharedBuckets answers (`conn` unused)."""
        return self.take(key)

    def take(self, key) -> int:
        now = self.clock()
        if key not in self._state and len(self._state) >= self.max_keys:
            self._make_room(now)
        tokens, at = self._state.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._state[key] = (tokens - 1, now)
            return 0
        self._state[key] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / self.rate))

    def _make_room(self, now: float) -> None:
        """Keys are source addresses for failed logins, which anyone can vary (IPv6): past `max_keys`, forget the
        buckets that have refilled (forgetting one is the same as keeping it full), then, if an address spray
        keeps them all drained, the oldest half, so memory stays bounded either way."""
        full = [k for k, (tokens, at) in self._state.items() if tokens + (now - at) * self.rate >= self.burst]
        for key in full:
            del self._state[key]
        if len(self._state) >= self.max_keys:
            for key in sorted(self._state, key=lambda k: self._state[k][1])[:len(self._state) // 2]:
                del self._state[key]


class SharedBuckets:
    """The same buckets (rate, burst, answer) kept in Postgres by radbill_api_take (sql/migrations/0065), for
    RADBILL_ADMIN_WORKERS > 1: the kernel spreads a client's connections over the workers, and a bucket in each
    one's memory gave it that many times its rate. One round trip a call, on the connection the call already
    holds (bench/README.md "API reads" measures it)."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst

    async def spend(self, conn, key: int) -> int:
        return await conn.fetchval("SELECT radbill_api_take($1, $2, $3)", key, float(self.rate), int(self.burst))

"""Per-client token buckets: a steady rate with a burst allowance, in this process's memory."""

from __future__ import annotations

import math
import time


class Buckets:
    """`take(key)` spends one token of `key`'s bucket; returns 0 when it could, else the whole seconds to wait.

    In memory, per admin process: with several processes behind one address a client gets that many times the
    rate, which is a limit on abuse, not a quota (no shared state costs a database round trip per call)."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic, max_keys: int = 100_000):
        self.rate, self.burst, self.clock, self.max_keys = rate, burst, clock, max_keys
        self._state: dict[object, tuple[float, float]] = {}  # key -> (tokens, at)

    def wait(self, key) -> int:
        """What `take` would answer, without spending: 0 when a token is there, else the whole seconds to wait."""
        tokens, at = self._state.get(key, (float(self.burst), self.clock()))
        tokens = min(float(self.burst), tokens + (self.clock() - at) * self.rate)
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / self.rate))

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

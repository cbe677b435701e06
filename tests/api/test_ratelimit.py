"""admin/api/ratelimit.Buckets: the arithmetic, on a clock the test moves, and a bounded memory when the keys are
addresses an attacker chooses."""

from admin.api.ratelimit import Buckets


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate_with_the_wait_said_in_whole_seconds():
    clock = Clock()
    buckets = Buckets(rate=0.5, burst=2, clock=clock)
    assert [buckets.take("a"), buckets.take("a")] == [0, 0]
    assert buckets.wait("a") == 2 and buckets.take("a") == 2  # one token takes 2 s at 0.5/s
    assert buckets.take("b") == 0  # another key is its own bucket
    clock.now += 2
    assert buckets.wait("a") == 0 and buckets.take("a") == 0


def test_memory_stays_bounded_under_an_address_spray():
    clock = Clock()
    buckets = Buckets(rate=0.01, burst=1, clock=clock, max_keys=100)
    for n in range(1000):
        clock.now += 0.001
        buckets.take(f"2001:db8::{n:x}")
        assert len(buckets._state) <= 100
    clock.now += 1000  # everything refilled: the next new key finds room by forgetting the full ones
    for n in range(100):
        buckets.take(f"198.51.100.{n}")
    assert len(buckets._state) <= 100 and buckets.take("fresh") == 0

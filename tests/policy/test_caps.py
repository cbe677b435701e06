"""radbill.policy.caps: the tier a window's usage reaches, top-ups raising every threshold, and decide() using it."""

from datetime import UTC, datetime

import pytest

from radbill.policy import PolicyRow, Request, Speeds, decide
from radbill.policy.caps import CapTier, next_threshold, tier_for, tiers_from_view

FULL = Speeds(10000, 5000)
TIERS = tiers_from_view(200, Speeds(4000, 2000), [400, 300], [1000, 2000], [500, 1000])


def test_tiers_from_the_view_are_ascending_and_start_with_the_package_cap():
    assert [t.after_bytes for t in TIERS] == [200, 300, 400]
    assert TIERS[0] == CapTier(200, Speeds(4000, 2000))
    assert tiers_from_view(None, None, [400], [1000], [500]) == ()  # no tier 1: no cap at all


@pytest.mark.parametrize(("used", "topup", "tier", "next_at"), [
    (0, 0, 0, 200), (199, 0, 0, 200), (200, 0, 1, 300), (350, 0, 2, 400), (400, 0, 3, None), (10**12, 0, 3, None),
    (250, 100, 0, 300), (350, 100, 1, 400), (500, 100, 3, None),
])
def test_the_tier_for_usage_and_top_ups(used, topup, tier, next_at):
    assert tier_for(TIERS, used, topup) == tier
    assert next_threshold(TIERS, tier, topup) == next_at


@pytest.mark.parametrize(("used", "topup", "rate"), [(100, 0, "5M/10M"), (250, 0, "2M/4M"), (320, 0, "1M/2M"),
                                                     (450, 0, "500k/1M"), (450, 200, "2M/4M")])
def test_decide_sends_the_rate_of_the_tier(used, topup, rate):
    row = PolicyRow("u", "pw", "active", FULL, data_cap_bytes=200, throttled_speeds=Speeds(4000, 2000),
                    usage_bytes=used, cap_tiers=TIERS, topup_bytes=topup)
    decision = decide(row, Request("u"), datetime(2026, 1, 1, tzinfo=UTC))
    assert decision.accept and dict(decision.reply)["Mikrotik-Rate-Limit"] == rate

"""Fair usage: which data-cap tier a customer's usage in the current window has reached (pure).

Tier 0 is the package's own speed; tier n (1-based) applies once the window's usage passes the n-th threshold.
A top-up raises every threshold by the bytes bought for the window: it buys room before the next slow-down,
whichever tier the customer is in. decide(), the accounting hook (CoA on a crossing), the worker (CoA when a
window ends or a top-up arrives) and the admin's usage panel all ask `tier_for`.
"""

from __future__ import annotations

from dataclasses import dataclass

from radbill.policy.rates import Speeds


@dataclass(frozen=True, slots=True)
class CapTier:
    after_bytes: int
    speeds: Speeds


def tiers_from_view(cap_bytes: int | None, throttled: Speeds | None, after_bytes, download_kbps,
                    upload_kbps) -> tuple[CapTier, ...]:
    """Tier 1 from the package's single cap, the further tiers from package_cap_tiers (parallel arrays)."""
    if cap_bytes is None or throttled is None:
        return ()
    tiers = [CapTier(cap_bytes, throttled)]
    for after, down, up in zip(after_bytes or (), download_kbps or (), upload_kbps or (), strict=True):
        tiers.append(CapTier(after, Speeds(down, up)))
    return tuple(sorted(tiers, key=lambda t: t.after_bytes))


def tier_for(tiers: tuple[CapTier, ...], usage_bytes: int, topup_bytes: int = 0) -> int:
    """0 for full speed, else the 1-based tier whose threshold (raised by the top-ups) usage has reached."""
    counted = usage_bytes - topup_bytes
    return sum(1 for t in tiers if counted >= t.after_bytes)


def speeds_for(full: Speeds, tiers: tuple[CapTier, ...], tier: int) -> Speeds:
    return full if tier == 0 else tiers[tier - 1].speeds


def next_threshold(tiers: tuple[CapTier, ...], tier: int, topup_bytes: int = 0) -> int | None:
    """The usage at which the next slow-down starts (None past the last tier)."""
    return tiers[tier].after_bytes + topup_bytes if tier < len(tiers) else None

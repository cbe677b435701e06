"""The values the policy engine reads and returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter

from radbill.policy.caps import CapTier, tiers_from_view
from radbill.policy.rates import Speeds


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """One customer's RADIUS-relevant billing state (a row of the `radius_policy` view)."""

    username: str
    password: str
    status: str  # active | suspended | disabled
    speeds: Speeds
    expires_at: datetime | None = None
    mac_address: str | None = None  # normalised aa:bb:cc:dd:ee:ff
    static_ip: str | None = None
    simultaneous_use: int | None = None
    ip_pool: str | None = None
    data_cap_bytes: int | None = None
    throttled_speeds: Speeds | None = None
    usage_bytes: int = 0
    usage_since: datetime | None = None  # the data-cap window usage_bytes counts: [usage_since, usage_resets_at)
    usage_resets_at: datetime | None = None
    suspended_pool: str | None = None  # walled garden of the nearest operator that configures one
    suspended_rate_limit: str = "256k/256k"
    suspended_session_timeout: int = 300
    router_profile: str | None = None  # the package's profile/group name on the router (vendors.Vendor.profile)
    cap_tiers: tuple[CapTier, ...] = ()  # tier 1 (data_cap_bytes, throttled_speeds) and the tiers after it
    topup_bytes: int = 0  # data top-ups bought for the current window: they raise every threshold
    customer_id: int | None = None

    @property
    def tiers(self) -> tuple[CapTier, ...]:
        """The data-cap tiers, ascending; a row built with only the single cap has that one tier."""
        if self.cap_tiers or self.data_cap_bytes is None or self.throttled_speeds is None:
            return self.cap_tiers
        return (CapTier(self.data_cap_bytes, self.throttled_speeds),)

    @classmethod
    def from_view(cls, r: Mapping, memo: dict | None = None) -> PolicyRow:
        """Build a PolicyRow from one row of the `radius_policy` view (any dict-like record).

        `memo` (one dict per snapshot load): rows then share one object for each package's speeds and tiers and
        for each repeated string or window time instead of each holding a copy (all immutable, so decisions are
        the same): at 1,000,000 customers that is most of a row's memory (bench.snapshot --subscribers)."""
        speeds, throttled, tiers = _package_parts(r, memo)

        def same(value):
            return value if memo is None or value is None else memo.setdefault(value, value)

        return cls(
            username=r["username"],
            password=r["password"],
            status=same(r["status"]),
            speeds=speeds,
            expires_at=same(r["expires_at"]),
            mac_address=r["mac_address"],
            static_ip=r["static_ip"],
            simultaneous_use=r["simultaneous_use"],
            ip_pool=same(r["ip_pool"]),
            data_cap_bytes=same(r["data_cap_bytes"]),
            throttled_speeds=throttled,
            usage_bytes=r["usage_bytes"] or 0,
            usage_since=same(r["cap_window_start"]),
            usage_resets_at=same(r["cap_window_end"]),
            suspended_pool=same(r["suspended_pool"]),
            suspended_rate_limit=same(r["suspended_rate_limit"] or "256k/256k"),
            suspended_session_timeout=same(r["suspended_session_timeout"] or 300),
            router_profile=same(r.get("router_profile")),
            cap_tiers=tiers,
            topup_bytes=r.get("topup_bytes") or 0,
            customer_id=r.get("customer_id"),
        )


def view_row_builder(names: Sequence[str]) -> Callable[[Sequence], PolicyRow]:
    """PolicyRow.from_view(dict(zip(names, values)), memo) for tuples of the view's columns `names`, without a
    dict or a key lookup per column: a full load builds a million rows with it (bench.snapshot --subscribers).
    The same rows, field for field, as from_view's (tests/db/test_policy_view_equal.py compares them)."""
    at = {name: i for i, name in enumerate(names)}
    values: dict = {}  # one object per repeated string, time or number, as from_view's memo
    packages: dict = {}  # (package columns, tiers) -> (speeds, throttled speeds, tiers)
    package_key = itemgetter(*(at[name] for name in _PACKAGE_COLUMNS))
    tiers_at = [at.get(name) for name in ("tier_after_bytes", "tier_download_kbps", "tier_upload_kbps")]
    tiered = None not in tiers_at
    first_tier = tiers_at[0]
    (user, password, status, expires, mac, ip, simultaneous, pool, cap, usage, since, resets, garden, rate, timeout
     ) = (at[name] for name in _REQUIRED_COLUMNS)
    # a view without the later columns (0013's, in bench.snapshot) reads them from a None appended to each row
    optional = [at.get(name, len(names)) for name in ("router_profile", "topup_bytes", "customer_id")]
    padded = len(names) in optional
    profile, topup, customer_id = optional
    keep, new = values.setdefault, object.__new__

    def build(r: Sequence) -> PolicyRow:
        key = package_key(r)
        if tiered and r[first_tier] is not None:
            key += tuple(tuple(r[i] or ()) for i in tiers_at)
        parts = packages.get(key)
        if parts is None:
            parts = packages[key] = _package_parts(dict(zip(names, r, strict=True)), None)
        if padded:
            r = (*r, None)
        row = new(_PolicyRowSlots)  # plain stores into the slots, then a PolicyRow (see _PolicyRowSlots)
        row.speeds, row.throttled_speeds, row.cap_tiers = parts
        row.username, row.password, row.mac_address, row.static_ip = r[user], r[password], r[mac], r[ip]
        row.simultaneous_use, row.usage_bytes, row.customer_id = r[simultaneous], r[usage] or 0, r[customer_id]
        row.topup_bytes = r[topup] or 0
        row.status = keep(v := r[status], v)
        row.expires_at = keep(v := r[expires], v)
        row.ip_pool = keep(v := r[pool], v)
        row.data_cap_bytes = keep(v := r[cap], v)
        row.usage_since = keep(v := r[since], v)
        row.usage_resets_at = keep(v := r[resets], v)
        row.suspended_pool = keep(v := r[garden], v)
        row.suspended_rate_limit = keep(v := r[rate] or "256k/256k", v)
        row.suspended_session_timeout = keep(v := r[timeout] or 300, v)
        row.router_profile = keep(v := r[profile], v)
        row.__class__ = PolicyRow
        return row

    return build


class _PolicyRowSlots:
    """PolicyRow's slots without its frozen __setattr__. A frozen dataclass's __init__ sets each field through
    object.__setattr__ (~2 µs for PolicyRow's 21, most of building a row in a full load), where a plain store
    into a slot costs a few ns; view_row_builder fills one of these, then makes it a PolicyRow: allowed because
    the slots are the same (so the memory layout is), and from then on it is a PolicyRow like any other, frozen,
    equal and hashed the same (tests/policy/test_shared_rows.py). A field missing from the builder would be
    an unset slot, which the equality tests with from_view's rows catch."""

    __slots__ = PolicyRow.__slots__


_PACKAGE_COLUMNS = ("download_kbps", "upload_kbps", "burst_download_kbps", "burst_upload_kbps",
                    "burst_threshold_download_kbps", "burst_threshold_upload_kbps", "burst_time_seconds",
                    "throttled_download_kbps", "throttled_upload_kbps", "data_cap_bytes")
_REQUIRED_COLUMNS = ("username", "password", "status", "expires_at", "mac_address", "static_ip", "simultaneous_use",
                     "ip_pool", "data_cap_bytes", "usage_bytes", "cap_window_start", "cap_window_end",
                     "suspended_pool", "suspended_rate_limit", "suspended_session_timeout")


def _package_parts(r: Mapping, memo: dict | None) -> tuple[Speeds, Speeds | None, tuple[CapTier, ...]]:
    """(speeds, throttled speeds, cap tiers) of a view row's package: built once per distinct package in `memo`."""
    key = ("package", r["download_kbps"], r["upload_kbps"], r["burst_download_kbps"], r["burst_upload_kbps"],
           r["burst_threshold_download_kbps"], r["burst_threshold_upload_kbps"], r["burst_time_seconds"],
           r["throttled_download_kbps"], r["throttled_upload_kbps"], r["data_cap_bytes"],
           *(tuple(r.get(k) or ()) for k in ("tier_after_bytes", "tier_download_kbps", "tier_upload_kbps")))
    parts = memo.get(key) if memo is not None else None
    if parts is None:
        throttled = None
        if r["throttled_download_kbps"] and r["throttled_upload_kbps"]:
            throttled = Speeds(r["throttled_download_kbps"], r["throttled_upload_kbps"])
        speeds = Speeds(r["download_kbps"], r["upload_kbps"], r["burst_download_kbps"], r["burst_upload_kbps"],
                        r["burst_threshold_download_kbps"], r["burst_threshold_upload_kbps"], r["burst_time_seconds"])
        parts = (speeds, throttled, tiers_from_view(r["data_cap_bytes"], throttled, r.get("tier_after_bytes"),
                                                    r.get("tier_download_kbps"), r.get("tier_upload_kbps")))
        if memo is not None:
            memo[key] = parts
    return parts



@dataclass(frozen=True, slots=True)
class Request:
    """What the NAS asked, plus what the module knows from accounting (open sessions)."""

    username: str
    calling_station_id: str | None = None
    nas_ip: str | None = None
    open_sessions: int = 0
    nas_type: str = "mikrotik"  # the asking router's type (FreeRADIUS's client nas_type, from the nas table)


@dataclass(frozen=True, slots=True)
class Settings:
    acct_interim_interval: int = 300


@dataclass(frozen=True, slots=True)
class Check:
    """One step of a decision, for `radbill explain`: what was looked at and what it concluded."""

    name: str
    observed: str
    outcome: str  # pass | fail | skip | info


@dataclass(frozen=True)
class Decision:
    """accept or reject, a machine reason code, and the attributes to hand FreeRADIUS."""

    accept: bool
    reason: str  # ok | unknown_user | disabled | suspended | expired | mac_mismatch | simultaneous_use | error
    message: str = ""
    reply: tuple[tuple[str, str], ...] = ()
    config: tuple[tuple[str, str], ...] = ()
    speeds: Speeds | None = None  # the rate granted (what a CoA would set), vendor-neutral
    checks: tuple[Check, ...] = field(default=(), compare=False)

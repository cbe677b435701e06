"""The values the policy engine reads and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
    suspended_pool: str | None = None  # walled garden of the nearest operator that configures one
    suspended_rate_limit: str = "256k/256k"
    suspended_session_timeout: int = 300


@dataclass(frozen=True, slots=True)
class Request:
    """What the NAS asked, plus what the module knows from accounting (open sessions)."""

    username: str
    calling_station_id: str | None = None
    nas_ip: str | None = None
    open_sessions: int = 0


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
    checks: tuple[Check, ...] = field(default=(), compare=False)

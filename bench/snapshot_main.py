"""The full snapshot load as main had it before the overlapped load (base d3acd8b), for bench.snapshot --subscribers
to time beside today's in the same run on the same database: migration 0051's view (its time-zone windows pulled
up into every row; created here as radius_policy_0051), a server-side cursor read in one loop (the server and
Python taking turns), rows built through the frozen dataclass's own __init__, the cyclic collector running, the
open-session split over a dict of every row, and one heap push per capped row."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from operator import itemgetter
from pathlib import Path

import psycopg

from radbill.policy import PolicyRow
from radbill.policy.model import _PACKAGE_COLUMNS, _package_parts
from radius_module.sessions import load_open_sessions, octets_before_windows
from radius_module.worker import LOAD_BATCH, SET_POLICY_NOW

_REQUIRED_COLUMNS = ("username", "password", "status", "expires_at", "mac_address", "static_ip", "simultaneous_use",
                     "ip_pool", "data_cap_bytes", "usage_bytes", "cap_window_start", "cap_window_end",
                     "suspended_pool", "suspended_rate_limit", "suspended_session_timeout")


def view_0051() -> str:
    """Migration 0051's radius_policy, as radius_policy_0051."""
    text = (Path(__file__).resolve().parent.parent / "sql/migrations/0051_radius_policy_set_based.sql").read_text()
    view = text[text.index("CREATE OR REPLACE VIEW radius_policy AS"):]
    return view.replace("CREATE OR REPLACE VIEW radius_policy AS", "CREATE OR REPLACE VIEW radius_policy_0051 AS")


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

    def opt(name: str):
        i = at.get(name)
        return (lambda r: None) if i is None else itemgetter(i)

    get = {name: itemgetter(at[name]) for name in _REQUIRED_COLUMNS}
    router_profile, topup, customer_id = opt("router_profile"), opt("topup_bytes"), opt("customer_id")
    keep = values.setdefault

    def same(value):
        return keep(value, value)
    user, password, status, expires, mac, ip, simultaneous, pool, cap, usage, since, resets, garden, rate, timeout = (
        get[n] for n in ("username", "password", "status", "expires_at", "mac_address", "static_ip", "simultaneous_use",
                         "ip_pool", "data_cap_bytes", "usage_bytes", "cap_window_start", "cap_window_end",
                         "suspended_pool", "suspended_rate_limit", "suspended_session_timeout"))

    def build(r: Sequence) -> PolicyRow:
        key = package_key(r)
        if tiered and r[tiers_at[0]] is not None:
            key += tuple(tuple(r[i] or ()) for i in tiers_at)
        parts = packages.get(key)
        if parts is None:
            parts = packages[key] = _package_parts(dict(zip(names, r, strict=True)), None)
        speeds, throttled, tiers = parts
        return PolicyRow(user(r), password(r), same(status(r)), speeds, same(expires(r)), mac(r), ip(r),
                         simultaneous(r), same(pool(r)), same(cap(r)), throttled, usage(r) or 0, same(since(r)),
                         same(resets(r)), same(garden(r)), same(rate(r) or "256k/256k"), same(timeout(r) or 300),
                         same(router_profile(r)), tiers, topup(r) or 0, customer_id(r))

    return build


def reload_all(worker, conn: psycopg.Connection) -> None:
    """Worker.reload_all as it was (without the peers' feed cursor, which costs the same in both)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute(SET_POLICY_NOW, (worker.clock().isoformat(),))
        conn.execute("SELECT set_config('cursor_tuple_fraction', '1', true)")
        with conn.cursor("radbill_policy_load") as cur:
            cur.itersize = LOAD_BATCH
            cur.execute("SELECT * FROM radius_policy_0051")
            build = view_row_builder([c.name for c in cur.description])
            rows = [build(r) for r in cur]
        sessions = load_open_sessions(conn)
    before = octets_before_windows(sessions, rows)  # a dict over every row, as it was
    worker.snapshot.replace_all(rows)
    worker.sessions.replace_all(sessions, before)
    worker._resets, worker._resets_at = [], {}
    now = worker.clock()
    for row in rows:
        at = row.usage_resets_at
        if at is not None and at > now and worker._resets_at.get(row.username) != at:
            worker._resets_at[row.username] = at
            heapq.heappush(worker._resets, (at, row.username))

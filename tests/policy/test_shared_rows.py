"""A snapshot load shares its packages' speeds and tiers and its repeated strings and times between rows (memory
at 1,000,000 customers, bench.snapshot --subscribers): the rows must stay equal to rows built one by one, and so
decide the same."""

from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime, timedelta

import pytest

from radbill.policy import PolicyRow, Request, decide
from radius_module.snapshot import rows_from_records, rows_from_tuples

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def view_row(i: int, **overrides) -> dict:
    row = {
        "username": f"user{i}", "password": f"pw{i}", "status": "active" if i % 3 else "suspended",
        "download_kbps": 10240, "upload_kbps": 5120, "burst_download_kbps": None, "burst_upload_kbps": None,
        "burst_threshold_download_kbps": None, "burst_threshold_upload_kbps": None, "burst_time_seconds": None,
        "expires_at": NOW + timedelta(days=10 + i % 2), "mac_address": None, "static_ip": None,
        "simultaneous_use": 1, "ip_pool": "pool-a", "data_cap_bytes": 100 * 10**9,
        "throttled_download_kbps": 1024, "throttled_upload_kbps": 512, "usage_bytes": i * 10**10,
        "cap_window_start": NOW - timedelta(days=5), "cap_window_end": NOW + timedelta(days=25),
        "suspended_pool": "walled", "suspended_rate_limit": "256k/256k", "suspended_session_timeout": 600,
        "router_profile": None, "tier_after_bytes": [200 * 10**9], "tier_download_kbps": [512],
        "tier_upload_kbps": [256], "topup_bytes": 0, "customer_id": i,
    }
    row.update(overrides)
    return row


def fresh_copy(record: dict) -> dict:
    """The same values in new objects, as each fetched row has (strings and times are not shared by psycopg)."""
    out = {}
    for key, value in record.items():
        if isinstance(value, str):
            out[key] = "".join(list(value))
        elif isinstance(value, datetime):
            out[key] = value + timedelta(0)
        elif isinstance(value, list):
            out[key] = list(value)
        else:
            out[key] = value
    return out


def test_shared_rows_equal_rows_built_one_by_one_and_decide_the_same():
    records = [fresh_copy(view_row(i)) for i in range(30)]
    records.append(fresh_copy(view_row(30, download_kbps=20480, tier_after_bytes=None, tier_download_kbps=None,
                                       tier_upload_kbps=None, data_cap_bytes=None)))
    shared = rows_from_records(records)
    single = [PolicyRow.from_view(r) for r in records]
    assert shared == single
    for a, b in zip(shared, single, strict=True):
        request = Request(a.username)
        assert decide(a, request, NOW) == decide(b, request, NOW)
    # one object per package and per repeated value, however many rows hold it
    assert shared[1].speeds is shared[2].speeds and shared[1].cap_tiers is shared[2].cap_tiers
    assert shared[1].usage_resets_at is shared[2].usage_resets_at and shared[1].status is shared[2].status
    assert shared[30].speeds != shared[1].speeds and shared[30].cap_tiers == ()
    assert single[1].speeds is not single[2].speeds  # without the memo every row has its own


def test_positional_rows_are_ordinary_frozen_policy_rows():
    """view_row_builder makes rows through a twin class (a frozen dataclass's own __init__ was most of a full
    load's Python): they must be PolicyRows in every way, equal to from_view's, frozen, hashed alike, replaceable."""
    records = [fresh_copy(view_row(i)) for i in range(5)] + [fresh_copy(view_row(5, suspended_rate_limit=None,
                                                                                 suspended_session_timeout=None,
                                                                                 usage_bytes=None))]
    names = list(records[0])
    built = rows_from_tuples(names, [tuple(r.values()) for r in records])
    single = [PolicyRow.from_view(r) for r in records]
    assert built == single and [hash(r) for r in built] == [hash(r) for r in single]
    assert all(type(r) is PolicyRow for r in built)
    assert (built[5].suspended_rate_limit, built[5].suspended_session_timeout, built[5].usage_bytes) == (
        "256k/256k", 300, 0)
    with pytest.raises(FrozenInstanceError):
        built[0].status = "active"
    assert replace(built[1], usage_bytes=7) == replace(single[1], usage_bytes=7)
    assert decide(built[0], Request("user0"), NOW) == decide(single[0], Request("user0"), NOW)
    # an older view without router_profile, top-ups and customer_id (bench.snapshot times 0013's)
    older = [{k: v for k, v in r.items() if k not in ("router_profile", "topup_bytes", "customer_id")}
             for r in records]
    built = rows_from_tuples(list(older[0]), [tuple(r.values()) for r in older])
    assert built == [PolicyRow.from_view(r) for r in older] and built[3].customer_id is None

"""Data-cap windows in SQL (radbill_cap_window and the radius_policy view) agree with the pure periods module,
follow the operator's time zone and the package's cap period, and count only the current window's usage."""

import itertools
from datetime import UTC, date, datetime, timedelta

import asyncpg
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radbill.billing.periods import Cycle, cap_window
from tests import factories as f

ZONES = ["Asia/Dhaka", "UTC", "America/New_York", "Asia/Kathmandu", "Pacific/Chatham", "Australia/Lord_Howe"]
_sid = itertools.count(1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


cycles = st.one_of(
    st.builds(lambda d: Cycle("fixed_day", billing_day=d), st.integers(1, 31)),
    st.builds(lambda v, a: Cycle("validity_days", validity_days=v, anchor=a),
              st.integers(1, 120), st.dates(date(2024, 1, 1), date(2028, 12, 31))))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])  # read-only
@given(cap_period=st.sampled_from(["calendar_month", "billing_cycle"]), cycle=cycles, tz=st.sampled_from(ZONES),
       now=st.datetimes(datetime(2024, 1, 1), datetime(2029, 12, 31), timezones=st.just(UTC)))  # noqa: DTZ001 -- hypothesis bounds are naive
async def test_sql_cap_window_is_the_pure_one(db, cap_period, cycle, tz, now):
    row = await db.fetchrow("SELECT * FROM radbill_cap_window($1, $2, $3, $4, $5, $6, $7)", cap_period, tz,
                            cycle.kind, cycle.billing_day, cycle.validity_days, cycle.anchor, now)
    assert (row["window_start"], row["window_end"]) == cap_window(cap_period, cycle, now, tz)
    assert row["window_start"] <= now < row["window_end"]


async def capped_customer(db, cap_period="calendar_month", timezone="Asia/Dhaka", **profile):
    isp = await f.isp(db)
    await db.execute("UPDATE operators SET timezone = $2 WHERE id = $1", isp.sub["id"], timezone)
    pkg = await f.package(db, isp.operator["id"], data_cap_bytes=10_000, throttled_download_kbps=1000,
                          throttled_upload_kbps=500, cap_period=cap_period)
    bp = await f.billing_profile(db, isp.operator["id"], **profile) if profile else isp.profile
    return await f.customer(db, isp.sub["id"], pkg["id"], bp["id"], username=f"cap{next(_sid)}")


async def closed_session(db, username, start: str, stop: str, octets: int):
    n = next(_sid)
    await db.execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime,"
        " acctinputoctets, acctoutputoctets) VALUES ($1, $1, $2, '192.0.2.1', $3, $4, $5, 0)",
        f"s{n}", username, at(start), at(stop), octets)


async def policy_at(db, username, now: str):
    await db.execute("SELECT set_config('radbill.now', $1, true)", at(now).isoformat())
    return await db.fetchrow("SELECT usage_bytes, cap_window_start, cap_window_end FROM radius_policy"
                             " WHERE username = $1", username)


async def test_calendar_month_follows_the_operators_zone_not_utc(db):
    c = await capped_customer(db)
    await closed_session(db, c["username"], "2026-11-30T17:00Z", "2026-11-30T17:30Z", 7000)  # Nov 30, 23:00 Dhaka
    await closed_session(db, c["username"], "2026-11-30T19:00Z", "2026-11-30T19:30Z", 3000)  # Dec 1, 01:00 Dhaka
    november = await policy_at(db, c["username"], "2026-11-30T17:59:59Z")
    assert november["usage_bytes"] == 7000
    assert november["cap_window_end"] == at("2026-11-30T18:00Z")
    december = await policy_at(db, c["username"], "2026-11-30T19:45Z")  # still November in UTC
    assert december["usage_bytes"] == 3000
    assert (december["cap_window_start"], december["cap_window_end"]) == (at("2026-11-30T18:00Z"),
                                                                          at("2026-12-31T18:00Z"))


async def test_billing_cycle_follows_the_billing_day(db):
    c = await capped_customer(db, "billing_cycle", billing_day=10)
    await closed_session(db, c["username"], "2026-12-09T10:00Z", "2026-12-09T11:00Z", 9000)  # Dec 9 local
    await closed_session(db, c["username"], "2026-12-09T19:00Z", "2026-12-09T20:00Z", 500)  # Dec 10 local
    row = await policy_at(db, c["username"], "2026-12-20T00:00Z")
    assert row["usage_bytes"] == 500
    assert (row["cap_window_start"], row["cap_window_end"]) == (at("2026-12-09T18:00Z"), at("2027-01-09T18:00Z"))
    earlier = await policy_at(db, c["username"], "2026-12-09T17:00Z")
    assert earlier["usage_bytes"] == 9000 and earlier["cap_window_end"] == at("2026-12-09T18:00Z")


async def test_validity_cycle_counts_from_the_service_start(db):
    c = await capped_customer(db, "billing_cycle", cycle_kind="validity_days", billing_day=None, validity_days=7)
    await db.execute("UPDATE customers SET billing_anchor = '2026-12-01' WHERE id = $1", c["id"])
    row = await policy_at(db, c["username"], "2026-12-15T12:00Z")  # Dec 15 local: the third 7-day period
    assert (row["cap_window_start"], row["cap_window_end"]) == (at("2026-12-14T18:00Z"), at("2026-12-21T18:00Z"))


async def test_a_session_spanning_the_boundary_counts_its_share_of_time_in_each_window(db):
    c = await capped_customer(db, timezone="UTC")
    await closed_session(db, c["username"], "2026-11-30T23:00Z", "2026-12-01T02:00Z", 9000)
    assert (await policy_at(db, c["username"], "2026-12-01T03:00Z"))["usage_bytes"] == 6000
    assert (await policy_at(db, c["username"], "2026-11-30T23:30Z"))["usage_bytes"] == 3000


async def test_no_cap_means_no_window(db):
    isp = await f.isp(db)
    c = await f.customer(db, isp.sub["id"], isp.package["id"], isp.profile["id"], username=f"cap{next(_sid)}")
    row = await db.fetchrow("SELECT usage_bytes, cap_window_end FROM radius_policy WHERE username = $1",
                            c["username"])
    assert row["usage_bytes"] == 0 and row["cap_window_end"] is None


@pytest.mark.parametrize("value", ["monthly", ""])
async def test_cap_period_is_checked(db, value):
    isp = await f.isp(db)
    with pytest.raises(asyncpg.CheckViolationError):
        await f.package(db, isp.operator["id"], cap_period=value)


def test_pure_window_before_a_validity_anchor_extends_the_cycle_backwards():
    cycle = Cycle("validity_days", validity_days=30, anchor=date(2026, 12, 1))
    start, end = cap_window("billing_cycle", cycle, at("2026-11-20T00:00Z"), "UTC")
    assert (start, end) == (at("2026-11-01T00:00Z"), at("2026-12-01T00:00Z"))
    assert end - start == timedelta(days=30)


async def test_what_moves_a_window_notifies_the_radius_snapshot(fresh_db_url):
    """The billing profile's cycle, the customer's profile or anchor and the operator's time zone decide the window:
    changing any of them sends the customer's username on radbill_policy, as other policy changes do."""
    conn = await asyncpg.connect(fresh_db_url)
    try:
        c = await capped_customer(conn, "billing_cycle", billing_day=5)
        owner = await conn.fetchval("SELECT operator_id FROM billing_profiles WHERE id = $1", c["billing_profile_id"])
        other = await f.billing_profile(conn, owner)
        changes = ["UPDATE billing_profiles SET billing_day = 6 WHERE id = {profile}",
                   "UPDATE customers SET billing_anchor = '2026-01-02' WHERE id = {customer}",
                   f"UPDATE customers SET billing_profile_id = {other['id']} WHERE id = {{customer}}",
                   "UPDATE operators SET timezone = 'UTC' WHERE id = {operator}"]
        with psycopg.connect(fresh_db_url, autocommit=True) as listener:
            listener.execute("LISTEN radbill_policy")
            for change in changes:
                await conn.execute(change.format(profile=c["billing_profile_id"], customer=c["id"],
                                                 operator=c["operator_id"]))
                got = [n.payload for n in listener.notifies(timeout=2, stop_after=1)]
                assert got == [c["username"]], change
    finally:
        await conn.close()

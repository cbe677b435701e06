"""The dashboard's counters (migration 0049, kept by triggers) always equal a fresh aggregate of the rows.

Random changes go through the services (status actions, payments, reversals, bill runs, an import-like bulk
insert, a customer moved to another operator, a deletion); after each, dashboard.load must equal
dashboard.load_fresh for every scope, at instants around the expiries, before and after compaction."""

import random
from datetime import UTC, datetime, timedelta

import asyncpg

from radbill.errors import ValidationError
from radbill.services import billing, corrections, customers, dashboard, payments
from tests import factories as f
from tests.billing.helpers import customer, isp, scope_of

NOW = datetime(2024, 3, 10, 6, 20, tzinfo=UTC)  # 12:20 in Dhaka; an hour's expiries straddle it


async def _same(db, w, now, timezone="Asia/Dhaka"):
    for scope in (w.system, scope_of(w.operator), scope_of(w.sub, "sub_operator")):
        for at in (now, now + timedelta(minutes=25), now + timedelta(hours=3), now + timedelta(days=31)):
            counted = await dashboard.load(db, scope, at, timezone)
            fresh = await dashboard.load_fresh(db, scope, at, timezone)
            assert counted == fresh, (scope.role, at)


async def _step(db, w, rng, ids, now):
    """One random change through the services (or, for what has no service, the one statement the app runs)."""
    cid = rng.choice(ids)
    kind = rng.choice(["status", "status", "pay", "pay", "reverse", "bills", "expiry", "bulk", "move", "delete"])
    try:
        if kind == "status":
            await customers.change_status(db, w.system, cid, rng.choice(["suspend", "disable", "activate"]),
                                          "test")
        elif kind == "pay":
            await payments.record_cash_payment(db, w.system, cid, rng.randint(1, 90000), now=now,
                                               confirm_repeat=True)
        elif kind == "reverse":
            pid = await db.fetchval("SELECT id FROM payments WHERE amount_minor > reversed_minor"
                                    " AND operator_id = ANY ($1::bigint[]) ORDER BY random() LIMIT 1",
                                    [w.operator["id"], w.sub["id"]])
            if pid:
                await corrections.reverse_payment(db, w.system, pid, 1, "bounced", now=now)
        elif kind == "bills":
            await billing.generate_bills(db, now + timedelta(days=rng.randint(0, 60)), customer_ids=[cid])
        elif kind == "expiry":  # what a payment's activation does, to an instant near now
            await db.execute("UPDATE customers SET expires_at = $2 WHERE id = $1", cid,
                             now + timedelta(minutes=rng.randint(-90, 90)))
        elif kind == "bulk":  # the import's set-based write: many rows in one statement
            await db.execute("UPDATE customers SET expires_at = expires_at + interval '1 hour'"
                             " WHERE id = ANY ($1::bigint[])", rng.sample(ids, 3))
        elif kind == "move":
            await db.execute("UPDATE customers SET operator_id = $2 WHERE id = $1", cid,
                             rng.choice([w.operator["id"], w.sub["id"]]))
        elif kind == "delete":  # rows that nothing refers to yet (a customer added by mistake, its payment row)
            gone = await customer(db, w, expires_at=now)
            await f.insert(db, "payments", {"customer_id": gone["id"], "operator_id": gone["operator_id"],
                                            "amount_minor": 500, "currency": "BDT", "method": "cash"})
            await _same(db, w, now)
            await db.execute("DELETE FROM payments WHERE customer_id = $1", gone["id"])
            await db.execute("DELETE FROM customers WHERE id = $1", gone["id"])
    except ValidationError:
        pass  # a step the rules refuse (activate an active customer...) changes nothing, which is also checked


async def test_counters_equal_a_fresh_aggregate_through_random_changes(db):
    w = await isp(db)
    ids = []
    for i in range(12):
        owner = w.sub if i % 2 else w.operator
        c = await customer(db, w, owner, expires_at=NOW + timedelta(minutes=i * 10 - 60) if i % 4 else None)
        ids.append(c["id"])
    await billing.generate_bills(db, NOW, customer_ids=ids)
    await _same(db, w, NOW)
    rng = random.Random(19)
    for n in range(60):
        async with db.transaction():  # a savepoint: a failing step leaves nothing behind, as in the app
            await _step(db, w, rng, ids, NOW + timedelta(minutes=n))
        if n % 10 == 9:
            await _same(db, w, NOW + timedelta(minutes=n))
    folded = await dashboard.compact(db)
    assert folded > 0  # the deltas became one row per key...
    await _same(db, w, NOW + timedelta(hours=1))  # ...with the same sums


async def test_expiries_within_the_current_hour_count_at_the_instant(db):
    w = await isp(db)
    for minutes in (-30, -1, 0, 1, 30, 90):
        await customer(db, w, expires_at=NOW + timedelta(minutes=minutes))
    seen = await dashboard.load(db, scope_of(w.sub, "sub_operator"), NOW, "Asia/Dhaka")
    assert seen.customers == {"expired": 3, "active": 3}  # expiry at the instant itself has expired
    assert seen == await dashboard.load_fresh(db, scope_of(w.sub, "sub_operator"), NOW, "Asia/Dhaka")


async def test_a_zone_off_whole_hours_gets_the_same_figures(db):
    """Kathmandu is UTC+5:45: its midnights split the hourly buckets, so its days come from the payments."""
    w = await isp(db, timezone="Asia/Kathmandu")
    c = await customer(db, w)
    await payments.record_cash_payment(db, w.system, c["id"], 700, now=datetime(2024, 3, 9, 18, 20, tzinfo=UTC))
    await payments.record_cash_payment(db, w.system, c["id"], 300, now=datetime(2024, 3, 9, 18, 10, tzinfo=UTC))
    seen = await dashboard.load(db, w.system, NOW, "Asia/Kathmandu")
    assert seen.collected_today == 700  # 00:05 local on the 10th; the other payment was 23:55 on the 9th
    await _same(db, w, NOW, "Asia/Kathmandu")


async def test_the_app_role_cannot_write_the_counters(db):
    w = await isp(db)
    await customer(db, w)
    rows = await db.fetchval("SELECT count(*) FROM dashboard_customer_counts WHERE operator_id = $1", w.sub["id"])
    assert rows == 1
    privileges = await db.fetchval("SELECT has_table_privilege('radbill_app', 'dashboard_customer_counts', 'INSERT')"
                                   " OR has_table_privilege('radbill_app', 'dashboard_bill_counts', 'UPDATE')"
                                   " OR has_table_privilege('radbill_app', 'dashboard_payment_sums', 'DELETE')")
    assert privileges is False


async def test_the_scheduler_compacts_the_counters_as_the_app_role(fresh_db_url):
    from radbill.db.pool import SYSTEM, create_pool
    from scheduler.jobs import JobContext, all_jobs
    from tests.support.db import app_url

    owner = await asyncpg.connect(fresh_db_url)
    pool = await create_pool(app_url(fresh_db_url), default_scope=SYSTEM)
    try:
        w = await isp(owner)
        for _ in range(3):
            await customer(owner, w)  # three statements: three delta rows of +1 for the same key
        job = next(j for j in all_jobs() if j.name == "dashboard.compact")
        assert await job.run(JobContext(pool, None)) == 2
        assert await owner.fetch("SELECT status, n FROM dashboard_customer_counts") == [("active", 3)]
        job = next(j for j in all_jobs() if j.name == "dashboard.online")
        assert await job.run(JobContext(pool, None)) == 0
        assert await owner.fetchval("SELECT count(*) FROM dashboard_online") == 3  # every operator, zero too
    finally:
        await pool.close()
        await owner.close()


async def test_online_is_the_minutes_count_with_its_time_or_counted_live(db):
    w = await isp(db)
    a, b = await customer(db, w), await customer(db, w, w.operator)
    for n, who in enumerate((a, a, b)):  # a has two sessions: one customer online
        await f.insert(db, "radacct", {"acctsessionid": f"s{n}", "acctuniqueid": f"dash-{w.sub['id']}-{n}",
                                       "username": who["username"], "nasipaddress": "10.0.1.1",
                                       "acctstarttime": NOW - timedelta(minutes=5)})
    scope = scope_of(w.operator)
    live = await dashboard.load(db, scope, NOW, "Asia/Dhaka")
    assert (live.online, live.online_as_of) == (2, None)  # never counted: counted now
    await dashboard.count_online(db)
    counted_at = await db.fetchval("SELECT counted_at FROM dashboard_online WHERE operator_id = $1", w.sub["id"])
    await db.execute("UPDATE radacct SET acctstoptime = $2 WHERE username = $1", b["username"], NOW)
    dated = await dashboard.load(db, scope, counted_at + timedelta(minutes=1), "Asia/Dhaka")
    assert (dated.online, dated.online_as_of) == (2, counted_at)  # the minute's figure, said to be of its time
    stale = await dashboard.load(db, scope, counted_at + timedelta(minutes=6), "Asia/Dhaka")
    assert (stale.online, stale.online_as_of) == (1, None)  # the scheduler stopped: counted live again

"""The scheduler's billing jobs: the bill run is idempotent; auto-suspension goes through suspend_customer."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from radbill.db.pool import SYSTEM, create_pool
from radbill.services.outbox import DispatchSettings
from scheduler.billing_jobs import generate_due_bills, suspend_overdue
from scheduler.jobs import JobContext, all_jobs
from tests.support.billing import issue_bills
from tests.support.db import app_url, connect


@pytest.fixture
async def ctx(fresh_db_url):
    pool = await create_pool(app_url(fresh_db_url), max_size=3, default_scope=SYSTEM)
    yield JobContext(pool, DispatchSettings())
    await pool.close()


def test_the_billing_jobs_are_registered():
    names = {spec.name for spec in all_jobs()}
    assert {"billing.generate", "billing.suspend_overdue"} <= names


async def test_the_bill_run_job_bills_each_period_once(ctx, tree, fresh_db_url):
    async with connect(fresh_db_url) as conn:
        await conn.execute("UPDATE customers SET billing_anchor = '2000-01-01'")
    assert await generate_due_bills(ctx) == 3
    assert await generate_due_bills(ctx) == 0
    async with connect(fresh_db_url) as conn:
        assert await conn.fetchval("SELECT count(*) FROM bills") == 3


async def test_overdue_customers_are_suspended_with_a_reason_and_disconnected(ctx, tree, fresh_db_url):
    bills = await issue_bills(fresh_db_url)  # due now, no grace: overdue at once
    a1, b = tree.customers["a1"], tree.customers["b"]
    async with connect(fresh_db_url) as conn:
        await conn.execute("UPDATE billing_profiles SET auto_suspend = false WHERE operator_id = $1",
                           tree.ops["op_b"]["id"])
        await conn.execute("UPDATE customers SET expires_at = $1", datetime.now(UTC) + timedelta(days=2))
        await conn.execute(
            "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime)"
            " VALUES ('s1', 'u-a1-1', 'cust-a1', '10.0.1.1', now())")
    result = await suspend_overdue(ctx)
    assert result == {"suspended": 2, "failed": 0}  # a1 and a2; b's profile does not auto-suspend
    async with connect(fresh_db_url) as conn:
        rows = {r["username"]: r for r in await conn.fetch("SELECT username, status, status_reason FROM customers")}
        outbox = await conn.fetchrow("SELECT * FROM outbox WHERE kind = 'disconnect'")
        audit = await conn.fetchrow("SELECT * FROM audit_log WHERE action = 'customer.suspend' AND object_id = $1",
                                    a1["id"])
    assert rows["cust-a1"]["status"] == "suspended"
    assert rows["cust-a1"]["status_reason"] == f"auto-suspended: bill #{bills['a1']['id']} unpaid after its due " \
                                               "date and grace days"
    assert rows["cust-b"]["status"] == "active" and b["id"]
    payload = json.loads(outbox["payload"])
    assert (payload["username"], payload["reason"]) == ("cust-a1", "suspended")
    assert audit["account_id"] is None and audit["operator_id"] == tree.ops["sub_a1"]["id"]
    assert await suspend_overdue(ctx) == {"suspended": 0, "failed": 0}  # nothing left to do


async def test_expired_prepaid_customers_are_suspended(ctx, tree, fresh_db_url):
    async with connect(fresh_db_url) as conn:
        await conn.execute("UPDATE customers SET expires_at = $1 WHERE username = 'cust-b'",
                           datetime.now(UTC) - timedelta(minutes=1))
    assert (await suspend_overdue(ctx))["suspended"] == 1
    async with connect(fresh_db_url) as conn:
        row = await conn.fetchrow("SELECT status, status_reason FROM customers WHERE username = 'cust-b'")
    assert (row["status"], row["status_reason"]) == ("suspended", "auto-suspended: prepaid validity expired")

"""End to end with a real FreeRADIUS: the auto-suspend job locks an overdue customer out; a cash payment in the
admin lets the customer back in, with a Session-Timeout that runs to the extended expiry."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from radbill.billing.service import PaidSpan
from radbill.db.pool import SYSTEM, create_pool
from radbill.passwords import generate_nas_secret
from radbill.policy import MESSAGES
from radbill.services.outbox import DispatchSettings
from scheduler.billing_jobs import suspend_overdue
from scheduler.jobs import JobContext
from tests.support.billing import form_key, issue_bills
from tests.support.db import app_url, connect
from tests.support.radius import running_radius
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def login(radius, username, password):
    client = radius.client()
    return client.send(client.access_request(username, password))


async def test_overdue_customer_is_suspended_rejected_then_paid_and_accepted(pg_server, fresh_db_url, tree,
                                                                             make_client):
    secret = generate_nas_secret()
    customer = tree.customers["a1"]
    async with connect(fresh_db_url) as conn:
        await conn.execute("INSERT INTO nas (nasname, shortname, secret, operator_id) VALUES ('127.0.0.1', 'e2e', $1,"
                           " $2)", secret, tree.ops["op_a"]["id"])
        before = await conn.fetchval("UPDATE customers SET expires_at = $2 WHERE id = $1 RETURNING expires_at",
                                     customer["id"], datetime.now(UTC) + timedelta(days=1))
    bills = await issue_bills(fresh_db_url)  # due now, no grace days: overdue at once
    username, password = customer["username"], customer["radius_password"]

    with running_radius(fresh_db_url, Path(pg_server.base) / "radius-billing", secret) as radius:
        assert wait_until(lambda: (r := login(radius, username, password)) is not None and r.accepted, 5)

        pool = await create_pool(app_url(fresh_db_url), max_size=2, default_scope=SYSTEM)
        try:
            assert (await suspend_overdue(JobContext(pool, DispatchSettings())))["suspended"] >= 1
        finally:
            await pool.close()
        rejected = wait_until(lambda: (r := login(radius, username, password)) is not None
                              and r.first("Reply-Message") == MESSAGES["suspended"] and r, 5)
        assert rejected and rejected.code == "Access-Reject"

        c = await make_client("suba1")
        path = f"/customers/{customer['id']}/collect"
        response = await c.post(path, {"kind": "cash", "bill_id": str(bills["a1"]["id"]), "amount": "500.00",
                                       "idempotency_key": await form_key(c, path)}, token_from=path)
        assert response.status == 303
        async with connect(fresh_db_url) as conn:
            row = await conn.fetchrow("SELECT status, expires_at FROM customers WHERE id = $1", customer["id"])
        assert row["status"] == "active"
        paid = PaidSpan.of_bill(bills["a1"]["period_start"], bills["a1"]["period_end"], "Asia/Dhaka")
        assert row["expires_at"] == before + (paid.end_at - paid.start_at)  # the day left + the paid period

        accepted = wait_until(lambda: (r := login(radius, username, password)) is not None and r.accepted and r, 5)
        assert accepted, radius.log[-3000:]
        expected = (row["expires_at"] - datetime.now(UTC)).total_seconds()
        assert abs(accepted.first("Session-Timeout") - expected) < 30
        assert accepted.first("Session-Timeout") > 28 * 86400

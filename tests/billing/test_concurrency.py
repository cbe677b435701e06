"""Races on a real database with separate connections: reseller balance, concurrent bill runs, double submits."""

import asyncio
from datetime import UTC, date, datetime

import asyncpg

from radbill.services import billing, ledger, payments
from radbill.services.ledger import BalanceInsufficient
from tests.billing.helpers import customer, isp, scope_of

NOW = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)


async def seed(url, customers: int, **isp_values):
    conn = await asyncpg.connect(url)
    try:
        w = await isp(conn, **isp_values)
        cs = [await customer(conn, w, billing_anchor=date(2024, 1, 1)) for _ in range(customers)]
        return w, [c["id"] for c in cs]
    finally:
        await conn.close()


async def connections(url, n):
    return await asyncio.gather(*(asyncpg.connect(url) for _ in range(n)))


async def assert_ledger_balanced(conn):
    assert await conn.fetchval("SELECT count(*) FROM (SELECT txn_id FROM ledger_entries GROUP BY txn_id, currency"
                               " HAVING sum(amount_minor) <> 0) x") == 0
    assert await conn.fetchval(
        "SELECT count(*) FROM operators o WHERE o.balance_minor <> -coalesce((SELECT sum(e.amount_minor)"
        " FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id"
        " WHERE a.kind = 'operator_balance' AND a.operator_id = o.id), 0)") == 0


async def test_fifty_payments_against_a_balance_for_ten(fresh_db_url):
    w, ids = await seed(fresh_db_url, 50, credit_limit_minor=0, wholesale_minor=35000)
    conns = await connections(fresh_db_url, 50)
    try:
        await billing.generate_bills(conns[0], NOW, w.system, ids)
        await ledger.top_up_reseller(conns[0], scope_of(w.operator), w.sub["id"], 10 * 35000)
        results = await asyncio.gather(
            *(payments.record_cash_payment(c, w.system, cid, 50000, idempotency_key=f"pay-{cid}", now=NOW)
              for c, cid in zip(conns, ids, strict=True)), return_exceptions=True)
        ok = [r for r in results if isinstance(r, payments.PaymentOutcome)]
        refused = [r for r in results if isinstance(r, BalanceInsufficient)]
        assert (len(ok), len(refused)) == (10, 40), [r for r in results if isinstance(r, Exception)][:3]
        db = conns[0]
        assert await db.fetchval("SELECT balance_minor FROM operators WHERE id = $1", w.sub["id"]) == 0
        assert await db.fetchval("SELECT count(*) FROM payments") == 10
        assert await db.fetchval("SELECT count(*) FROM bills WHERE status = 'paid'") == 10
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms'") == 10
        await assert_ledger_balanced(db)
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def test_concurrent_bill_runs_make_one_bill_per_customer_period(fresh_db_url):
    w, ids = await seed(fresh_db_url, 120, credit_limit_minor=10**9)
    conns = await connections(fresh_db_url, 4)
    try:
        for cid in ids[::3]:  # some wallets, so the advance path races too
            await payments.add_advance_payment(conns[0], w.system, cid, 30000, now=NOW)
        counts = await asyncio.gather(*(billing.generate_bills(c, NOW, w.system) for c in conns))
        assert sum(counts) == 120
        db = conns[0]
        assert await db.fetchval("SELECT count(*) FROM bills") == 120
        assert await db.fetchval("SELECT count(DISTINCT (customer_id, period_start)) FROM bills") == 120
        assert await db.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'bill'") == 240
        assert await db.fetchval("SELECT count(*) FROM bills WHERE status = 'partial'") == 40
        await assert_ledger_balanced(db)
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def test_a_double_submitted_payment_is_recorded_once(fresh_db_url):
    w, (cid,) = await seed(fresh_db_url, 1, credit_limit_minor=10**9)
    conns = await connections(fresh_db_url, 5)
    try:
        await billing.generate_bills(conns[0], NOW, w.system, [cid])
        outcomes = await asyncio.gather(
            *(payments.record_cash_payment(c, w.system, cid, 50000, idempotency_key="form-42", now=NOW) for c in conns))
        assert len({o.payment["id"] for o in outcomes}) == 1
        assert sorted(o.duplicate for o in outcomes) == [False, True, True, True, True]
        db = conns[0]
        assert await db.fetchval("SELECT count(*) FROM payments") == 1
        assert await db.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'payment'") == 2
        assert await db.fetchval("SELECT balance_minor FROM operators WHERE id = $1", w.sub["id"]) == -35000
    finally:
        await asyncio.gather(*(c.close() for c in conns))

"""`make bench-billing`: one bill run for N customers (default 100,000) on a throwaway PostgreSQL cluster.

    python -m bench.billing --customers 100000

Seeds set-based (generate_series), then times, from the same state: the reference path (the bill run as it was
before it became set-based end to end: tests/billing/test_bill_run_equal.py proves both write the same rows; skip it
with --no-reference), billing.generate_bills in one transaction on one connection (both rolled back, the tables
vacuumed after each), and the scheduler's run, bill_run.generate_bills_in_batches (batches of 100,000 customers,
each its own transaction, over two connections; tests/billing/test_bill_run_batches.py proves it writes what
generate_bills writes), which is kept. Then a second run (must create nothing) and the next period's run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

import asyncpg

from bench.db import throwaway_database
from radbill.db.pool import SYSTEM, create_pool
from radbill.services import billing
from radbill.services.bill_run import generate_bills_in_batches
from radbill.services.billing import generate_bills, preview_bills
from tests.billing.test_bill_run_equal import ENQUEUE_0014, generate_bills_reference

TARGET_SECONDS = 60.0  # issue 19 item 6: 1,000,000 customers

SEED_SQL = """
WITH root AS (INSERT INTO operators (kind, name) VALUES ('group_admin', 'Bench Group') RETURNING id),
     isp AS (INSERT INTO operators (kind, parent_id, name) SELECT 'operator', id, 'Bench ISP' FROM root RETURNING id),
     sub AS (INSERT INTO operators (kind, parent_id, name, credit_limit_minor)
             SELECT 'sub_operator', id, 'Bench Reseller', 1000000000000 FROM isp RETURNING id),
     vat AS (INSERT INTO vat_profiles (operator_id, name, rate_basis_points) SELECT id, 'VAT 5%', 500 FROM isp RETURNING id)
SELECT 1;
UPDATE operators SET vat_profile_id = (SELECT id FROM vat_profiles) WHERE kind = 'operator';
"""


async def seed(conn: asyncpg.Connection, customers: int) -> None:
    await conn.execute(SEED_SQL)
    isp = await conn.fetchval("SELECT id FROM operators WHERE kind = 'operator'")
    sub = await conn.fetchval("SELECT id FROM operators WHERE kind = 'sub_operator'")
    await conn.execute(
        "INSERT INTO packages (operator_id, name, download_kbps, upload_kbps, price_minor)"
        " SELECT $1, 'Home ' || n, 10240 * n, 5120 * n, 50000 * n FROM generate_series(1, 4) n", isp)
    await conn.execute("INSERT INTO package_assignments (operator_id, package_id, wholesale_price_minor)"
                       " SELECT $1, id, price_minor * 7 / 10 FROM packages", sub)
    await conn.execute(
        "INSERT INTO billing_profiles (operator_id, name, cycle_kind, billing_day, validity_days, billing_type, due_days)"
        " VALUES ($1, 'Monthly 1st', 'fixed_day', 1, NULL, 'prepaid', 7),"
        "        ($1, 'Monthly 31st', 'fixed_day', 31, NULL, 'postpaid', 10),"
        "        ($1, '30 days', 'validity_days', NULL, 30, 'prepaid', 3)", isp)
    await conn.execute(
        "INSERT INTO customers (operator_id, username, radius_password, name, mobile, connection_type, package_id,"
        "                       billing_profile_id, billing_anchor, custom_price_minor)"
        " SELECT CASE WHEN n % 2 = 0 THEN $1::bigint ELSE $2::bigint END, 'bench' || n, 'pw' || n, 'Customer ' || n,"
        "        '+88017' || lpad(n::text, 8, '0'), 'pppoe',"
        "        (SELECT id FROM packages ORDER BY id OFFSET n % 4 LIMIT 1),"
        "        (SELECT id FROM billing_profiles ORDER BY id OFFSET n % 3 LIMIT 1),"
        "        DATE '2024-01-01' + (n % 60), CASE WHEN n % 10 = 0 THEN 33333 END"
        "   FROM generate_series(1, $3::int) n", isp, sub, customers)
    await conn.execute("ANALYZE")


async def _timed(run) -> tuple[int, float]:
    started = time.perf_counter()
    created = await run
    seconds = round(time.perf_counter() - started, 2)
    print(f"{'(so far)':>32}: {created} in {seconds} s", flush=True)  # a long run shows its figures as they come
    return created, seconds


async def bench(url: str, customers: int, reference: bool = True, next_periods: bool = True) -> dict:
    conn = await asyncpg.connect(url)
    pool = await create_pool(url, max_size=3, default_scope=SYSTEM)  # the scheduler's kind: 60 s command timeout
    try:
        started = time.perf_counter()
        await seed(conn, customers)
        seeded = time.perf_counter() - started
        now = datetime(2024, 4, 2, 6, 0, tzinfo=UTC)
        preview, preview_seconds = await _timed(preview_count(conn, now))
        figures = {"customers": customers, "seed_seconds": round(seeded, 2), "preview_bills": preview,
                   "preview_seconds": preview_seconds}
        if reference:
            await conn.execute(ENQUEUE_0014)
            figures["reference_bills"], figures["reference_seconds"] = await _rolled_back(
                conn, generate_bills_reference(conn, now))
        # the run as on main before issue 19 item 6 (no plan hints, 0009's balance check), then the same run in one
        # transaction on one connection (billing.generate_bills), then in batches over two (bill_run, the scheduler's
        # job), from the same state
        figures["main_bills"], figures["main_seconds"] = await _rolled_back(conn, generate_bills_as_on_main(conn, now))
        figures["one_transaction_bills"], figures["one_transaction_seconds"] = await _rolled_back(
            conn, generate_bills(conn, now))
        figures["bills"], figures["seconds"] = await _timed(generate_bills_in_batches(pool, now))
        figures["bills_per_second"] = round(figures["bills"] / figures["seconds"])
        figures["ledger_entries"] = await conn.fetchval("SELECT count(*) FROM ledger_entries")
        figures["second_run_bills"], figures["second_run_seconds"] = await _timed(generate_bills_in_batches(pool, now))
        # the next two periods (accounts exist, no first-run inserts): one connection, then two (the later period
        # has the larger tables, so the comparison does not favour two)
        for month, workers in ((5, 1), (6, 2)) if next_periods else ():
            later = datetime(2024, month, 2, 6, 0, tzinfo=UTC)
            figures[f"period_{month}_{workers}_connections_bills"], figures[f"period_{month}_{workers}_connections_s"] = (
                await _timed(generate_bills_in_batches(pool, later, workers=workers)))
        return figures
    finally:
        await pool.close()
        await conn.close()


# migration 0009's balance check: every transaction a statement touched, joined back through the txn_id index
BALANCED_0009 = """
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    unbalanced record;
BEGIN
    SELECT e.txn_id, e.currency INTO unbalanced FROM ledger_entries e
     WHERE e.txn_id IN (SELECT DISTINCT txn_id FROM inserted) GROUP BY e.txn_id, e.currency
    HAVING sum(e.amount_minor) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in %', unbalanced.txn_id, unbalanced.currency;
    END IF;
    RETURN NULL;
END $$
"""


async def generate_bills_as_on_main(conn: asyncpg.Connection, now: datetime) -> int:
    """generate_bills as it stood at d3acd8b: planner defaults (JIT on, nested loops allowed) and 0009's balance
    check, both undone with the caller's rolled-back transaction."""
    await conn.execute(BALANCED_0009)
    hints = billing._PLAN_HINTS, billing._PLAN_HINTS_DONE
    billing._PLAN_HINTS, billing._PLAN_HINTS_DONE = "SELECT 1", "SELECT $1::text"
    try:
        return await generate_bills(conn, now)
    finally:
        billing._PLAN_HINTS, billing._PLAN_HINTS_DONE = hints


async def preview_count(conn: asyncpg.Connection, now: datetime) -> int:
    return len(await preview_bills(conn, now))


async def _rolled_back(conn: asyncpg.Connection, run) -> tuple[int, float]:
    """Time `run` in a transaction that is rolled back, then vacuum what it touched: the next run starts equal."""
    tx = conn.transaction()
    await tx.start()
    try:
        return await _timed(run)
    finally:
        await tx.rollback()
        await conn.execute("VACUUM ANALYZE bills, ledger_accounts, ledger_entries, outbox, customers, operators,"
                           " dashboard_bill_counts, dashboard_customer_counts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--no-reference", action="store_true", help="skip the reference run (slow at 1M customers)")
    parser.add_argument("--no-next-periods", action="store_true", help="skip the next two periods' runs")
    args = parser.parse_args()
    with throwaway_database("radbill-bench-billing-") as url:
        figures = asyncio.run(bench(url, args.customers, not args.no_reference, not args.no_next_periods))
    for key, value in figures.items():
        print(f"{key:>32}: {value}")
    verdict = "OK" if figures["seconds"] < TARGET_SECONDS else "SLOW"
    print(f"{'target':>32}: < {TARGET_SECONDS:.0f} s for {figures['customers']} customers -> {verdict}")


if __name__ == "__main__":
    main()

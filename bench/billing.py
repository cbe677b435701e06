"""`make bench-billing`: one bill run for N customers (default 100,000) on a throwaway PostgreSQL cluster.

    python -m bench.billing --customers 100000

Seeds set-based (generate_series), then times radbill.services.billing.generate_bills and prints bills/s,
the total seconds, and how many ledger entries the run posted. A second run must create nothing. Before it, the
same run by the reference path (the bill run as it was before it became set-based end to end:
tests/billing/test_bill_run_equal.py, which proves both write the same rows) is timed and rolled back, then the
tables it touched are vacuumed, so both start from the same state.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

import asyncpg

from bench.db import throwaway_database
from radbill.services.billing import generate_bills, preview_bills
from tests.billing.test_bill_run_equal import ENQUEUE_0014, generate_bills_reference

TARGET_SECONDS = 10.0

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


async def bench(url: str, customers: int, reference: bool = True) -> dict:
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        await seed(conn, customers)
        seeded = time.perf_counter() - started
        now = datetime(2024, 4, 2, 6, 0, tzinfo=UTC)
        started = time.perf_counter()
        preview = len(await preview_bills(conn, now))
        preview_seconds = time.perf_counter() - started
        reference_created = reference_seconds = None
        if reference:
            await conn.execute(ENQUEUE_0014)
            tx = conn.transaction()
            await tx.start()
            started = time.perf_counter()
            reference_created = await generate_bills_reference(conn, now)
            reference_seconds = round(time.perf_counter() - started, 2)
            await tx.rollback()
            await conn.execute("VACUUM ANALYZE bills, ledger_accounts, ledger_entries, outbox, customers, operators")
        started = time.perf_counter()
        created = await generate_bills(conn, now)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        again = await generate_bills(conn, now)
        again_seconds = time.perf_counter() - started
        entries = await conn.fetchval("SELECT count(*) FROM ledger_entries")
        # the same run again on a fresh period, split over `workers` connections (each batch its own transaction)
        later = datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM customers ORDER BY id")]
        workers = await asyncio.gather(*(asyncpg.connect(url) for _ in range(2)))
        started = time.perf_counter()
        parallel = sum(await asyncio.gather(*(generate_bills(w, later, customer_ids=ids[i::2])
                                              for i, w in enumerate(workers))))
        parallel_seconds = time.perf_counter() - started
        await asyncio.gather(*(w.close() for w in workers))
        return {"customers": customers, "seed_seconds": round(seeded, 2), "preview_bills": preview,
                "preview_seconds": round(preview_seconds, 2), "reference_bills": reference_created,
                "reference_seconds": reference_seconds, "bills": created, "seconds": round(seconds, 2),
                "bills_per_second": round(created / seconds), "ledger_entries": entries,
                "second_run_bills": again, "second_run_seconds": round(again_seconds, 2),
                "next_period_2_connections_bills": parallel,
                "next_period_2_connections_seconds": round(parallel_seconds, 2)}
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--no-reference", action="store_true", help="skip the reference run (slow at 1M customers)")
    args = parser.parse_args()
    with throwaway_database("radbill-bench-billing-") as url:
        figures = asyncio.run(bench(url, args.customers, not args.no_reference))
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    verdict = "OK" if figures["seconds"] < TARGET_SECONDS else "SLOW"
    print(f"{'target':>20}: < {TARGET_SECONDS:.0f} s for {figures['customers']} customers -> {verdict}")


if __name__ == "__main__":
    main()

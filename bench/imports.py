"""`make bench-imports`: a 10,000-row customer file through read → review → import (target < 10 s).

    python -m bench.imports --rows 10000 [--bill] [--only set|one] [--pool]

Builds the template's CSV with N rows, then times the pure read, the dry-run review, and the background
import on a throwaway PostgreSQL, twice in one run: the set-based write (customer_bulk, what run_import does)
and, as the baseline, every row through customer_records.create_customer; prints rows/s for each. `--pool`: every
row is a static customer taking the next free address of one IP pool (the "IP pool" column; a /17 with 50 of its first
350 addresses held by other customers).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import time

from bench.db import throwaway_database
from radbill import importing
from radbill.db.pool import create_pool, scoped
from radbill.services import imports
from radbill.tenancy import Scope

TARGET_SECONDS = 10.0
POOL = ("bench-pool", "10.64.0.1", "10.64.127.254")


def build_file(rows: int, pool: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f.label for f in importing.FIELDS])
    for n in range(rows):
        cells = {"name": f"Customer {n}", "mobile": f"017{n:08d}", "address": f"House {n}",
                 "zone": "North" if n % 2 else "South", "username": f"bench{n:06d}", "connection_type": "PPPoE",
                 "package": "Home 10" if n % 3 else "Fast 50", "billing_profile": "Monthly",
                 "ip_pool": POOL[0] if pool else ""}
        writer.writerow([cells.get(f.key, "") for f in importing.FIELDS])
    return ("\ufeff" + out.getvalue()).encode()


async def seed(conn) -> Scope:
    root = await conn.fetchval("INSERT INTO operators (kind, name) VALUES ('group_admin', 'Bench') RETURNING id")
    op = await conn.fetchrow("INSERT INTO operators (kind, parent_id, name) VALUES ('operator', $1, 'Bench ISP')"
                             " RETURNING id, path::text AS path", root)
    await conn.execute("INSERT INTO packages (operator_id, name, download_kbps, upload_kbps, price_minor)"
                       " VALUES ($1, 'Home 10', 10240, 5120, 50000), ($1, 'Fast 50', 51200, 25600, 150000)", op["id"])
    await conn.execute("INSERT INTO billing_profiles (operator_id, name, cycle_kind, billing_day, billing_type)"
                       " VALUES ($1, 'Monthly', 'fixed_day', 1, 'prepaid')", op["id"])
    await conn.execute("INSERT INTO zones (operator_id, name) VALUES ($1, 'North'), ($1, 'South')", op["id"])
    await conn.execute("INSERT INTO ip_pools (operator_id, name, start_ip, end_ip) VALUES ($1, $2, $3, $4)",
                       op["id"], *POOL)
    # a few addresses are taken already, so the search skips some as it would in a running network
    await conn.execute(
        "INSERT INTO customers (operator_id, username, radius_password, name, connection_type, static_ip,"
        " package_id, billing_profile_id) SELECT $1, 'held' || n, 'x', 'Held', 'static', '10.64.0.1'::inet + n * 7,"
        " (SELECT min(id) FROM packages), (SELECT min(id) FROM billing_profiles) FROM generate_series(0, 49) n",
        op["id"])
    return Scope(account_id=None, operator_id=op["id"], path=op["path"], role="operator")


async def timed(pool, scope: Scope, data: bytes, rows: int, bill: bool, one_by_one: bool) -> tuple:
    """read, review, import and total seconds of one import of `data`."""
    started = time.perf_counter()
    table = importing.read_table(data, "bench.csv")
    read_s = time.perf_counter() - started
    async with pool.acquire() as conn:
        batch_id = await imports.create_batch(conn, scope, table, filename="bench.csv")
        t = time.perf_counter()
        _, _, review = await imports.review(conn, scope, batch_id)
        review_s = time.perf_counter() - t
        assert review.count("new") == rows, [r.errors for r in review.rows if r.errors][:3]
        await imports.start_import(conn, scope, batch_id, bill=bill)
    t = time.perf_counter()
    await imports.run_import(pool, scope, batch_id, one_by_one=one_by_one)
    import_s = time.perf_counter() - t
    total = time.perf_counter() - started
    async with pool.acquire() as conn:
        batch = await conn.fetchrow("SELECT status, created_count, error FROM import_batches WHERE id = $1", batch_id)
    assert batch["status"] == "done" and batch["created_count"] == rows, dict(batch)
    return read_s, review_s, import_s, total


async def run(url: str, rows: int, bill: bool, one_by_one: bool, ip_pool: bool = False) -> float:
    data = build_file(rows, ip_pool)
    pool = await create_pool(url, max_size=4)
    try:
        async with pool.acquire() as conn:
            scope = await seed(conn)
        with scoped(scope.path):  # the admin's connections carry the login's scope: the pools it may use
            read_s, review_s, import_s, total = await timed(pool, scope, data, rows, bill, one_by_one)
    finally:
        await pool.close()
    path = "one by one (baseline)" if one_by_one else "set-based"
    path += ", pooled" if ip_pool else ""
    print(f"{path:>22}: {rows} rows ({len(data) / 1e6:.1f} MB CSV, bill={'now' if bill else 'next cycle'}): read {read_s:.2f} s, "
          f"review {review_s:.2f} s, import {import_s:.2f} s; total {total:.2f} s = {rows / total:,.0f} rows/s "
          f"(target < {TARGET_SECONDS:.0f} s: {'ok' if total < TARGET_SECONDS else 'MISSED'})")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--bill", action="store_true", help="bill imported customers now (the slower path)")
    parser.add_argument("--only", choices=("set", "one"), help="run one path only (default: both, same run)")
    parser.add_argument("--pool", action="store_true", help="every row takes the next free address of an IP pool")
    args = parser.parse_args()
    for one_by_one in (False, True):
        if args.only and args.only != ("one" if one_by_one else "set"):
            continue
        with throwaway_database("radbill-bench-imports-") as url:
            asyncio.run(run(url, args.rows, args.bill, one_by_one, args.pool))


if __name__ == "__main__":
    main()

"""One save's "next free address of the pool" in a pool that already holds many customers: radbill_next_free_ips
(0063, the gaps between used addresses) against 0036's walk over every address of the range, same data, same run.

    python -m bench.ip_pool_search [--used 10000] [--others 0] [--calls 200]

Seeds a /17 pool with `--used` static customers (every 97th address left free, so there are gaps to find), 500
open sessions and `--others` PPPoE customers without a static address elsewhere in the system, then times `--calls` single-address lookups through each definition, each in its own transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg

from bench.db import throwaway_database
from radbill.db.pool import SYSTEM, set_scope

# 0036's definition, kept here as the baseline only
WALK_SQL = """
CREATE FUNCTION bench_walk_next_free_ip(pool_id bigint) RETURNS inet LANGUAGE plpgsql AS $$
DECLARE p ip_pools; free_ip inet;
BEGIN
    SELECT * INTO p FROM ip_pools WHERE id = pool_id;
    PERFORM pg_advisory_xact_lock(36036, pool_id::integer);
    SELECT p.start_ip + g INTO free_ip FROM generate_series(0::bigint, p.end_ip - p.start_ip) AS g
     WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.static_ip = p.start_ip + g)
       AND NOT EXISTS (SELECT 1 FROM radacct a WHERE a.acctstoptime IS NULL AND a.framedipaddress = p.start_ip + g)
     ORDER BY g LIMIT 1;
    RETURN free_ip;
END $$"""


async def seed(conn, used: int, others: int) -> int:
    root = await conn.fetchval("INSERT INTO operators (kind, name) VALUES ('group_admin', 'Bench') RETURNING id")
    op = await conn.fetchval("INSERT INTO operators (kind, parent_id, name) VALUES ('operator', $1, 'Bench ISP')"
                             " RETURNING id", root)
    pkg = await conn.fetchval("INSERT INTO packages (operator_id, name, download_kbps, upload_kbps, price_minor)"
                              " VALUES ($1, 'Static', 10240, 5120, 50000) RETURNING id", op)
    profile = await conn.fetchval("INSERT INTO billing_profiles (operator_id, name, cycle_kind, billing_day,"
                                  " billing_type) VALUES ($1, 'Monthly', 'fixed_day', 1, 'prepaid') RETURNING id", op)
    pool = await conn.fetchval("INSERT INTO ip_pools (operator_id, name, start_ip, end_ip)"
                               " VALUES ($1, 'bench', '10.64.0.1', '10.64.127.254') RETURNING id", op)
    await conn.execute(
        "INSERT INTO customers (operator_id, username, radius_password, name, connection_type, static_ip, package_id,"
        " billing_profile_id) SELECT $1, 'c' || n, 'x', 'C', 'static', '10.64.0.1'::inet + n + n / 96, $2, $3"
        " FROM generate_series(0, $4 - 1) n", op, pkg, profile, used)
    await conn.execute(
        "INSERT INTO customers (operator_id, username, radius_password, name, connection_type, package_id,"
        " billing_profile_id) SELECT $1, 'p' || n, 'x', 'P', 'pppoe', $2, $3 FROM generate_series(1, $4) n",
        op, pkg, profile, others)
    await conn.execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, framedipaddress)"
        " SELECT 's' || n, 'u' || n, 'c' || n, '10.0.0.1', '10.64.0.1'::inet + $1 + n * 3 FROM generate_series(0, 499) n",
        used + used // 96)
    await conn.execute("ANALYZE")
    return pool


async def timed(conn, sql: str, pool: int, calls: int) -> tuple[float, str]:
    started = time.perf_counter()
    for _ in range(calls):
        async with conn.transaction():
            address = await conn.fetchval(sql, pool)
    return (time.perf_counter() - started) / calls * 1000, address


async def run(url: str, used: int, others: int, calls: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await set_scope(conn, SYSTEM)
        pool = await seed(conn, used, others)
        await conn.execute(WALK_SQL)
        for _ in range(2):  # interleaved, twice: the second round is the one to read
            gaps = await timed(conn, "SELECT host(a) FROM radbill_next_free_ips($1, 1) a", pool, calls)
            walk = await timed(conn, "SELECT host(bench_walk_next_free_ip($1))", pool, calls)
        assert gaps[1] == walk[1], (gaps, walk)
        print(f"{used} customers in a /17 pool, {others} others: next free address {gaps[1]}; gaps (0063) {gaps[0]:.2f} ms, "
              f"walk (0036) {walk[0]:.2f} ms per save ({calls} calls each)")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--used", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=0)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with throwaway_database("radbill-bench-pools-") as url:
        asyncio.run(run(url, args.used, args.others, args.calls))


if __name__ == "__main__":
    main()

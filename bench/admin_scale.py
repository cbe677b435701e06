"""`make bench-admin-scale`: the admin at 1,000,000 customers, with the same at 100,000 as the baseline.

    python -m bench.admin_scale --customers 100000 1000000 --runs 70

Per size, on a throwaway PostgreSQL: a set-based seed (bench.dashboard.seed: 5 operators, 50 sub-operators,
packages, one bill per customer, a payment for one in three, radacct rows = customers), then over the admin's
own service functions as radbill_app with the scope set (row-level security on, as in production):
customer search p95 (name, username, mobile, id, status filter, paging; goal < 100 ms), dashboard p95
(goal < 300 ms), one month's bill run over every active customer (billing.generate_bills, what the scheduler
runs; goal < 60 s), and the payment CSV export's peak RSS in a child process, streaming a tenth of the
payments vs all of them (flat memory is the goal).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import customers as customer_bench
from bench import dashboard as dashboard_bench
from bench.db import app_url, throwaway_database
from radbill.db.pool import SERVER_SETTINGS, set_scope
from radbill.services import billing, dashboard, reports
from tests.services.search_reference import search_reference

GOALS = {"search_p95_ms": 100, "dashboard_p95_ms": 300, "bill_run_s": 60}


async def bill_run(url: str) -> dict:
    """The next month's bills for every customer the scheduler would bill (the seed billed November)."""
    conn = await asyncpg.connect(url)
    try:
        active = await conn.fetchval("SELECT count(*) FROM customers WHERE status = 'active'")
        t = time.perf_counter()
        created = await billing.generate_bills(conn, datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
        return {"active": active, "bills": created, "bill_run_s": round(time.perf_counter() - t, 1)}
    finally:
        await conn.close()


async def count_online(url: str) -> float:
    conn = await asyncpg.connect(url)
    try:
        t = time.perf_counter()
        await dashboard.count_online(conn)
        return round(time.perf_counter() - t, 2)
    finally:
        await conn.close()


async def export_child(url: str, path: str, operator_id: int, limit: int | None, fmt: str) -> None:
    """Run in a child process: the group admin's payment download as the admin makes it (CSV: streamed, each chunk
    counted then dropped; XLSX: written to a temporary file), print rows, size, seconds and peak RSS."""
    from radbill.tenancy import Scope

    scope = Scope(None, operator_id, path, "group_admin")
    conn = await asyncpg.connect(url, server_settings=SERVER_SETTINGS)  # the app role's URL (radbill_app)
    started = time.perf_counter()
    try:
        await set_scope(conn, scope.path)
        filters = reports.PaymentFilters.from_query({}, "Asia/Dhaka")
        size = lines = 0
        if fmt == "xlsx":
            with tempfile.TemporaryDirectory() as folder:
                target = Path(folder) / "payments.xlsx"
                lines = await reports.payments_xlsx_file(conn, scope, filters, target, limit) + 1
                size = target.stat().st_size
        else:
            async for chunk in reports.payments_csv_chunks(conn, scope, filters, limit):  # each chunk then dropped
                size += len(chunk)
                lines += chunk.count(b"\n")
    finally:
        await conn.close()
    print(json.dumps({"rows": lines - 1, "mb": round(size / 1e6, 1), "s": round(time.perf_counter() - started, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def export_rss(url: str, scope, limit: int | None, fmt: str = "csv") -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.admin_scale", "--export-child", app_url(url), scope.path,
                          str(scope.operator_id), str(limit or 0), fmt], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def one_size(customers: int, runs: int, export: bool = True, bill_run: bool = True) -> dict:
    """Measure one size, printing each figure as soon as it is known (the bill run, the slowest, comes last)."""
    with throwaway_database("radbill-bench-admin-scale-") as url:
        t = time.perf_counter()
        scopes = asyncio.run(dashboard_bench.seed(url, customers, customers))
        asyncio.run(customer_bench.expire_some(url))
        r: dict = {"customers": customers, "seed_s": round(time.perf_counter() - t, 1)}
        print(f"\n== {customers:,} customers (seeded in {r['seed_s']} s) ==", flush=True)
        r["online_count_s"] = asyncio.run(count_online(url))  # what the scheduler does every minute
        print(f"online count (job dashboard.online, all operators) {r['online_count_s']} s", flush=True)
        # the baseline in the same run: the search before migration 0053, query by query, alternating
        r["search"] = asyncio.run(customer_bench.measure(url, scopes, {"": customer_bench.searches(runs, customers)},
                                                         baseline=search_reference))
        _timings("search", r["search"], GOALS["search_p95_ms"])
        # the baseline in the same run: the figures aggregated from the rows, as every load did before 0049
        r["dashboard_fresh"] = asyncio.run(dashboard_bench.measure(url, scopes, max(runs // 6, 3),
                                                                   dashboard.load_fresh))
        _timings("dashboard (aggregated, as before)", r["dashboard_fresh"], GOALS["dashboard_p95_ms"])
        r["dashboard"] = asyncio.run(dashboard_bench.measure(url, scopes, max(runs // 3, 5)))
        _timings("dashboard", r["dashboard"], GOALS["dashboard_p95_ms"])
        if export:
            _export(url, scopes, customers, r)
        if bill_run:
            _bill_run(url, r)
    return r


def _export(url: str, scopes: dict, customers: int, r: dict) -> None:
    payments = customers // 3
    r["export"] = {f"{fmt} {label}": export_rss(url, scopes["group admin"], limit, fmt)
                   for fmt in ("csv", "xlsx") for label, limit in (("tenth", max(payments // 10, 1)), ("all", None))}
    for label, e in r["export"].items():
        print(f"export    {label:<10} {e['rows']:>9,} payments, {e['mb']:>6} MB, {e['s']:>6} s, "
              f"peak RSS {e['peak_rss_mb']} MB", flush=True)


def _bill_run(url: str, r: dict) -> None:
    r.update(asyncio.run(bill_run(url)))
    ok = "ok" if r["bill_run_s"] < GOALS["bill_run_s"] else "MISSED"
    print(f"bill run  {r['bills']:,} bills for {r['active']:,} active customers in {r['bill_run_s']} s "
          f"(goal < 60 s: {ok})", flush=True)


def _timings(what: str, results: dict, goal: float) -> None:
    for label, s in results.items():
        ok = "ok" if s["p95_ms"] < goal else "MISSED"
        print(f"{what:<9} {label:<14} p50 {s['p50_ms']:>7} ms  p95 {s['p95_ms']:>7} ms  (goal < {goal} ms: {ok})",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=70)
    parser.add_argument("--skip-bill-run", action="store_true", help="leave out the bill run (the slowest part)")
    parser.add_argument("--skip-export", action="store_true", help="leave out the payment CSV/XLSX exports")
    parser.add_argument("--export-child", nargs=5, metavar=("URL", "PATH", "OPERATOR", "LIMIT", "FORMAT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        url, path, operator_id, limit, fmt = args.export_child
        asyncio.run(export_child(url, path, int(operator_id), int(limit) or None, fmt))
        return
    results = []
    for n in args.customers:
        results.append(one_size(n, args.runs, not args.skip_export, not args.skip_bill_run))
    print(json.dumps({"bench": "admin_scale", "results": results}))


if __name__ == "__main__":
    main()

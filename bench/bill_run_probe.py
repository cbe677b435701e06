"""Where a batched bill run's time goes, statement by statement: one transaction vs batches, one vs two connections.

    python -m bench.bill_run_probe --customers 300000 --batch 30000

Each mode gets a freshly seeded database (seeded like `make bench-billing`; with --steady, April billed first and
May timed): `one` bills everyone in one generate_bills; `batched-1` and `batched-2` bill the scheduler's batches
(bill_run.batches) over one and two connections set like radbill's pools. Printed per mode: wall time, the CPU
seconds the run's backends used (/proc: the cluster is local), every statement's summed time by its first words,
per-batch times, what the backends were doing (pg_stat_activity sampled every 20 ms: CPU or a wait event) and the
multixact SLRU counters (pg_stat_slru), which would grow if concurrent FK checks on shared parents cost something.
With --raw-connections the connections keep plan_cache_mode=auto (a plain asyncpg.connect).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import defaultdict
from datetime import UTC, datetime

import asyncpg

from bench.billing import seed
from bench.db import throwaway_database
from radbill.db.pool import SERVER_SETTINGS
from radbill.services import bill_run, billing

NOW = datetime(2024, 4, 2, 6, 0, tzinfo=UTC)


class Timed:
    """Forwards to an asyncpg connection, summing the seconds each statement took under its label."""

    def __init__(self, conn: asyncpg.Connection, sums: dict) -> None:
        self._conn, self._sums = conn, sums

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def _timed(self, method):
        async def run(sql, *args, **kw):
            started = time.perf_counter()
            try:
                return await method(sql, *args, **kw)
            finally:
                label = " ".join(sql.split())[:70]
                self._sums[label][0] += time.perf_counter() - started
                self._sums[label][1] += 1
        return run

    def __getattribute__(self, name):
        if name in ("execute", "fetch", "fetchval", "fetchrow"):
            return object.__getattribute__(self, "_timed")(getattr(object.__getattribute__(self, "_conn"), name))
        return object.__getattribute__(self, name)


async def _slru(conn) -> dict:
    return {r["name"]: dict(r) for r in await conn.fetch(
        "SELECT name, blks_zeroed, blks_hit, blks_read, blks_written FROM pg_stat_slru"
        " WHERE name IN ('MultiXactMember', 'MultiXactOffset')")}


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the backends `pids` have used so far (they run on this machine: a throwaway cluster)."""
    ticks = 0
    for pid in pids:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _cluster_pids(backend: int) -> list[int]:
    """Every process of the cluster `backend` belongs to (the postmaster's children: autovacuum, WAL writer,
    checkpointer... and the backends)."""
    postmaster = int(open(f"/proc/{backend}/stat").read().rsplit(")", 1)[1].split()[1])
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1]) == postmaster:
                    pids.append(int(entry))
            except (OSError, ValueError):
                continue  # ended meanwhile
    return pids


def _cpu_seconds_all(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += _cpu_seconds([pid])
        except OSError:
            continue
    return total


async def _waits(conn, pids: list[int], seen: dict, stop: asyncio.Event) -> None:
    """Sample what the run's backends are doing every 20 ms: CPU (no wait event) or a named wait."""
    while not stop.is_set():
        for r in await conn.fetch("SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS w"
                                  " FROM pg_stat_activity WHERE pid = ANY($1::int[]) AND state = 'active'", pids):
            seen[r["w"]] += 1
        await asyncio.sleep(0.02)


async def run(url: str, customers: int, mode: str, batch: int, show_plans: bool, steady: bool,
              raw: bool = False) -> float:
    conn = await asyncpg.connect(url)
    await seed(conn, customers)
    now = NOW
    if steady:  # the month after a first run: accounts exist, bills and ledger are a period larger
        pool_conns = [await asyncpg.connect(url, server_settings=SERVER_SETTINGS) for _ in range(2)]
        await billing.generate_bills(pool_conns[0], now)
        now = datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
        for c in pool_conns:
            await c.close()
    await conn.execute("VACUUM ANALYZE")
    sums: dict = defaultdict(lambda: [0.0, 0])
    conns = [await asyncpg.connect(url, server_settings=None if raw else SERVER_SETTINGS) for _ in range(2)]
    seen: dict = defaultdict(int)
    stop = asyncio.Event()
    watcher = await asyncpg.connect(url)
    sampler = asyncio.create_task(_waits(watcher, [c.get_server_pid() for c in conns], seen, stop))
    slru_before = await _slru(conn)
    pids = [c.get_server_pid() for c in conns]
    cpu_before = _cpu_seconds(pids)
    everyone = _cluster_pids(pids[0])
    all_before = _cpu_seconds_all(everyone)
    wal_before = await conn.fetchval("SELECT pg_current_wal_lsn()")
    checkpoints_before = await conn.fetchval("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
    started = time.perf_counter()
    if mode == "one":
        created = await billing.generate_bills(Timed(conns[0], sums), now)
    else:
        rows = await conns[0].fetch(bill_run._BILLABLE_SQL, None, None)
        await conns[0].execute(bill_run._OPERATOR_ACCOUNTS_SQL, None, None)
        queue = bill_run.batches(rows, batch)
        queue.reverse()
        per_batch: list = []

        async def worker(c) -> int:
            made = 0
            while queue:
                ids = queue.pop()
                t0 = time.perf_counter()
                made += await billing.generate_bills(Timed(c, sums), now, customer_ids=ids)
                per_batch.append(round(time.perf_counter() - t0, 2))
            return made

        workers = 1 if mode == "batched-1" else 2
        created = sum(await asyncio.gather(*(worker(c) for c in conns[:workers])))
        print("per batch, s:", per_batch)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds(pids) - cpu_before
    others = _cpu_seconds_all(set(everyone) | set(_cluster_pids(pids[0]))) - all_before - cpu
    wal = await conn.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", wal_before)
    checkpoints = await conn.fetchval("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
    stop.set()
    await sampler
    await watcher.close()
    await asyncio.sleep(0.6)  # pg_stat_slru is flushed at most every 500 ms
    slru_after = await _slru(conn)
    print(f"== {mode}: {created} bills in {seconds:.2f} s; backends' CPU {cpu:.2f} s; load {os.getloadavg()[0]:.1f}")
    print(f"  the cluster's other processes' CPU {others:.2f} s (autovacuum, WAL writer, checkpointer, ...); WAL"
          f" {int(wal) >> 20} MB; checkpoints {checkpoints - checkpoints_before}")
    for label, (secs, calls) in sorted(sums.items(), key=lambda kv: -kv[1][0]):
        if secs > 0.05:
            print(f"  {secs:8.2f} s {calls:4d}x  {label}")
    total = sum(seen.values()) or 1
    print("  waits: " + ", ".join(f"{w} {n * 100 // total}%" for w, n in sorted(seen.items(), key=lambda kv: -kv[1])[:8]))
    for name, after in slru_after.items():
        print(f"  slru {name}: " + ", ".join(f"{k} +{after[k] - slru_before[name][k]}" for k in after if k != "name"))
    if show_plans:
        for i, c in enumerate(conns):
            for r in await c.fetch("SELECT generic_plans, custom_plans, left(regexp_replace(statement, '\\s+', ' ',"
                                   " 'g'), 70) AS s FROM pg_prepared_statements WHERE generic_plans > 0"):
                print(f"  conn {i}: generic {r['generic_plans']} custom {r['custom_plans']}  {r['s']}")
    for c in conns:
        await c.close()
    await conn.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=bill_run.BATCH)
    parser.add_argument("--modes", default="one,batched-1,batched-2")
    parser.add_argument("--plans", action="store_true", help="print prepared statements that went generic")
    parser.add_argument("--steady", action="store_true", help="time the month after a first run instead")
    parser.add_argument("--raw-connections", action="store_true", help="plain connections: plan_cache_mode=auto")
    args = parser.parse_args()
    for mode in args.modes.split(","):
        with throwaway_database("radbill-bench-probe-") as url:
            asyncio.run(run(url, args.customers, mode, args.batch, args.plans, args.steady, args.raw_connections))


if __name__ == "__main__":
    main()

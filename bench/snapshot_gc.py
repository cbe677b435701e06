"""What a full cyclic garbage collection costs the RADIUS module with the snapshot loaded, and what gc.freeze() after a
reload (radius_module/worker.py, reload_all) leaves of it.

    python -m bench.snapshot_gc --customers 1000000

A collection of the oldest generation walks every object the collector tracks, in the FreeRADIUS process, with the
GIL held: every Access-Request waits for it. The worker's full load builds the rows with the collector paused; the
first collections after it (the rows leaving generation 0, then 1, then 2) and every later full one walk them all.
Here: the worker's own reload_all on bench.snapshot's seed, then gc.collect() timed with the rows frozen (as the
worker leaves them) and, in the same process on the same rows, unfrozen (as before), rounds interleaved.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from datetime import timedelta

import psycopg

from bench.db import throwaway_database
from bench.snapshot import SEED
from radius_module.sessions import OpenSessions
from radius_module.snapshot import PolicySnapshot
from radius_module.worker import Worker


def timed_collect() -> float:
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1000


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    with throwaway_database("radbill-bench-snapshot-gc-") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SEED.replace("lpad(i::text, 6, '0')", "lpad(i::text, 7, '0')"), {"customers": args.customers})
            worker = Worker(url, PolicySnapshot(), OpenSessions(timedelta(minutes=16)))
            started = time.perf_counter()
            worker.reload_all(conn)
            load_s = time.perf_counter() - started
        figures: dict[str, list[float]] = {"frozen (now)": [], "unfrozen (before)": []}
        for _ in range(args.rounds):
            figures["frozen (now)"].append(timed_collect())
            gc.unfreeze()
            figures["unfrozen (before)"].append(timed_collect())
            gc.freeze()
    print(f"{len(worker.snapshot):,} rows loaded in {load_s:.1f} s; gc.collect(), ms per full collection:")
    for label, values in figures.items():
        print(f"  {label:<18} median {statistics.median(values):8.1f}  max {max(values):8.1f}  "
              f"rounds {[round(v, 1) for v in values]}")
    print(json.dumps({"bench": "snapshot_gc", "customers": args.customers, "load_s": round(load_s, 1),
                      "collect_ms": {k: [round(v, 1) for v in vs] for k, vs in figures.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

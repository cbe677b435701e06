"""`python -m bench.radius_mixed`: Access- and Accounting-Requests at once on one radbill FreeRADIUS, on a durable
Postgres (as make run's), for each FreeRADIUS thread count (RADBILL_RADIUS_THREADS) in turn, rounds alternated.

Why: with 4 threads auth latency is lowest, but each Accounting-Request's thread waits on its row's commit, so
accounting alone stores more with more threads (bench/README.md, "Durability"). A NAS sends both; this measures
the mix. Auth: the C generator (bench/radload.c), --concurrency in flight; accounting: bench.loadgen's sessions
(Start, Interims, Stop; NAS-style retransmits), --acct-concurrency in flight. Printed per thread count: Access-
Requests/s and p50/p99, Accounting-Requests/s (stored in radacct within the window), timeouts, idle CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

from bench.cloadgen import CLoadRun, ensure_built
from bench.loadgen import LoadRun, LoadSpec
from bench.radius import percentile
from bench.servers import Lab, machine_idle_seconds


def one_run(lab: Lab, threads: int, args, write: str = "sql") -> dict:
    lab.radius_threads = threads
    lab.acct_write = write
    lab.sql("TRUNCATE radacct, radacct_journal, radpostauth")
    server = lab.start("radbill")
    try:
        common = {"host": "127.0.0.1", "secret": lab.secret.encode(), "users": lab.users, "warmup": args.warmup,
                  "seconds": args.seconds, "timeout": args.timeout}
        auth = CLoadRun(LoadSpec(mode="auth", port=server.settings.auth_port, slots=args.concurrency, processes=1,
                                 label="mixed-auth", **common))
        acct = LoadRun(LoadSpec(mode="acct", port=server.settings.acct_port, slots=args.acct_concurrency,
                                processes=args.processes, retries=2, label="mixed-acct", **common))
        results = {}

        def drive(name, run):
            run.start()
            results[name] = run.wait()

        workers = [threading.Thread(target=drive, args=pair) for pair in (("auth", auth), ("acct", acct))]
        for w in workers:
            w.start()
        time.sleep(args.warmup + 0.5)
        idle0, t0 = machine_idle_seconds(), time.monotonic()
        time.sleep(args.seconds - 1.0)
        idle = (machine_idle_seconds() - idle0) / (time.monotonic() - t0)
        for w in workers:
            w.join()
    finally:
        auth.stop()
        acct.stop()
        lab.stop_server(server)
    latencies = sorted(x for r in results["auth"] for x in r.latencies)
    acct_answered = sum(r.replies for r in results["acct"])
    return {"threads": threads, "acct_write": write, "auth_per_s": round(sum(r.replies for r in results["auth"]) / args.seconds),
            "auth_p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
            "auth_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
            "acct_per_s": round(acct_answered / args.seconds),
            "timeouts": sum(r.timeouts for name in results for r in results[name]), "idle_cores": round(idle, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="4,8,16", help="FreeRADIUS thread counts to compare")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--concurrency", type=int, default=32, help="Access-Requests in flight")
    p.add_argument("--acct-concurrency", type=int, default=16, help="Accounting-Requests in flight")
    p.add_argument("--processes", type=int, default=1, help="accounting generator processes (Python)")
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--users", type=int, default=10000)
    p.add_argument("--acct-write", default="sql", help="RADBILL_ACCT_WRITE modes to compare: sql, spool or both")
    args = p.parse_args()
    ensure_built()
    lab = Lab(args.users)
    lab.pg_settings = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}  # as make run's
    out = []
    try:
        lab.start_database()
        lab.seed()
        for _ in range(args.rounds):
            for write in args.acct_write.split(","):
                for threads in (int(x) for x in args.threads.split(",")):
                    figures = one_run(lab, threads, args, write)
                    print(figures, flush=True)
                    out.append(figures)
    finally:
        lab.close()
    print(json.dumps({"bench": "radius_mixed", "seconds": args.seconds, "concurrency": args.concurrency,
                      "acct_concurrency": args.acct_concurrency, "results": out, "loadavg": os.getloadavg()}))


if __name__ == "__main__":
    main()

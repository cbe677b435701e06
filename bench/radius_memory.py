"""Does the RADIUS process grow under load? Resident memory of radbill's FreeRADIUS while Accounting-Requests (or
Access-Requests) run, as bytes per 1,000 answered packets after a warm-up, for this tree's raddb/ and, in the same
run on the same database, another git revision's raddb/ (e.g. the one before a fix) and stock rlm_sql.

    python -m bench.radius_memory --seconds 120 --before 3e7a655 --stock

A leak shows as a steady slope; a process that is only warming up levels off (compare the halves).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from bench.loadgen import LoadRun, LoadSpec
from bench.servers import Lab, proc_rss_mb
from radbill import freeradius

ROOT = Path(__file__).resolve().parent.parent


def raddb_at(revision: str, into: Path) -> Path:
    """raddb/ as it was at `revision` (git archive), extracted under `into`."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "raddb"], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into)  # our own repository's files
    return into / "raddb"


def measure(lab: Lab, kind: str, mode: str, seconds: float, warmup: float) -> dict:
    server = lab.start(kind)
    port = server.settings.acct_port if mode == "acct" else server.settings.auth_port
    spec = LoadSpec(mode=mode, host="127.0.0.1", port=port, secret=lab.secret.encode(), users=lab.users, slots=16,
                    processes=1, warmup=warmup, seconds=seconds, timeout=2.0, retries=2, label=f"mem-{kind}")
    run = LoadRun(spec)
    try:
        start = run.start() + warmup
        time.sleep(max(0.0, start - time.monotonic()))
        points = []
        while (now := time.monotonic()) < start + seconds:
            points.append((now - start, proc_rss_mb(server.process.pid)))
            time.sleep(min(5.0, seconds / 12))
        points.append((time.monotonic() - start, proc_rss_mb(server.process.pid)))
        results = run.wait()
    finally:
        run.stop()
        lab.stop_server(server)
    answered = sum(r.replies for r in results)
    grown_mb = points[-1][1] - points[0][1]
    half = len(points) // 2
    return {"server": kind, "mode": mode, "answered": answered, "answered_per_s": round(answered / seconds),
            "rss_start_mb": round(points[0][1], 1), "rss_end_mb": round(points[-1][1], 1),
            "bytes_per_1000_packets": round(grown_mb * 2**20 * 1000 / max(answered, 1)),
            "first_half_mb": round(points[half][1] - points[0][1], 1),
            "second_half_mb": round(points[-1][1] - points[half][1], 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="measured load per server (bounded)")
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--mode", choices=("acct", "auth"), default="acct")
    p.add_argument("--before", default="", help="also measure raddb/ at this git revision")
    p.add_argument("--stock", action="store_true", help="also measure stock rlm_sql (bench/raddb_stock_sql)")
    p.add_argument("--users", type=int, default=10000)
    args = p.parse_args(argv)
    lab = Lab(args.users)
    out = []
    here = freeradius.RADDB
    try:
        lab.start_database()
        lab.seed()
        lab.write_users_file()
        runs = [("radbill", here)]
        if args.before:
            runs.append((f"radbill@{args.before}", raddb_at(args.before, Path(tempfile.mkdtemp(dir=lab.base)))))
        if args.stock:
            runs.append(("stock_sql", None))
        for name, raddb in runs:
            if raddb is not None:
                freeradius.RADDB = raddb  # the module reads it when it builds the command and environment
            result = measure(lab, "radbill" if raddb is not None else name, args.mode, args.seconds, args.warmup)
            result["server"] = name
            print(json.dumps(result), flush=True)
            out.append(result)
    finally:
        freeradius.RADDB = here
        lab.close()
    print(f"\n{'server':<24} {'answered/s':>10} {'RSS start':>9} {'RSS end':>8} {'B/1000 pkts':>11} {'halves MB':>10}")
    for r in out:
        print(f"{r['server']:<24} {r['answered_per_s']:>10} {r['rss_start_mb']:>9} {r['rss_end_mb']:>8}"
              f" {r['bytes_per_1000_packets']:>11} {r['first_half_mb']:>5}/{r['second_half_mb']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

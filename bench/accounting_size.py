"""`make bench-accounting-size`: accounting through real FreeRADIUS for a bounded time while radacct is already big,
for the partitioned radacct (migration 0043) and, in the same run on the same rows, the old single table.

    python -m bench.accounting_size --prefill 2000000 --seconds 60
    python -m bench.accounting_size --prefill 10000000 --seconds 600 --layouts partitioned   # the issue's size

radacct is pre-grown set-based (closed sessions spread over the last 12 months, plus open ones) before FreeRADIUS
starts; the load is bench.loadgen's closed loop (sessions Start -> Interim-Update -> Stop, NAS-style retransmits).
Fold lag is seen from outside, without touching the product: a sampler polls the journal's id sequence (what has
arrived) and the lowest id still in the journal (what is not folded yet) every --poll seconds, so a packet's lag is
the time from the first poll that saw it arrive to the first poll that saw it folded (+-1 poll). Printed per time
bucket: accepted Accounting-Requests/s and lag p50/p99 — does either degrade as radacct grows?
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

from bench.acct_trace import Tracer
from bench.acct_trace import report as trace_report
from bench.loadgen import LoadRun, LoadSpec
from bench.servers import Lab, machine_idle_seconds, proc_cpu_seconds

MIGRATIONS = Path(__file__).resolve().parent.parent / "sql" / "migrations"
PREFILL = """
    INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
                         acctstoptime, acctsessiontime, acctinputoctets, acctoutputoctets, framedipaddress)
    SELECT 'pre' || i, 'pre' || i, 'bench' || lpad((1 + i %% %(users)s)::text, 6, '0'), '127.0.0.2', t, t + d, t + d,
           3600, i, i, '100.64.0.0'::inet + (i %% 4000000)
      FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i,
           LATERAL (SELECT now() - (i %% 360) * interval '1 day' - (i %% 86400) * interval '1 second' AS t,
                           interval '1 hour' AS d) x
"""
OPEN_SESSIONS = 10000  # open sessions of another NAS, as a network of that size has
FLAT_INDEXES = (  # radacct before 0043: what the baseline runs on
    "ALTER TABLE radacct_flat ADD PRIMARY KEY (radacctid), ADD UNIQUE (acctuniqueid)",
    "CREATE INDEX ON radacct_flat (acctuniqueid) WHERE acctstoptime IS NULL",
    "CREATE INDEX ON radacct_flat (nasipaddress, acctstarttime) WHERE acctstoptime IS NULL",
    "CREATE INDEX ON radacct_flat (acctstarttime, username)",
    "CREATE INDEX ON radacct_flat (username) WHERE acctstoptime IS NULL",
    "CREATE INDEX ON radacct_flat (class)",
    "CREATE INDEX ON radacct_flat (username, acctstarttime)",
    "CREATE INDEX ON radacct_flat (username, acctstoptime) WHERE acctstoptime IS NOT NULL",
    "CREATE INDEX ON radacct_flat (framedipaddress) WHERE acctstoptime IS NULL",
    "CREATE TRIGGER radacct_flat_heard BEFORE INSERT OR UPDATE ON radacct_flat FOR EACH ROW"
    " EXECUTE FUNCTION radacct_heard()",
)
SAMPLE = ("SELECT s.last_value + CASE WHEN s.is_called THEN 0 ELSE -1 END, (SELECT min(id) FROM radacct_journal)"
          " FROM radacct_journal_id_seq s")


def prefill(conn: psycopg.Connection, rows: int, users: int) -> float:
    started = time.monotonic()
    conn.execute("SELECT radbill_radacct_partition(now() - m * interval '1 month') FROM generate_series(0, 12) m")
    conn.execute("ALTER TABLE radacct DISABLE TRIGGER radacct_heard")  # heard_at: a bulk load has no use for it
    step = 500_000
    for lo in range(1, rows + 1, step):
        conn.execute(PREFILL, {"lo": lo, "hi": min(rows, lo + step - 1), "users": users})
    conn.execute("UPDATE radacct SET acctstoptime = NULL, acctstarttime = now() - interval '1 hour',"
                 " nasipaddress = '127.0.0.3' WHERE acctuniqueid IN (SELECT 'pre' || i FROM generate_series(1, %s) i)",
                 (min(OPEN_SESSIONS, rows),))
    conn.execute("ALTER TABLE radacct ENABLE TRIGGER radacct_heard")
    conn.execute("ANALYZE radacct")
    return time.monotonic() - started


def build_flat_copy(conn: psycopg.Connection) -> float:
    started = time.monotonic()
    conn.execute("CREATE TABLE radacct_flat (LIKE radacct INCLUDING DEFAULTS)")
    conn.execute("INSERT INTO radacct_flat SELECT * FROM radacct")
    for statement in FLAT_INDEXES:
        conn.execute(statement)
    conn.execute("ANALYZE radacct_flat")
    return time.monotonic() - started


def fold_definition(migration: str) -> str:
    text = (MIGRATIONS / migration).read_text()
    return re.search(r"CREATE OR REPLACE FUNCTION radbill_fold_accounting\(.*?\n\$\$;", text, re.S).group(0)


def use_layout(conn: psycopg.Connection, layout: str) -> None:
    """Put `layout`'s table under radacct's name with its own fold: the old table gets migration 0012's fold
    (ON CONFLICT (acctuniqueid)), the partitioned one 0043's. The other table waits under another name."""
    current = "flat" if conn.execute("SELECT to_regclass('radacct_partitioned')").fetchone()[0] else "partitioned"
    table = "flat" if layout == "flat" else "partitioned"
    if current != table:
        parked = "radacct_partitioned" if table == "flat" else "radacct_flat"
        other = "radacct_flat" if table == "flat" else "radacct_partitioned"
        conn.execute(f"ALTER TABLE radacct RENAME TO {parked}")
        conn.execute(f"ALTER TABLE {other} RENAME TO radacct")
    conn.execute(fold_definition(FOLD_OF[layout]))


# partitioned_0043 / partitioned_0062: the same partitioned table with an older fold, the baselines of migrations 0062
# and 0068 (bench/README.md)
FOLD_OF = {"flat": "0012_fold_in_arrival_order.sql", "partitioned": "0068_fold_take_by_range.sql",
           "partitioned_0062": "0062_fold_estimate_and_jit.sql", "partitioned_0043": "0043_radacct_partitioned.sql"}
JOURNAL = """
    INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, username, nasipaddress, event_time,
                                 sessiontime, inputoctets, outputoctets)
    SELECT s.status, %(tag)s || i, %(tag)s || i, 'bench' || lpad((1 + i %% 10000)::text, 6, '0'), '127.0.0.1', now(),
           60, i, i
      FROM generate_series(1, %(n)s::int / 3) AS i,
           (VALUES (1, 'Start'), (2, 'Interim-Update'), (3, 'Stop')) AS s(k, status)
     ORDER BY s.k, i
"""


def fold_cost(conn: psycopg.Connection, layouts: list[str], rounds: int, rows: int = 30000) -> dict:
    """Postgres's own time per folded journal row on each layout (bench.fold's journals: Starts, Interims, Stops;
    5,000 rows a call as the module folds), interleaved rounds so a slow spell of the machine hits both."""
    figures: dict[str, list[float]] = {layout: [] for layout in layouts}
    for r in range(rounds):
        for layout in layouts:
            use_layout(conn, layout)
            conn.execute(JOURNAL, {"tag": f"fold{r}{layout}-", "n": rows})
            started, folded = time.perf_counter(), 0
            while n := conn.execute("SELECT count(*) FROM radbill_fold_accounting(5000)").fetchone()[0]:
                folded += n
            figures[layout].append((time.perf_counter() - started) * 1e6 / rows)
    return {layout: {"median_us_per_row": round(statistics.median(v), 1), "rounds": [round(x, 1) for x in v]}
            for layout, v in figures.items()}


def spooled_lines(spool: Path) -> int:
    """Lines in the accounting spool's files (RADBILL_ACCT_WRITE=spool): answered, not yet in the journal."""
    lines = 0
    for path in spool.parent.glob(spool.name + "*"):
        if path.name.endswith(".rejected"):
            continue
        try:
            lines += path.read_bytes().count(b"\n")
        except FileNotFoundError:  # loaded and deleted since the listing
            pass
    return lines


class LagSampler(threading.Thread):
    """(time, highest journal id handed out, lowest id not yet folded) every `poll` seconds.

    In spool mode a packet is answered before it has a journal id: "handed out" is then the journal's last id
    plus the lines still in the spool, which will take the next ids in file order. The spool is read first, so a
    load that commits in between counts its rows twice for that sample (arrival seen early: lag reads long,
    never short)."""

    def __init__(self, url: str, poll: float, spool: Path | None = None):
        super().__init__(daemon=True)
        self.url, self.poll, self.samples, self.done = url, poll, [], threading.Event()
        self.spool = spool

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            floor, arrived = 0, 0
            while not self.done.is_set():
                pending = spooled_lines(self.spool) if self.spool is not None else 0
                last, lowest = conn.execute(SAMPLE).fetchone()
                arrived = max(arrived, last + pending)
                floor = max(floor, last + 1 if lowest is None else lowest)
                self.samples.append((time.monotonic(), arrived, floor))
                time.sleep(self.poll)


def lags(samples: list, lo_id: int, hi_id: int) -> list[tuple[float, float, int]]:
    """(arrival time, lag seconds, packets) for the ids in (lo_id, hi_id], piecewise where both times are constant."""
    times = [s[0] for s in samples]
    arrived = [s[1] for s in samples]
    floors = [s[2] for s in samples]
    cuts = sorted({x for x in arrived if lo_id < x <= hi_id} | {f - 1 for f in floors if lo_id < f - 1 <= hi_id}
                  | {hi_id})
    out, prev = [], lo_id
    for cut in cuts:
        seen, gone = bisect.bisect_left(arrived, cut), bisect.bisect_right(floors, cut)
        if seen == len(times) or gone == len(times):
            break  # not folded before the sampler stopped
        out.append((times[seen], max(0.0, times[gone] - times[seen]), cut - prev))
        prev = cut
    return out


def weighted_quantile(points: list[tuple[float, float, int]], q: float) -> float:
    ordered = sorted(points, key=lambda p: p[1])
    total, running = sum(p[2] for p in ordered), 0
    for _, lag, weight in ordered:
        running += weight
        if running >= q * total:
            return lag
    return float("nan")


def ms(seconds: float) -> int | None:
    return None if seconds != seconds else round(seconds * 1000)


def run_layout(lab: Lab, layout: str, args, write: str = "sql") -> dict:
    rows_before = lab.sql("SELECT count(*) FROM radacct")[0][0]
    lab.acct_write = write
    server = lab.start_radbill()
    spool = server.settings.state_dir / "spool" / "accounting.tsv" if write == "spool" else None
    sampler = LagSampler(lab.db_url, args.poll, spool)
    spec = LoadSpec(mode="acct", host="127.0.0.1", port=server.settings.acct_port, secret=lab.secret.encode(),
                    users=lab.users, slots=args.concurrency, processes=args.processes, warmup=args.warmup,
                    seconds=args.seconds, timeout=2.0, retries=2, label=f"size-{layout}-{write}", rate=args.rate)
    run = LoadRun(spec)
    tracer = Tracer(lab.db_url, Path(args.trace), server.process.pid, lab.cluster.process.pid, args.trace_every) \
        if args.trace else None
    try:
        sampler.start()
        if tracer:
            tracer.start()
        start_at = run.start()
        time.sleep(max(0.0, start_at + args.warmup - time.monotonic()))
        t0, cpu0, pg0, idle0 = time.monotonic(), proc_cpu_seconds(server.process.pid), lab.postgres_cpu(), \
            machine_idle_seconds()
        lo_id = sampler.samples[-1][1]
        time.sleep(max(0.0, start_at + args.warmup + args.seconds - time.monotonic()))
        t1, cpu1, pg1, idle1 = time.monotonic(), proc_cpu_seconds(server.process.pid), lab.postgres_cpu(), \
            machine_idle_seconds()
        hi_id = sampler.samples[-1][1]
        if tracer:
            tracer.done.set()
        results = run.wait()
        drain_from = time.monotonic()
        while (lab.journal_backlog() or (spool and spooled_lines(spool))) and time.monotonic() - drain_from < 120:
            time.sleep(0.05)
        time.sleep(3 * args.poll)
    finally:
        sampler.done.set()
        run.stop()
        lab.stop_server(server)
    sampler.join()
    if tracer:
        tracer.join()
        trace_report(tracer.samples)
    points = lags(sampler.samples, lo_id, hi_id)
    window = t1 - t0
    width = args.bucket or max(5.0, args.seconds / 12)
    buckets = []
    for k in range(max(1, round(window / width))):
        inside = [p for p in points if t0 + k * width <= p[0] < t0 + (k + 1) * width]
        packets = sum(p[2] for p in inside)
        buckets.append({"from_s": round(k * width), "accepted_per_s": round(packets / width),
                        "lag_p50_ms": ms(weighted_quantile(inside, 0.5)),
                        "lag_p99_ms": ms(weighted_quantile(inside, 0.99))})
    rows_after = lab.sql("SELECT count(*) FROM radacct")[0][0]
    sessions_acked = sum(r.sessions_acked for r in results)
    gen_cpu = sum(r.cpu_seconds for r in results)
    return {
        "layout": layout, "acct_write": write, "offered_per_s": args.rate or None, "radacct_rows_before": rows_before, "radacct_rows_after": rows_after,
        "accepted_per_s": round((hi_id - lo_id) / window), "lag_p50_ms": ms(weighted_quantile(points, 0.5)),
        "lag_p99_ms": ms(weighted_quantile(points, 0.99)),
        "lag_max_ms": ms(max((p[1] for p in points), default=float("nan"))),
        "timeouts": sum(r.timeouts for r in results), "abandoned": sum(r.abandoned for r in results),
        "lost_sessions": max(0, rows_before + sessions_acked - rows_after),
        "cpu_cores": {"freeradius": round((cpu1 - cpu0) / window, 2), "postgres": round((pg1 - pg0) / window, 2),
                      "generator": round(gen_cpu / args.seconds, 2), "idle": round((idle1 - idle0) / window, 2)},
        "buckets": buckets,
    }


def report(result: dict) -> None:
    print(f"\n== {result['layout']}, RADBILL_ACCT_WRITE={result['acct_write']}"
          f"{', offered ' + format(result['offered_per_s'], ',.0f') + '/s' if result['offered_per_s'] else ''}: radacct {result['radacct_rows_before']:,} -> {result['radacct_rows_after']:,} rows;"
          f" accepted {result['accepted_per_s']:,}/s; fold lag p50 {result['lag_p50_ms']} ms,"
          f" p99 {result['lag_p99_ms']} ms, max {result['lag_max_ms']} ms; timeouts {result['timeouts']},"
          f" abandoned {result['abandoned']}, sessions lost {result['lost_sessions']}; cores {result['cpu_cores']}")
    print(f"{'from s':>7} {'acc/s':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for b in result["buckets"]:
        print(f"{b['from_s']:>7} {b['accepted_per_s']:>7} {b['lag_p50_ms']!s:>7} {b['lag_p99_ms']!s:>7}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prefill", type=int, default=2_000_000, help="radacct rows before the load")
    p.add_argument("--seconds", type=float, default=60.0, help="measured load per layout (bounded)")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--layouts", default="partitioned,flat", help="partitioned (0043 table, current fold), partitioned_0062 / partitioned_0043 (older folds), flat (before 0043)")
    p.add_argument("--load-layouts", default="", help="layouts put under load (default: every --layouts one)")
    p.add_argument("--users", type=int, default=10000)
    p.add_argument("--concurrency", type=int, default=16, help="Accounting-Requests in flight")
    p.add_argument("--processes", type=int, default=1, help="load generator processes")
    p.add_argument("--poll", type=float, default=0.05, help="lag sampler period (the lag's resolution)")
    p.add_argument("--fold-rounds", type=int, default=3, help="rounds of the fold-only cost per layout (0: skip)")
    p.add_argument("--bucket", type=float, default=0.0, help="seconds per reported bucket (default seconds/12)")
    p.add_argument("--trace", default="", help="write per-interval CPU/WAL/vacuum counters here (bench/acct_trace.py)")
    p.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                   help="a Postgres setting for the bench's cluster, e.g. shared_buffers=2GB (repeatable)")
    p.add_argument("--trace-every", type=float, default=10.0, help="seconds between trace samples")
    p.add_argument("--radius-threads", type=int, default=4, help="FreeRADIUS worker threads (RADBILL_RADIUS_THREADS)")
    p.add_argument("--acct-write", default="sql", help="RADBILL_ACCT_WRITE modes to load in turn: sql, spool or both")
    p.add_argument("--rate", type=float, default=0.0,
                   help="offered Accounting-Requests/s (0: closed loop, as fast as answered)")
    args = p.parse_args(argv)
    layouts = [x for x in args.layouts.split(",") if x]
    lab = Lab(args.users)
    # durable, as make run's Postgres: a NAS's Accounting-Response promises a stored row. The bench Lab's other
    # benches compare servers on a throwaway cluster with durability off; measured here, that flattered the rate
    # (bench/README.md, "Accounting at size"). --pg-setting synchronous_commit=off etc. gives the old figures.
    lab.radius_threads = args.radius_threads
    lab.pg_settings = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
                       **dict(x.split("=", 1) for x in args.pg_setting)}
    results, costs = [], {}
    try:
        lab.start_database()
        lab.seed()
        with psycopg.connect(lab.db_url, autocommit=True) as conn:
            print(f"prefill {args.prefill:,} rows: {prefill(conn, args.prefill, args.users):.1f} s", flush=True)
            if "flat" in layouts:
                print(f"flat copy with the old indexes: {build_flat_copy(conn):.1f} s", flush=True)
            if args.fold_rounds:
                costs = fold_cost(conn, layouts, args.fold_rounds)
                print(f"fold cost, us per journal row (median of {args.fold_rounds} interleaved rounds): {costs}",
                      flush=True)
        for layout in (args.load_layouts.split(",") if args.load_layouts else layouts):
            with psycopg.connect(lab.db_url, autocommit=True) as conn:
                use_layout(conn, layout)
            for write in args.acct_write.split(","):
                result = run_layout(lab, layout, args, write)
                report(result)
                results.append(result)
    finally:
        lab.close()
    print(json.dumps({"bench": "accounting_size", "prefill": args.prefill, "seconds": args.seconds,
                      "concurrency": args.concurrency, "fold_cost": costs, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

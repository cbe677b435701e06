"""`make bench-radius`: Access-Request/s and latency for radbill vs the bare-Python ceiling vs stock rlm_sql vs
rlm_files, and accounting throughput (with a radacct row count) for radbill vs stock rlm_sql — same machine, same
run, same generator (the C one, bench/radload.c, unless --generator says otherwise).

    python -m bench.radius --users 10000 --seconds 10 --concurrency 32 --rounds 3 --generator c,python
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass

from bench.cloadgen import CLoadRun, ensure_built
from bench.loadgen import LoadRun, LoadSpec, WorkerResult
from bench.radius_report import generator_share, ratios, table, verdicts
from bench.servers import STOCK_ACCT_TABLE, Lab, Server, machine_idle_seconds, proc_cpu_seconds

# bare_python: the same FreeRADIUS with the smallest python3 hook (bench/raddb_bare_python): radbill's ceiling;
# bare_in_radbill: radbill's raddb/ with that bare hook instead of radius_module.hooks (what the config costs)
AUTH_TARGETS = ("radbill", "bare_in_radbill", "bare_python", "stock_sql", "files")
ACCT_TARGETS = ("radbill", "stock_sql")
GENERATORS = ("c", "python")


@dataclass
class Figures:
    test: str  # "auth" or "acct"
    server: str
    generator: str  # "c" (bench/radload.c) or "python" (bench/loadgen.py)
    concurrency: int
    processes: int
    seconds: float
    rate: float  # answered requests per second in the measured window
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    sent: int
    answered: int
    accepts: int
    rejects: int
    timeouts: int
    forged: int
    server_cpu: float  # cores busy (1.0 = one core) during the window
    postgres_cpu: float
    generator_cpu: float
    machine_idle: float
    generator_capacity: float  # answered requests per generator CPU-second (what one core of generator can do)
    checked_replies: int = 0
    bad_replies: int = 0  # checked replies without a valid Message-Authenticator or rate limit
    postauth_rows: int | None = None  # radpostauth rows written for this run (auth)
    answered_total: int | None = None  # requests answered over the whole run, warm-up and drain included
    radacct_rows: int | None = None
    sessions_acked: int | None = None
    stops_acked: int | None = None
    closed_rows: int | None = None
    abandoned: int | None = None
    valid: bool = True
    note: str = ""
    round_rates: list | None = None  # req/s of every round, when --rounds > 1 (this row is the median round)
    acked_rate: float | None = None  # acct: Accounting-Responses per second, before subtracting the backlog
    backlog_growth: int | None = None  # acct: packets acknowledged but not yet in radacct, added in the window
    drain_s: float | None = None  # acct: seconds after the load until radacct held everything acknowledged


def percentile(sorted_values, q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


class Sampler:
    """CPU-seconds of the server, Postgres and the whole machine between two points in time."""

    def __init__(self, lab: Lab, server: Server):
        self.lab, self.server = lab, server

    def take(self) -> tuple[float, float, float, float, int]:
        return (time.monotonic(), proc_cpu_seconds(self.server.process.pid), self.lab.postgres_cpu(),
                machine_idle_seconds(), self.lab.journal_backlog())


def drive(lab: Lab, server: Server, args, mode: str, generator: str) -> tuple[list[WorkerResult], tuple, tuple]:
    spec = LoadSpec(mode=mode, host="127.0.0.1",
                    port=server.settings.auth_port if mode == "auth" else server.settings.acct_port,
                    secret=lab.secret.encode(), users=lab.users,
                    slots=args.concurrency if mode == "auth" else args.acct_concurrency,
                    processes=args.processes if generator == "python" else 1, warmup=args.warmup, seconds=args.seconds,
                    timeout=args.timeout, retries=0 if mode == "auth" else 2, label=f"{server.name}-{mode}")
    run = CLoadRun(spec) if generator == "c" else LoadRun(spec)
    try:
        start_at = run.start()
        sampler = Sampler(lab, server)
        time.sleep(max(0.0, start_at + args.warmup - time.monotonic()))
        before = sampler.take()
        time.sleep(max(0.0, start_at + args.warmup + args.seconds - time.monotonic()))
        after = sampler.take()
        return run.wait(), before, after
    finally:
        run.stop()


def summarise(test: str, server: Server, generator: str, args, results: list[WorkerResult], before,
              after) -> Figures:
    window = after[0] - before[0]
    latencies = sorted(x for r in results for x in r.latencies)
    answered = sum(r.replies for r in results)
    gen_cpu = sum(r.cpu_seconds for r in results)
    ms = 1000.0
    figures = Figures(
        test=test, server=server.name, generator=generator, concurrency=args.concurrency if test == "auth" else args.acct_concurrency,
        processes=len(results), seconds=round(window, 2), rate=round(answered / args.seconds, 1),
        p50_ms=round(percentile(latencies, 0.50) * ms, 3), p95_ms=round(percentile(latencies, 0.95) * ms, 3),
        p99_ms=round(percentile(latencies, 0.99) * ms, 3),
        max_ms=round((latencies[-1] if latencies else float("nan")) * ms, 3),
        sent=sum(r.sent for r in results), answered=answered, accepts=sum(r.accepts for r in results),
        rejects=sum(r.rejects for r in results), timeouts=sum(r.timeouts for r in results),
        forged=sum(r.forged for r in results),
        server_cpu=round((after[1] - before[1]) / window, 2), postgres_cpu=round((after[2] - before[2]) / window, 2),
        generator_cpu=round(gen_cpu / args.seconds, 2), machine_idle=round((after[3] - before[3]) / window, 2),
        generator_capacity=round(answered / gen_cpu, 0) if gen_cpu else 0.0,
        checked_replies=sum(r.checked for r in results),
        bad_replies=sum(r.missing_ma + r.missing_rate_limit for r in results),
    )
    if test == "acct":
        # radbill acknowledges once the packet is in radacct_journal and folds it into radacct right after; a
        # fold falling behind would flatter the rate, so only what reached radacct in the window counts
        figures.acked_rate = figures.rate
        figures.backlog_growth = after[4] - before[4]
        figures.rate = round(min(answered, answered - figures.backlog_growth) / args.seconds, 1)
    problems = []
    if test == "auth":
        if answered == 0 or figures.accepts < 0.999 * answered:
            problems.append(f"only {figures.accepts} of {answered} answers were Access-Accept")
        if figures.bad_replies:
            problems.append(f"{figures.bad_replies} of {figures.checked_replies} checked accepts lacked "
                            "Message-Authenticator or Mikrotik-Rate-Limit")
    if figures.forged:
        problems.append(f"{figures.forged} replies failed the Response Authenticator check")
    if figures.timeouts:
        problems.append(f"{figures.timeouts} timeouts")
    figures.valid = not [p for p in problems if "timeouts" not in p]
    figures.note = "; ".join(problems)
    return figures


def run_auth(lab: Lab, kind: str, generator: str, args) -> Figures:
    lab.sql("TRUNCATE radpostauth")
    server = lab.start(kind)
    try:
        results, before, after = drive(lab, server, args, "auth", generator)
        figures = summarise("auth", server, generator, args, results, before, after)
        time.sleep(1.0)  # radbill loads radpostauth from its spool (the rest at shutdown): a fair reading
    finally:
        lab.stop_server(server)
    figures.answered_total = sum(r.answered_total for r in results)
    if kind in ("radbill", "stock_sql"):  # the servers that log post-auth
        figures.postauth_rows = lab.sql("SELECT count(*) FROM radpostauth")[0][0]
        if figures.postauth_rows < figures.answered_total:
            figures.note = "; ".join(filter(None, [figures.note, (
                f"radpostauth has {figures.postauth_rows} rows for {figures.answered_total} answered requests "
                f"({figures.answered_total - figures.postauth_rows} log rows lost)")]))
    return figures


def run_acct(lab: Lab, kind: str, generator: str, args) -> Figures:
    lab.sql("TRUNCATE radacct, radacct_stock, radacct_journal")
    server = lab.start(kind)
    try:
        results, before, after = drive(lab, server, args, "acct", generator)
        figures = summarise("acct", server, generator, args, results, before, after)
        started = time.monotonic()
        while lab.journal_backlog() and time.monotonic() - started < 120:
            time.sleep(0.05)
        figures.drain_s = round(time.monotonic() - started, 2)
    finally:
        lab.stop_server(server)  # every acknowledged write has committed: rlm_sql acks after the statement
    table = "radacct" if kind == "radbill" else STOCK_ACCT_TABLE
    rows, closed = lab.sql(f"SELECT count(*), count(acctstoptime) FROM {table}")[0]  # noqa: S608 (fixed names)
    figures.radacct_rows, figures.closed_rows = rows, closed
    figures.sessions_acked = sum(r.sessions_acked for r in results)
    figures.stops_acked = sum(r.sessions_stopped for r in results)
    figures.abandoned = sum(r.abandoned for r in results)
    figures.accepts = sum(sum(r.acked.values()) for r in results)  # acknowledged packets, whole run
    sessions_sent = sum(r.sessions_sent for r in results)
    lost = []
    if rows < figures.sessions_acked:
        lost.append(f"{figures.sessions_acked - rows} acknowledged sessions have no radacct row")
    if closed < figures.stops_acked:
        lost.append(f"{figures.stops_acked - closed} acknowledged Stops are not recorded")
    if rows > sessions_sent:
        lost.append(f"{rows - sessions_sent} radacct rows more than sessions sent")
    if lost:
        figures.valid = False
        figures.note = "; ".join(filter(None, [figures.note, *lost]))
    return figures


def median_round(figures: list[Figures]) -> Figures:
    """The round with the median rate (its own latency and CPU figures); invalid if any round was."""
    chosen = sorted(figures, key=lambda f: f.rate)[(len(figures) - 1) // 2]
    if len(figures) > 1:
        chosen.round_rates = [f.rate for f in figures]
        bad = [f for f in figures if not f.valid or f.note]
        chosen.valid = chosen.valid and all(f.valid for f in figures)
        chosen.note = "; ".join(dict.fromkeys(f.note for f in bad if f.note)) or chosen.note
    return chosen


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.radius", description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=10000)
    p.add_argument("--seconds", type=float, default=10.0, help="measured window per server (after --warmup)")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--concurrency", type=int, default=32, help="Access-Requests in flight (<= 64: slots x 256 ids "
                   "must stay under the servers' max_requests = 16384)")
    p.add_argument("--acct-concurrency", type=int, default=16, help="Accounting-Requests in flight")
    p.add_argument("--generator", default="c", help="c (bench/radload.c, one thread), python (bench/loadgen.py, "
                   "--processes workers) or both, comma-separated: each server is run under each, interleaved")
    p.add_argument("--processes", type=int, default=2, help="Python generator processes")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds before a request counts as lost")
    p.add_argument("--only", choices=("auth", "acct"), help="run only one of the two tests")
    p.add_argument("--rounds", type=int, default=3, help="rounds over all servers; each server's median round "
                   "is reported (this machine's speed drifts by 10-20%% between minutes)")
    p.add_argument("--servers", default=",".join(AUTH_TARGETS), help="subset of " + ",".join(AUTH_TARGETS))
    args = p.parse_args(argv)
    if not 1 <= args.concurrency <= 64 or not 1 <= args.acct_concurrency <= 64:
        p.error("--concurrency and --acct-concurrency must be between 1 and 64")
    if not 1 <= args.rounds <= 10:
        p.error("--rounds must be between 1 and 10")
    if args.seconds <= 0 or args.seconds > 600 or args.warmup < 0:
        p.error("--seconds must be in (0, 600], --warmup >= 0")
    args.servers = [s for s in args.servers.split(",") if s]
    unknown = set(args.servers) - set(AUTH_TARGETS)
    if unknown:
        p.error(f"unknown servers: {', '.join(sorted(unknown))}")
    args.generators = [g for g in args.generator.split(",") if g]
    if not args.generators or set(args.generators) - set(GENERATORS):
        p.error("--generator must be c, python or c,python")
    return args


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run_rounds(lab: Lab, args) -> list[Figures]:
    """Rounds interleave the servers and generators, so a slow spell of the machine hits all of them."""
    runs: dict[tuple[str, str, str], list[Figures]] = {}
    for n in range(1, args.rounds + 1):
        for gen in args.generators:
            tests = [("auth", k) for k in AUTH_TARGETS if args.only != "acct" and k in args.servers]
            tests += [("acct", k) for k in ACCT_TARGETS if args.only != "auth" and k in args.servers]
            for test, kind in tests:
                figures = (run_auth if test == "auth" else run_acct)(lab, kind, gen, args)
                runs.setdefault((test, kind, gen), []).append(figures)
                print(f"# round {n} {test} {kind} ({gen}): {figures.rate:,.0f}/s, generator "
                      f"{figures.generator_cpu:.2f} cores, load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return [median_round(figures) for figures in runs.values()]


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    rows: list[Figures] = []
    lab = Lab(args.users)
    if "c" in args.generators:
        ensure_built()
    try:
        t0 = time.monotonic()
        lab.start_database()
        lab.seed()
        lab.write_users_file()
        print(f"# {args.users} customers seeded in {time.monotonic() - t0:.1f}s; generators "
              f"{','.join(args.generators)}; {args.warmup:g}s warm-up + {args.seconds:g}s per server; "
              f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
        rows = run_rounds(lab, args)
    except KeyboardInterrupt:
        print("interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        lab.close()
    summary = ratios(rows)
    print(table(rows))
    print()
    for line in verdicts(summary) + generator_share(rows):
        print(line)
    for f in rows:
        if f.round_rates:
            print(f"rounds: {f.test} {f.server} ({f.generator}): " + ", ".join(f"{r:,.0f}" for r in f.round_rates)
                  + " req/s")
    for f in rows:
        if f.note:
            print(f"note: {f.test} {f.server} ({f.generator}): {f.note}")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(json.dumps({"bench": "radius", "users": args.users, "results": [asdict(f) for f in rows],
                      "ratios": summary, "loadavg": os.getloadavg()}, separators=(",", ":")))
    return 0 if all(f.valid for f in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

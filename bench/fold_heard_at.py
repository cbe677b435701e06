"""What radacct's heard_at trigger (migration 0018) costs the accounting fold: the same journal folded with the
trigger enabled and disabled, rounds interleaved (this VM's speed drifts). Prints the Postgres backend's CPU
µs per folded journal row (CPU, not wall time: the 2 cores are shared with whatever else runs).

    .venv/bin/python -m bench.fold_heard_at --sessions 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

import psycopg

from bench.db import throwaway_database

# a Start, two Interims and a Stop per session: the fold's insert, updates and close, as a NAS sends them
JOURNAL = """
    INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, username, nasipaddress, event_time,
                                 sessiontime, inputoctets, outputoctets, framedipaddress)
    SELECT s.status, 'S' || g, md5(%(round)s || ':' || g), 'user' || (g %% 5000), '10.0.0.1', now(),
           s.n * 60, s.n * 1000, s.n * 2000, '10.1.0.5'
      FROM generate_series(1, %(sessions)s) AS g,
           (VALUES (0, 'Start'), (1, 'Interim-Update'), (2, 'Interim-Update'), (3, 'Stop')) AS s(n, status)
     ORDER BY s.n, g
"""


def fold_all(conn: psycopg.Connection) -> int:
    folded = 0
    while rows := conn.execute("SELECT count(*) FROM radbill_fold_accounting(20000, true)").fetchone()[0]:
        folded += rows
    return folded


def backend_cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def one_round(conn: psycopg.Connection, round_no: int, sessions: int, trigger: bool) -> float:
    conn.execute(f"ALTER TABLE radacct {'ENABLE' if trigger else 'DISABLE'} TRIGGER radacct_heard")
    conn.execute("TRUNCATE radacct")
    conn.execute(JOURNAL, {"round": f"{round_no}{trigger}", "sessions": sessions})
    conn.execute("VACUUM ANALYZE radacct_journal")
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    started = backend_cpu_seconds(pid)
    folded = fold_all(conn)
    return (backend_cpu_seconds(pid) - started) / folded * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"with_trigger": [], "without_trigger": []}
    with throwaway_database() as url, psycopg.connect(url, autocommit=True) as conn:
        for round_no in range(args.rounds):
            for trigger in (round_no % 2 == 0, round_no % 2 == 1):
                key = "with_trigger" if trigger else "without_trigger"
                results[key].append(round(one_round(conn, round_no, args.sessions, trigger), 2))
    medians = {k: statistics.median(v) for k, v in results.items()}
    print(f"fold, backend CPU µs per journal row ({4 * args.sessions} rows per round, median of {args.rounds}):")
    for key, values in results.items():
        print(f"  {key:<16} {medians[key]:6.2f}   rounds {values}")
    print(f"  heard_at trigger costs {medians['with_trigger'] - medians['without_trigger']:+.2f} µs per row "
          f"({medians['with_trigger'] / medians['without_trigger'] - 1:+.1%})")
    print(json.dumps({"bench": "fold_heard_at", "sessions": args.sessions, **results}))


if __name__ == "__main__":
    main()

"""What several RADIUS nodes cost the fold (radius_module/peers.py): the module's own fold (Worker.fold, journals as
`make bench-fold`'s) alone, and with another node alive (each fold also writes its result to radacct_feed), plus
what the other node spends reading that feed. Same run, same data, interleaved rounds.

    python -m bench.fold_feed --rounds 5 --rows 30000

Prints median microseconds per folded row (fold) and per row read (the peer's read).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import timedelta

import psycopg

from bench.fold import JOURNAL, SESSIONS
from bench.servers import Lab
from radius_module.peers import Peers
from radius_module.sessions import OpenSessions
from radius_module.snapshot import PolicySnapshot
from radius_module.worker import Worker


def fold_us(conn: psycopg.Connection, worker: Worker, tag: str, rows: int) -> float:
    conn.execute(JOURNAL, {"tag": tag, "n": rows})
    started = time.perf_counter()
    folded = worker.fold(conn, track=False)
    return (time.perf_counter() - started) * 1e6 / max(folded, 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--rows", type=int, default=30000)
    args = p.parse_args(argv)
    lab = Lab(10000)
    figures: dict[str, list[float]] = {"fold_alone": [], "fold_with_peer": [], "peer_read": []}
    try:
        lab.start_database()
        with psycopg.connect(lab.db_url, autocommit=True) as conn:
            conn.execute(SESSIONS)
            conn.execute("VACUUM ANALYZE radacct")
            worker = Worker(lab.db_url, PolicySnapshot(), OpenSessions(timedelta(minutes=6)))
            peer = Peers("bench-peer")
            for r in range(args.rounds):
                conn.execute("DELETE FROM radius_nodes")
                figures["fold_alone"].append(fold_us(conn, worker, f"a{r}-", args.rows))
                peer.register(conn, time.monotonic())
                peer.reset_cursor(conn)
                figures["fold_with_peer"].append(fold_us(conn, worker, f"p{r}-", args.rows))
                started = time.perf_counter()
                got = peer.read(conn)
                figures["peer_read"].append((time.perf_counter() - started) * 1e6 / max(len(got), 1))
    finally:
        lab.close()
    medians = {k: round(statistics.median(v), 2) for k, v in figures.items()}
    for key, values in figures.items():
        print(f"{key:16} median {medians[key]:8.2f} us/row  rounds: " + ", ".join(f"{v:.2f}" for v in values))
    print(json.dumps({"bench": "fold_feed", "rows": args.rows, "median_us_per_row": medians}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

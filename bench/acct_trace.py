"""Where the CPU of accounting goes, per interval, while a load runs (`bench.accounting_size --trace FILE`).

The box is saturated under the accounting load, so the accepted rate alone cannot say which part got slower: the
tracer divides each part's CPU by the packets that arrived in the interval (ms of CPU per 1,000 packets), which
stays comparable while other work on the machine comes and goes. Parts: FreeRADIUS (with its Python worker), the
Postgres backends by application_name (rlm_sql's journal INSERTs; the module's fold), Postgres's own processes
(autovacuum launcher, checkpointer, WAL writer, ...), and children that exited in the interval (autovacuum workers
mostly), from the postmaster's cutime. Beside them: WAL full-page images per 1,000 packets, checkpoints, the
month's partition's live/dead rows and its autovacuum/autoanalyze counts, and FreeRADIUS's resident memory.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psycopg

from bench.servers import proc_cpu_seconds, proc_cpu_split, proc_rss_mb

ACTIVITY = ("SELECT pid, coalesce(nullif(application_name, ''), backend_type, 'other') FROM pg_stat_activity"
            " WHERE pid IS NOT NULL")
STATS = """
SELECT (SELECT s.last_value FROM radacct_journal_id_seq s),
       (SELECT wal_fpi FROM pg_stat_wal), (SELECT wal_bytes FROM pg_stat_wal),
       (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter),
       (SELECT blks_read FROM pg_stat_database WHERE datname = current_database()),
       (SELECT buffers_clean + buffers_backend + buffers_checkpoint FROM pg_stat_bgwriter),
       t.n_live_tup, t.n_dead_tup, t.autovacuum_count, t.autoanalyze_count, t.n_tup_hot_upd, t.n_tup_upd
  FROM pg_stat_user_tables t
 WHERE t.relid = (SELECT c.oid FROM pg_class c WHERE c.relname = 'radacct_' || to_char(now(), 'YYYY_MM'))
"""


class Tracer(threading.Thread):
    """One JSON line per `every` seconds to `path`: counters (cumulative) read from /proc and Postgres."""

    def __init__(self, url: str, path: Path, radius_pid: int, postmaster_pid: int, every: float = 10.0):
        super().__init__(daemon=True)
        self.url, self.path, self.every = url, path, every
        self.radius_pid, self.postmaster_pid = radius_pid, postmaster_pid
        self.done, self.samples = threading.Event(), []

    def sample(self, conn: psycopg.Connection) -> dict:
        cpu: dict[str, float] = {}
        for pid, name in conn.execute(ACTIVITY).fetchall():
            cpu[name] = cpu.get(name, 0.0) + proc_cpu_seconds(pid)
        own, exited = proc_cpu_split(self.postmaster_pid)
        row = conn.execute(STATS).fetchone() or (None,) * 12
        return {"t": time.monotonic(), "arrived": row[0], "freeradius": proc_cpu_seconds(self.radius_pid),
                "freeradius_rss_mb": round(proc_rss_mb(self.radius_pid), 1), "postmaster": own, "exited": exited,
                "backends": cpu, "wal_fpi": row[1], "wal_bytes": int(row[2] or 0), "checkpoints": row[3],
                "blks_read": row[4], "buffers_written": row[5], "month_live": row[6], "month_dead": row[7],
                "month_autovacuums": row[8], "month_autoanalyzes": row[9], "month_hot_upd": row[10],
                "month_upd": row[11]}

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn, self.path.open("w") as out:
            while not self.done.is_set():
                s = self.sample(conn)
                self.samples.append(s)
                out.write(json.dumps(s) + "\n")
                out.flush()
                self.done.wait(self.every)


def per_interval(samples: list[dict]) -> list[dict]:
    """CPU ms per 1,000 arrived packets for each part, between consecutive samples."""
    out = []
    for a, b in zip(samples, samples[1:], strict=False):
        packets = (b["arrived"] or 0) - (a["arrived"] or 0)
        if packets <= 0:
            continue
        per_k = 1e6 / packets
        parts = {"freeradius": b["freeradius"] - a["freeradius"], "exited": b["exited"] - a["exited"]}
        for name in set(a["backends"]) | set(b["backends"]):
            delta = b["backends"].get(name, 0.0) - a["backends"].get(name, 0.0)
            if delta > 0:  # a backend that ended took its CPU with it (counted under exited)
                parts[name] = delta
        out.append({"at_s": round(b["t"] - samples[0]["t"]), "per_s": round(packets / (b["t"] - a["t"])),
                    **{f"{k}_ms_per_k": round(v * per_k, 1) for k, v in sorted(parts.items())},
                    "fpi_per_k": round((b["wal_fpi"] - a["wal_fpi"]) * 1000 / packets),
                    "wal_kb_per_k": round((b["wal_bytes"] - a["wal_bytes"]) / packets),
                    "reads_per_k": round((b["blks_read"] - a["blks_read"]) * 1000 / packets),
                    "writes_per_k": round((b["buffers_written"] - a["buffers_written"]) * 1000 / packets),
                    "checkpoints": b["checkpoints"] - a["checkpoints"], "month_live": b["month_live"],
                    "month_dead": b["month_dead"], "autovacuums": b["month_autovacuums"] - a["month_autovacuums"],
                    "autoanalyzes": b["month_autoanalyzes"] - a["month_autoanalyzes"],
                    "freeradius_rss_mb": b["freeradius_rss_mb"]})
    return out


def report(samples: list[dict]) -> None:
    rows = per_interval(samples)
    if not rows:
        return
    keys = sorted({k for r in rows for k in r if k.endswith("_ms_per_k")})
    print("\nCPU ms per 1,000 arrived packets, per interval (bench/acct_trace.py):")
    print(" ".join(f"{k.removesuffix('_ms_per_k')[:14]:>14}" for k in ["at_s", "per_s", *keys]),
          " fpi/k read/k writ/k ckpt  month_live  month_dead av an rss_mb")
    for r in rows:
        print(" ".join(f"{r.get(k, 0):>14}" for k in ["at_s", "per_s", *keys]),
              f"{r['fpi_per_k']:>6} {r['reads_per_k']:>6} {r['writes_per_k']:>6} {r['checkpoints']:>4} {r['month_live']:>11} {r['month_dead']:>11}"
              f" {r['autovacuums']:>2} {r['autoanalyzes']:>2} {r['freeradius_rss_mb']:>6}")

"""`make bench-fold`: what folding the accounting journal costs Postgres, for the current fold and, in the same run on
the same journals, the previous one (migration 0011's, loaded under another name) — plus what the journal's
wake-up trigger adds to each rlm_sql INSERT (worker busy: reads a flag; worker idle: NOTIFY) — and what the session
webhook triggers on radacct (migration 0048) add to the fold: off, on with no endpoint listening, and on with one
endpoint hearing session.started/stopped for every customer (then each Start and Stop queues a delivery).

    python -m bench.fold --rounds 5 --rows 30000

Journals look like `make bench-radius`'s load (sessions run Start -> Interim-Update -> Stop) on a radacct that
already holds 100,000 closed and 10,000 open sessions. Prints median microseconds per folded row and per INSERT.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import psycopg

from bench.servers import Lab

MIGRATIONS = Path(__file__).resolve().parent.parent / "sql" / "migrations"
SESSIONS = """
    INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
                         acctstoptime, acctsessiontime, acctinputoctets, acctoutputoctets)
    SELECT 'old' || i, 'old' || i, 'bench' || lpad((i % 10000)::text, 6, '0'), '127.0.0.1', now() - interval '1 day',
           now(), CASE WHEN i > 10000 THEN now() END, 60, i, i
      FROM generate_series(1, 110000) AS i
"""
# a third each, in this order: Starts of new sessions, then their Interims, then their Stops (so most batches update
# rows an earlier batch inserted, as under load)
JOURNAL = """
    INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, username, nasipaddress, event_time,
                                 sessiontime, inputoctets, outputoctets)
    SELECT s.status, %(tag)s || i, %(tag)s || i, 'bench' || lpad((i %% 10000)::text, 6, '0'), '127.0.0.1', now(),
           60, i, i
      FROM generate_series(1, %(n)s / 3) AS i,
           (VALUES (1, 'Start'), (2, 'Interim-Update'), (3, 'Stop')) AS s(k, status)
     ORDER BY s.k, i
"""
ONE_INSERT = ("INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, username, nasipaddress, event_time,"
              " inputoctets, outputoctets) VALUES ('Interim-Update', %s, %s, 'bench000001', '127.0.0.1', now(), 1, 1)")


def previous_fold() -> str:
    """Migration 0011's radbill_fold_accounting, renamed, so both folds run against the same data."""
    text = (MIGRATIONS / "0011_accounting_journal.sql").read_text()
    body = re.search(r"CREATE FUNCTION radbill_fold_accounting\(.*?\n\$\$;", text, re.S).group(0)
    return body.replace("CREATE FUNCTION radbill_fold_accounting(", "CREATE FUNCTION bench_fold_0011(", 1)


FOLDS = {"fold_0011": "SELECT count(*) FROM bench_fold_0011(%s)",
         "fold_now": "SELECT count(*) FROM radbill_fold_accounting(%s)"}
WEBHOOK_TRIGGERS = ("radacct_webhooks_inserted", "radacct_webhooks_updated")
# the current fold under each state of the session webhooks: (fold, statements that set the state up)
FOLD_STATES = {
    "fold_0011": ("fold_0011", ()),
    "fold_now_no_webhook_triggers": ("fold_now", tuple(f"ALTER TABLE radacct DISABLE TRIGGER {t}"
                                                       for t in WEBHOOK_TRIGGERS)),
    "fold_now": ("fold_now", tuple(f"ALTER TABLE radacct ENABLE TRIGGER {t}" for t in WEBHOOK_TRIGGERS)),
    "fold_now_session_webhook": ("fold_now", (
        "INSERT INTO webhook_endpoints (operator_id, url, events, secret_sealed) SELECT min(id),"
        " 'https://127.0.0.1/bench', ARRAY['session.started', 'session.stopped'], 'unused' FROM operators",)),
}
WEBHOOKS_OFF = ("DELETE FROM webhook_endpoints", "DELETE FROM outbox WHERE kind = 'webhook'")
# the wake-up trigger off; on while the worker is busy (reads the flag); on while it is idle (NOTIFY every packet)
TRIGGER_STATES = {
    "insert_no_trigger": ("ALTER TABLE radacct_journal DISABLE TRIGGER radacct_journal_wake",),
    "insert_worker_busy": ("ALTER TABLE radacct_journal ENABLE TRIGGER radacct_journal_wake",
                           "UPDATE radacct_fold_state SET worker_idle = false"),
    "insert_worker_idle": ("UPDATE radacct_fold_state SET worker_idle = true",),
}


def fold_us_per_row(conn: psycopg.Connection, key: str, tag: str, rows: int, batch: int) -> float:
    conn.execute(JOURNAL, {"tag": tag, "n": rows})
    started, folded = time.perf_counter(), 0
    while n := conn.execute(FOLDS[key], (batch,)).fetchone()[0]:
        folded += n
    return (time.perf_counter() - started) * 1e6 / folded


def insert_us(conn: psycopg.Connection, tag: str, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        conn.execute(ONE_INSERT, (f"{tag}{i}", f"{tag}{i}"))
    return (time.perf_counter() - started) * 1e6 / n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--rows", type=int, default=30000, help="journal rows per fold measurement")
    p.add_argument("--batch", type=int, default=5000, help="rows per fold call (the module's FOLD_BATCH)")
    p.add_argument("--inserts", type=int, default=3000, help="single-row INSERTs per trigger measurement")
    args = p.parse_args(argv)
    lab = Lab(10000)
    figures: dict[str, list[float]] = {key: [] for key in (*FOLD_STATES, *TRIGGER_STATES)}
    try:
        lab.start_database()
        lab.seed()  # the journal's users are customers: a session event names its customer and operator
        with psycopg.connect(lab.db_url, autocommit=True) as conn:
            conn.execute(previous_fold())
            conn.execute(SESSIONS)
            conn.execute("VACUUM ANALYZE radacct")
            for r in range(args.rounds):  # interleaved: a slow spell of the machine hits both
                for key, (fold, statements) in FOLD_STATES.items():
                    for statement in statements:
                        conn.execute(statement)
                    figures[key].append(fold_us_per_row(conn, fold, f"r{r}{key}-", args.rows, args.batch))
                    for statement in WEBHOOKS_OFF:
                        conn.execute(statement)
                for key, statements in TRIGGER_STATES.items():
                    for statement in statements:
                        conn.execute(statement)
                    figures[key].append(insert_us(conn, f"i{r}{key}-", args.inserts))
                conn.execute("DELETE FROM radacct_journal")
    finally:
        lab.close()
    medians = {k: round(statistics.median(v), 1) for k, v in figures.items()}
    for key, values in figures.items():
        print(f"{key:20} median {medians[key]:8.1f} us  rounds: " + ", ".join(f"{v:.1f}" for v in values))
    print(json.dumps({"bench": "fold", "rows": args.rows, "batch": args.batch, "median_us": medians}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

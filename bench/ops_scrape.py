"""What a /healthz check and a /metrics scrape cost in the database as history grows (`python -m bench.ops_scrape
--rows 200000`): the outbox (every row grouped by lane, kind and state), the post-auth log (last 5 minutes only,
by its authdate index) and the accounting journal. Prints p50/p95 per step as one JSON line per size.
FreeRADIUS is not started: its Status-Server answer is a UDP round trip of well under a millisecond."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime

import asyncpg

from bench.db import app_url, summarise, throwaway_database
from radbill import health, metrics
from radbill.db.pool import SYSTEM, set_scope

FILL = {
    "outbox": "INSERT INTO outbox (kind, payload, destination, done_at, created_at)"
              " SELECT 'sms', '{}', 'sms:' || (g % 5),"  # 1 % pending, the rest sent over 30 days
              " CASE WHEN g % 100 > 0 THEN now() - (g % 2592000) * interval '1 second' END,"
              " now() - (g % 2592000) * interval '1 second'"
              " FROM generate_series(1, $1) g",
    "radpostauth": "INSERT INTO radpostauth (username, reply, reason, authdate)"
                   " SELECT 'u' || g, CASE WHEN g % 7 = 0 THEN 'Access-Reject' ELSE 'Access-Accept' END,"
                   " CASE WHEN g % 7 = 0 THEN 'expired' ELSE 'ok' END, now() - (g % 86400) * interval '1 second'"
                   " FROM generate_series(1, $1) g",
}


# the baseline: what /metrics first did (every outbox row ever, grouped by lane, kind and state)
WHOLE_HISTORY = ("SELECT destination, kind, CASE WHEN done_at IS NOT NULL THEN 'sent' WHEN failed_at IS NOT NULL"
                 " THEN 'failed' ELSE 'pending' END AS state, count(*) AS n FROM outbox GROUP BY 1, 2, 3")


async def timed(conn: asyncpg.Connection, runs: int) -> dict:
    out = {}
    for name, step in (("healthz_db", lambda: health.database_checks(conn, datetime.now(UTC))),
                       ("metrics_db", lambda: metrics.database_families(conn)),
                       ("baseline_outbox_whole_history", lambda: conn.fetch(WHOLE_HISTORY))):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            await step()
            times.append((time.perf_counter() - started) * 1000)
        out[name] = summarise(times)
    return out


async def main(url: str, sizes: list[int], runs: int) -> None:
    owner = await asyncpg.connect(url)
    app = await asyncpg.connect(app_url(url))
    await set_scope(app, SYSTEM)
    try:
        done = 0
        for size in sizes:
            for statement in FILL.values():
                await owner.execute(statement, size - done)
            await owner.execute("ANALYZE outbox; ANALYZE radpostauth")
            done = size
            print(json.dumps({"rows_each": size, **await timed(app, runs)}), flush=True)
    finally:
        await owner.close()
        await app.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with throwaway_database() as db_url:
        asyncio.run(main(db_url, sorted(args.rows), args.runs))

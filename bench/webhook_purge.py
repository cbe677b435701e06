"""`python -m bench.webhook_purge`: the webhook deliveries log's retention purge (radbill.services.webhook_retention)
on a big log, as the scheduler runs it (radbill_app, row-level security, the system scope). Prints the rows
purged, the total time and each batch's time (how long one transaction holds its row locks), and, as the
baseline on the same data seeded again, one unbatched DELETE of the same rows (one transaction for all).

    python -m bench.webhook_purge --deliveries 300000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import timedelta

import asyncpg

from bench.db import app_url, summarise, throwaway_database
from radbill import clock
from radbill.db.pool import SYSTEM, create_pool
from radbill.services.webhook_retention import PURGE_BATCH, RetentionSettings

SETUP = [
    "INSERT INTO operators (kind, name) VALUES ('group_admin', 'Bench')",
    """INSERT INTO webhook_endpoints (operator_id, url, events, secret_sealed)
       SELECT id, 'https://hooks.example.net/' || g, '{customer.updated}', 'x'
         FROM operators, generate_series(1, 10) g""",
]
# ages spread over 0..180 days; one in ten never delivered; one attempt each
DELIVERIES = """
    INSERT INTO webhook_deliveries (endpoint_id, operator_id, event_id, event_type, payload, created_at, delivered_at)
    SELECT e.id, e.operator_id, 'msg_' || g, 'customer.updated', '{"data": {"customer_id": 1}}', t.at,
           CASE WHEN g % 10 <> 0 THEN t.at + interval '2 seconds' END
      FROM generate_series(1, $1) g
      CROSS JOIN LATERAL (SELECT $2::timestamptz - (g % 180) * interval '1 day' - (g % 86400) * interval '1 second'
                          AS at) t
      JOIN (SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, operator_id FROM webhook_endpoints) e
        ON e.n = g % 10
"""
FILL = [
    """INSERT INTO webhook_attempts (delivery_id, operator_id, at, status_code, duration_ms)
       SELECT id, operator_id, created_at, 200, 40 FROM webhook_deliveries""",
    # a thousand old ones being sent again by hand: kept
    """INSERT INTO outbox (kind, operator_id, payload)
       SELECT 'webhook', operator_id, jsonb_build_object('webhook_id', endpoint_id, 'delivery_id', id, 'by_hand', true)
         FROM webhook_deliveries WHERE delivered_at IS NULL ORDER BY id LIMIT 1000""",
    "ANALYZE webhook_deliveries", "ANALYZE webhook_attempts", "ANALYZE outbox",
]
CLEAR = "TRUNCATE webhook_attempts, webhook_deliveries, outbox"
# the baseline: the same rows in one statement (what a purge without batches would do)
UNBATCHED = PURGE_BATCH.replace("LIMIT $3 FOR UPDATE OF d SKIP LOCKED", "FOR UPDATE OF d SKIP LOCKED")


async def seed(owner: asyncpg.Connection, deliveries: int, now) -> None:
    await owner.execute(CLEAR)
    await owner.execute(DELIVERIES, deliveries, now)
    for statement in FILL:
        await owner.execute(statement)


async def run(url: str, deliveries: int, batch: int) -> dict:
    now = clock.now()
    settings = RetentionSettings()
    cutoffs = (now - timedelta(days=settings.keep_delivered_days), now - timedelta(days=settings.keep_failed_days))
    owner = await asyncpg.connect(url)
    pool = await create_pool(app_url(url), min_size=1, max_size=2, default_scope=SYSTEM)
    try:
        for statement in SETUP:
            await owner.execute(statement)
        await seed(owner, deliveries, now)
        batches, started = [], time.perf_counter()
        async with pool.acquire() as conn:
            while True:
                t = time.perf_counter()
                done = int((await conn.execute(PURGE_BATCH, *cutoffs, batch)).split()[-1])
                batches.append((time.perf_counter() - t) * 1000)
                if done < batch:
                    break
        batched_s = time.perf_counter() - started
        kept = await owner.fetchval("SELECT count(*) FROM webhook_deliveries")
        await seed(owner, deliveries, now)
        async with pool.acquire() as conn:
            t = time.perf_counter()
            purged_once = int((await conn.execute(UNBATCHED, *cutoffs)).split()[-1])
            unbatched_ms = (time.perf_counter() - t) * 1000
        return {"deliveries": deliveries, "kept": kept, "purged": deliveries - kept, "batch": batch,
                "batched_total_s": round(batched_s, 2), "per_batch": summarise(batches),
                "baseline_unbatched": {"purged": purged_once, "one_transaction_ms": round(unbatched_ms, 1)}}
    finally:
        await pool.close()
        await owner.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    with throwaway_database() as url:
        print(json.dumps(asyncio.run(run(url, args.deliveries, args.batch)), indent=2))


if __name__ == "__main__":
    main()

"""Putting rows in the outbox: a thin wrapper over the SQL function `radbill_enqueue` (migration 0014), which
holds the one dedupe/re-arm rule for every writer (the RADIUS module's worker calls the same function).

The rule, in short: a dedupe key suppresses a duplicate only while the earlier row is pending; a finished
disconnect/CoA (done or failed) is enqueued again as a new row; an SMS or webhook key, once used, is never sent
again; a command for a session supersedes the pending commands it makes pointless. Set-based writers call
`radbill_enqueue_many` (migration 0050, the same rule for a set of rows; radbill_enqueue is its set of one) with
arrays built in their one statement (the bill run's SMS), or `radbill_enqueue` per row (reminders, broadcasts).
"""

from __future__ import annotations

import json

import asyncpg

ENQUEUE = "SELECT radbill_enqueue($1, $2, $3::jsonb, $4)"


async def enqueue(conn: asyncpg.Connection, kind: str, operator_id: int | None, payload: dict,
                  dedupe_key: str | None = None) -> int | None:
    """Queue one row; returns its id, or None when the dedupe key suppressed it."""
    return await conn.fetchval(ENQUEUE, kind, operator_id, json.dumps(payload, default=str), dedupe_key)

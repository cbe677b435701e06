"""Per-destination dispatch for the outbox: the fair claim and the circuit breaker.

Every row has a destination (a router 'nas:<ip>', 'sms', 'webhook:<id>'; set at enqueue by
`radbill_outbox_destination`). A claim takes at most `per_destination` due rows of each destination, heads of
every destination first, so 10,000 disconnects for one router are never ahead of another router's one. A
destination that timed out `breaker_after` times in a row is open (table outbox_breakers): it gets one probe in
flight at a time until it answers, which closes it. The dispatcher runs the lanes side by side (outbox.drain),
so rows still waiting on a silent router never hold back the claim of anything else.
"""

from __future__ import annotations

import logging

import asyncpg

log = logging.getLogger("radbill.outbox")

# The destinations with pending rows, found by skipping along the (destination, ...) index (a loose index scan:
# one probe per destination, however many rows are stuck behind one), then up to `room` due rows per destination:
# per_destination (sms_lane for SMS), or 1 while its breaker is open, minus what this dispatcher has in flight there.
CLAIM = """
WITH RECURSIVE dest AS (
    (SELECT destination FROM outbox WHERE done_at IS NULL AND failed_at IS NULL ORDER BY destination LIMIT 1)
    UNION ALL
    SELECT (SELECT o.destination FROM outbox o
             WHERE o.done_at IS NULL AND o.failed_at IS NULL AND o.destination > dest.destination
             ORDER BY o.destination LIMIT 1)
      FROM dest WHERE dest.destination IS NOT NULL
), lanes AS (
    SELECT d.destination,
           CASE WHEN b.opened_at IS NOT NULL THEN 1 WHEN d.destination = 'sms' THEN $7::int ELSE $3::int END
             - coalesce(f.n, 0) AS room
      FROM dest d
      LEFT JOIN outbox_breakers b ON b.destination = d.destination
      LEFT JOIN unnest($5::text[], $6::int[]) AS f(destination, n) ON f.destination = d.destination
     WHERE d.destination IS NOT NULL
), picked AS (
    SELECT p.id FROM lanes l
     CROSS JOIN LATERAL (
        SELECT q.id, q.next_attempt_at, row_number() OVER (ORDER BY q.next_attempt_at, q.id) AS lane_pos
          FROM (SELECT id, next_attempt_at FROM outbox
                 WHERE destination = l.destination AND done_at IS NULL AND failed_at IS NULL
                   AND next_attempt_at <= now() AND kind = ANY($1::text[])
                 ORDER BY next_attempt_at, id
                 LIMIT greatest(l.room, 0)
                   FOR UPDATE SKIP LOCKED) q) p
     ORDER BY p.lane_pos, p.next_attempt_at, p.id
     LIMIT $2
)
UPDATE outbox o SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => $4)
  FROM picked
 WHERE o.id = picked.id
RETURNING o.*
"""

TIMED_OUT = """
    INSERT INTO outbox_breakers AS b (destination, consecutive_timeouts, opened_at, last_error)
    VALUES ($1, 1, CASE WHEN $2::int <= 1 THEN now() END, $3)
    ON CONFLICT (destination) DO UPDATE
       SET consecutive_timeouts = b.consecutive_timeouts + 1,
           opened_at = coalesce(b.opened_at, CASE WHEN b.consecutive_timeouts + 1 >= $2::int THEN now() END),
           last_error = EXCLUDED.last_error, updated_at = now()
    RETURNING opened_at, consecutive_timeouts
"""
# only touches a destination that had timed out: a healthy one's answers write nothing here
ANSWERED = """
    WITH old AS (SELECT destination, opened_at FROM outbox_breakers
                  WHERE destination = $1 AND consecutive_timeouts > 0 FOR UPDATE)
    UPDATE outbox_breakers b SET consecutive_timeouts = 0, opened_at = NULL, updated_at = now()
      FROM old WHERE b.destination = old.destination
    RETURNING old.opened_at
"""


async def claim_lanes(conn: asyncpg.Connection, kinds: list[str], batch_size: int, per_destination: int,
                      sms_lane: int, lease_seconds: float, in_flight: dict[str, int] | None = None
                      ) -> list[asyncpg.Record]:
    """Claim up to batch_size due rows of `kinds`, fairly across destinations (`per_destination` rows per
    router/webhook, `sms_lane` for SMS); `in_flight`: destination -> rows this dispatcher is still sending
    there (they count against the destination's room)."""
    in_flight = in_flight or {}
    return await conn.fetch(CLAIM, kinds, batch_size, per_destination, lease_seconds,
                            list(in_flight), list(in_flight.values()), sms_lane)


async def record_breaker(conn: asyncpg.Connection, destination: str, status: str, error: str | None,
                         breaker_after: int) -> None:
    """Count a timeout against the destination (opening its breaker at `breaker_after`), or close it on any
    answer. Only a silence counts: a NAK or an error reply means the destination is there."""
    if status == "timeout":
        row = await conn.fetchrow(TIMED_OUT, destination, breaker_after, error)
        if row["opened_at"] is not None and row["consecutive_timeouts"] == breaker_after:
            log.error("outbox destination %s did not answer %d times in a row: sending one probe at a time until "
                      "it answers", destination, breaker_after)
    else:
        was_open = await conn.fetchval(ANSWERED, destination)
        if was_open is not None:
            log.warning("outbox destination %s answers again: its backlog is sent", destination)

"""Due-date and expiry reminders: one set-based INSERT per kind into the outbox, keyed so that each reminder
slot (e.g. 3 days and 1 day before) is queued at most once per bill / per expiry date, whatever how often the
job runs. Only operators inside their sending hours (in their own time zone) are considered on a run. A bill
gets no due reminder on the local day it was issued (its own SMS said when it is due)."""

from __future__ import annotations

from datetime import datetime, time

import asyncpg

from radbill.sms import within_sending_hours

DEFAULT_FROM, DEFAULT_UNTIL = time(9, 0), time(21, 0)

# each operator's settings: its own row or the nearest one up its path
SETTINGS = """
    SELECT o.id, o.timezone, s.send_from, s.send_until, s.due_reminder_days, s.expiry_reminder_days
      FROM operators o
      LEFT JOIN LATERAL (SELECT s.* FROM radbill_line(o.id) l JOIN sms_settings s ON s.operator_id = l.operator_id
                          ORDER BY l.distance LIMIT 1) s ON true
     WHERE o.status = 'active' AND ($1::bigint[] IS NULL OR o.id = ANY($1::bigint[]))
"""

_COMMON = """
    s AS (SELECT o.id AS operator_id, o.path, o.timezone,
                 coalesce(st.due_reminder_days, '{3,1}') AS due_days,
                 coalesce(st.expiry_reminder_days, '{3,1}') AS expiry_days
            FROM operators o
            LEFT JOIN LATERAL (SELECT st.* FROM radbill_line(o.id) l JOIN sms_settings st
                                       ON st.operator_id = l.operator_id
                                ORDER BY l.distance LIMIT 1) st ON true
           WHERE o.id = ANY($1::bigint[])
               -- an operator whose nearest template for the event is missing or off gets no reminder rows
             AND (SELECT t.enabled FROM radbill_line(o.id) l JOIN sms_templates t ON t.operator_id = l.operator_id
                   WHERE t.event = $3 ORDER BY l.distance LIMIT 1))
"""

DUE = f"""
WITH {_COMMON}, cand AS (
    SELECT b.id AS bill_id, c.id AS customer_id, c.operator_id, s.due_days AS days,
           (b.due_at AT TIME ZONE s.timezone)::date - ($2::timestamptz AT TIME ZONE s.timezone)::date AS days_left
      FROM bills b JOIN customers c ON c.id = b.customer_id JOIN s ON s.operator_id = c.operator_id
     WHERE b.status IN ('unpaid', 'partial') AND c.mobile IS NOT NULL AND c.status <> 'disabled'
       AND b.due_at BETWEEN $2::timestamptz - interval '1 day' AND $2::timestamptz + interval '62 days'
       -- not on the day it was issued: its bill_generated SMS already gives the due date (a prepaid bill is
       -- issued its due days ahead, often inside a reminder slot)
       AND (b.issued_at AT TIME ZONE s.timezone)::date < ($2::timestamptz AT TIME ZONE s.timezone)::date
), slotted AS (
    SELECT cand.*, (SELECT min(n) FROM unnest(days) n WHERE n >= days_left) AS slot FROM cand WHERE days_left >= 0
)
SELECT id FROM (
    SELECT radbill_enqueue('sms', operator_id, jsonb_build_object('event', 'due_reminder', 'customer_id', customer_id,
                                                                  'bill_id', bill_id, 'days_left', days_left),
                           'sms:due_reminder:' || bill_id || ':' || slot) AS id
      FROM (SELECT * FROM slotted WHERE slot IS NOT NULL ORDER BY bill_id) due) queued
 WHERE id IS NOT NULL
"""  # noqa: S608 -- fixed fragments of this module only

EXPIRY = f"""
WITH {_COMMON}, cand AS (
    SELECT c.id AS customer_id, c.operator_id, c.expires_at, s.expiry_days AS days,
           (c.expires_at AT TIME ZONE s.timezone)::date AS expiry_date,
           (c.expires_at AT TIME ZONE s.timezone)::date - ($2::timestamptz AT TIME ZONE s.timezone)::date AS days_left
      FROM customers c JOIN s ON s.operator_id = c.operator_id
     WHERE c.status = 'active' AND c.mobile IS NOT NULL
       AND c.expires_at BETWEEN $2::timestamptz AND $2::timestamptz + interval '62 days'
), slotted AS (
    SELECT cand.*, (SELECT min(n) FROM unnest(days) n WHERE n >= days_left) AS slot FROM cand WHERE days_left >= 0
)
SELECT id FROM (
    SELECT radbill_enqueue('sms', operator_id, jsonb_build_object('event', 'expiry_reminder',
                                                                  'customer_id', customer_id,
                                                                  'expires_at', expires_at, 'days_left', days_left),
                           'sms:expiry_reminder:' || customer_id || ':' || expiry_date || ':' || slot) AS id
      FROM (SELECT * FROM slotted WHERE slot IS NOT NULL ORDER BY customer_id) due) queued
 WHERE id IS NOT NULL
"""  # noqa: S608 -- fixed fragments of this module only


async def operators_in_sending_hours(conn: asyncpg.Connection, now: datetime,
                                     operator_ids: list[int] | None = None) -> list[int]:
    """Operators whose local time at `now` is inside their (inherited) sending hours."""
    rows = await conn.fetch(SETTINGS, operator_ids)
    return [r["id"] for r in rows
            if within_sending_hours(now, r["timezone"], r["send_from"] or DEFAULT_FROM, r["send_until"] or DEFAULT_UNTIL)]


async def queue_reminders(conn: asyncpg.Connection, now: datetime, operator_ids: list[int] | None = None
                          ) -> dict[str, int]:
    """Queue the due-date and expiry reminders that are due at `now`; returns how many of each were queued
    (a second run the same day queues none)."""
    allowed = await operators_in_sending_hours(conn, now, operator_ids)
    if not allowed:
        return {"due_reminder": 0, "expiry_reminder": 0}
    async with conn.transaction():
        due = await conn.fetch(DUE, allowed, now, "due_reminder")
        expiry = await conn.fetch(EXPIRY, allowed, now, "expiry_reminder")
    return {"due_reminder": len(due), "expiry_reminder": len(expiry)}

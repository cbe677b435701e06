"""`make bench-alerts` (`python -m bench.alerts`): what counting alerts in groups costs the dispatcher.

A throwaway database; `--messages` event SMS for an operator with no SMS gateway, so every one fails for good at
once and raises an alert, all of the same group (the worst case for the group row's lock: every failure updates
the one row). The outbox dispatcher (outbox.drain, its SMS lane of 10) sends them; the bench prints the rows per
second. The baseline, interleaved in the same run, is the former alert: one audit row per failure, no group.
Then it prints how long the alerts page's query takes for the group admin with `--groups` open groups.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from unittest import mock

import asyncpg

from bench.db import summarise, throwaway_database
from radbill.services import alerts, audit, outbox, sms, sms_config  # noqa: F401  (sms registers its handler)
from radbill.tenancy import Scope
from tests import factories as f


async def audit_only(conn, operator_id, kind, cause, message, subject, object_kind, object_id,
                     audit_operator_id=None):
    """The alert as it was before groups: one audit row per failure."""
    await audit.record(conn, None, "alert", object_kind, object_id, {"alert": kind, "message": message, **subject},
                       operator_id=audit_operator_id if audit_operator_id is not None else operator_id)


async def one_round(url: str, label: str, messages: int, op, customer) -> dict:
    pool = await asyncpg.create_pool(url, min_size=2, max_size=20)
    try:
        async with pool.acquire() as conn:
            await conn.execute("SELECT radbill_enqueue('sms', $1, jsonb_build_object('event', 'account_suspended',"
                               " 'customer_id', $2::bigint, 'n', g), NULL) FROM generate_series(1, $3) g",
                               op["id"], customer["id"], messages)
        patch = mock.patch.object(alerts, "raise_alert", audit_only) if label == "audit only" else mock.MagicMock()
        with patch:
            started = time.monotonic()
            done = await outbox.drain(pool, outbox.DispatchSettings(), max_seconds=600)
            seconds = time.monotonic() - started
        async with pool.acquire() as conn:
            groups = await conn.fetchval("SELECT count(*) FROM alerts")
        return {"alerts": label, "rows": done, "seconds": round(seconds, 2), "rows_per_s": round(done / seconds),
                "alert_groups": groups}
    finally:
        await pool.close()


async def page_query(url: str, root, groups: int) -> dict:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO alerts (operator_id, kind, cause, message, subject, occurrences)"
            " SELECT $1, 'router_unreachable', '10.' || g, 'Could not disconnect', '{}', 3"
            "   FROM generate_series(1, $2) g", root["id"], groups)
        scope = Scope(None, root["id"], root["path"], "group_admin")
        timings = []
        for _ in range(30):
            started = time.monotonic()
            await alerts.list_alerts(conn, scope)
            await alerts.count_open(conn, scope)
            timings.append((time.monotonic() - started) * 1000)
        return {"open_groups": await alerts.count_open(conn, scope), **summarise(timings)}
    finally:
        await conn.close()


async def main(url: str, args) -> None:
    conn = await asyncpg.connect(url)
    try:
        isp = await f.isp(conn)
        op = isp.operator
        scope = Scope(account_id=None, operator_id=op["id"], path=op["path"], role=op["kind"])
        await sms_config.save_template(conn, scope, "account_suspended", "Dear {customer_name}, suspended.", True)
        customer = await f.customer(conn, op["id"], isp.package["id"], isp.profile["id"], mobile="+8801712345678")
    finally:
        await conn.close()
    for _ in range(args.rounds):
        for label in ("audit only", "groups"):
            print(json.dumps(await one_round(url, label, args.messages, op, customer)), flush=True)
    print(json.dumps({"alerts_page_query": await page_query(url, isp.root, args.groups)}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--groups", type=int, default=2000)
    arguments = parser.parse_args()
    logging.getLogger("radbill").setLevel(logging.CRITICAL)  # a line per failed SMS is the point, not news
    with throwaway_database() as database:
        asyncio.run(main(database, arguments))

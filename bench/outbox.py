"""`make bench-outbox` (`python -m bench.outbox`): one dead router must not delay anyone else.

A throwaway database; `--stuck` Disconnect-Requests queued for a router whose CoA port (a loopback UDP socket)
never answers; the dispatcher (outbox.drain, production RADIUS timeouts) already busy with them. Then one SMS
(to the local fake provider, tests/sms_provider.py) and one Disconnect for a healthy router (the NAS simulator,
tests/nas_simulator.py) are queued, and the bench prints how long each took to go out, the claim time with the
backlog in place (the per-destination claim, median of 5, rolled back), and the dead router's breaker. The baseline is the same run with the former single queue
(one claim ordered by next attempt, each batch awaited): it prints how long the two waited before it gave up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import time

import asyncpg

from bench.db import throwaway_database
from radbill.passwords import generate_nas_secret
from radbill.services import outbox, sms, sms_config
from radbill.services.outbox_queue import enqueue
from radbill.tenancy import Scope
from tests import factories as f
from tests.nas_simulator import NasSimulator, SimSession
from tests.sms_provider import SmsProvider, gateway_form

DEAD_IP, HEALTHY_IP = "127.0.0.4", "127.0.0.5"
# the former claim, for the baseline: one queue ordered by next attempt
SINGLE_QUEUE_CLAIM = """
    UPDATE outbox o SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => $3)
      FROM (SELECT id FROM outbox
             WHERE done_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now() AND kind = ANY($1::text[])
             ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) due
     WHERE o.id = due.id RETURNING o.*
"""


async def single_queue_drain(pool: asyncpg.Pool, settings: outbox.DispatchSettings) -> None:
    """The dispatcher before per-destination lanes: claim a batch in due order, wait for all of it, repeat."""
    gate = asyncio.Semaphore(10)

    async def one(row):
        async with gate:
            await outbox._process_row(pool, row, outbox.HANDLERS, settings)  # noqa: SLF001 -- same handling

    while True:
        async with pool.acquire() as conn:
            rows = await conn.fetch(SINGLE_QUEUE_CLAIM, sorted(outbox.HANDLERS), settings.batch_size,
                                    settings.lease_seconds)

        await asyncio.gather(*(one(r) for r in rows))
        if not rows:
            await asyncio.sleep(0.05)


async def seed(conn, secret: str, dead_port: int, healthy: NasSimulator, provider: SmsProvider):
    isp = await f.isp(conn)
    op = isp.operator
    scope = Scope(account_id=None, operator_id=op["id"], path=op["path"], role=op["kind"])
    await sms_config.save_gateway(conn, scope, gateway_form(provider))
    await sms_config.save_template(conn, scope, "account_suspended", "Dear {customer_name}, suspended. {isp_name}",
                                   True)
    await conn.execute("UPDATE operators SET sms_balance = 100000 WHERE id = $1", op["id"])
    for ip, port in ((DEAD_IP, dead_port), (HEALTHY_IP, healthy.coa_port)):
        await f.insert(conn, "nas", {"nasname": ip, "shortname": f"r{ip}", "secret": secret,
                                     "operator_id": op["id"], "type": "mikrotik", "coa_port": port})
    customer = await f.customer(conn, op["id"], isp.package["id"], isp.profile["id"], mobile="+8801712345678")
    return op, customer


async def one_round(url: str, label: str, stuck: int, wait_limit: float, healthy: NasSimulator,
                    provider: SmsProvider, op, customer) -> dict:
    """Queue the backlog, start a dispatcher, then time one SMS and one healthy Disconnect."""
    pool = await asyncpg.create_pool(url, min_size=2, max_size=30)
    settings = outbox.DispatchSettings()  # production timeouts: 2 s per transmission, 2 transmissions
    try:
        async with pool.acquire() as conn:  # a clean slate: the previous round's rows end, the breaker closes
            await conn.execute("UPDATE outbox SET failed_at = now() WHERE done_at IS NULL AND failed_at IS NULL")
            await conn.execute("DELETE FROM outbox_breakers")
            await conn.execute(
                "SELECT radbill_enqueue('disconnect', $2, jsonb_build_object('username', 'stuck' || g,"
                "       'nas_ip', $1::text, 'acct_session_id', 'S' || g, 'acct_unique_id', $4 || g,"
                "       'reason', 'suspended'), NULL)"
                "  FROM generate_series(1, $3) g", DEAD_IP, op["id"], stuck, label)
        drain = (outbox.drain(pool, settings, max_seconds=3600) if label == "lanes"
                 else single_queue_drain(pool, settings))
        dispatcher = asyncio.create_task(drain)
        await asyncio.sleep(settings.radius_timeout * settings.radius_tries + 0.5)  # busy with the dead router
        healthy.reset("ack-keep")
        healthy.sessions["H1"] = SimSession("healthy", "H1", "10.9.9.9")
        provider.received.clear()
        async with pool.acquire() as conn:
            t0 = time.monotonic()
            await enqueue(conn, "disconnect", op["id"], {"username": "healthy", "acct_session_id": "H1",
                                                         "acct_unique_id": "H1", "nas_ip": HEALTHY_IP,
                                                         "framed_ip": "10.9.9.9", "reason": "suspended"})
            await enqueue(conn, "sms", op["id"], {"event": "account_suspended", "customer_id": customer["id"]})
        disconnect_s = sms_s = None
        while time.monotonic() - t0 < wait_limit and (disconnect_s is None or sms_s is None):
            if disconnect_s is None and healthy.received:
                disconnect_s = time.monotonic() - t0
            if sms_s is None and provider.received:
                sms_s = time.monotonic() - t0
            await asyncio.sleep(0.005)
        async with pool.acquire() as conn:
            claim_ms = []
            for _ in range(5):  # one claim with the backlog in place, rolled back so it sends nothing
                tx = conn.transaction()
                await tx.start()
                started = time.monotonic()
                await outbox.claim(conn, sorted(outbox.HANDLERS), settings)
                claim_ms.append((time.monotonic() - started) * 1000)
                await tx.rollback()
            breaker = await conn.fetchrow("SELECT consecutive_timeouts, opened_at IS NOT NULL AS open"
                                          " FROM outbox_breakers WHERE destination = $1", f"nas:{DEAD_IP}")
            dead_attempts = await conn.fetchval("SELECT sum(attempts) FROM outbox WHERE destination = $1",
                                                f"nas:{DEAD_IP}")
        dispatcher.cancel()
        try:
            await asyncio.wait_for(dispatcher, settings.lease_seconds)
        except (asyncio.CancelledError, TimeoutError):
            pass
        return {"dispatcher": label, "stuck": stuck, "disconnect_s": _r(disconnect_s), "sms_s": _r(sms_s),
                "gave_up_after_s": wait_limit if None in (disconnect_s, sms_s) else None,
                "claim_ms": round(sorted(claim_ms)[2], 1), "dead_router_attempts": dead_attempts,
                "breaker_open": bool(breaker and breaker["open"])}
    finally:
        await pool.close()


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def run_rounds(url: str, args) -> list[dict]:
    secret = generate_nas_secret()
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never read: a router that never answers
    dead.bind((DEAD_IP, 0))
    healthy = NasSimulator(HEALTHY_IP, secret).start()
    provider = await SmsProvider().start()
    try:
        conn = await asyncpg.connect(url)
        try:
            op, customer = await seed(conn, secret, dead.getsockname()[1], healthy, provider)
        finally:
            await conn.close()
        return [await one_round(url, label, args.stuck, args.wait, healthy, provider, op, customer)
                for label in ("single_queue", "lanes")]
    finally:
        healthy.stop()
        dead.close()
        await provider.stop()
        await sms.close_http()


def main(args) -> int:
    logging.getLogger("radbill.outbox").setLevel(logging.ERROR)  # 10,000 retry warnings are not the figures
    with throwaway_database("radbill-bench-outbox-") as url:  # made outside the event loop (it runs its own)
        results = asyncio.run(run_rounds(url, args))
    print(f"{'dispatcher':<14}{'stuck':>7}{'disconnect s':>14}{'sms s':>8}{'claim ms':>10}{'breaker':>9}")
    for r in results:
        print(f"{r['dispatcher']:<14}{r['stuck']:>7}{_fmt(r['disconnect_s'], args.wait):>14}"
              f"{_fmt(r['sms_s'], args.wait):>8}{r['claim_ms']:>10}{'open' if r['breaker_open'] else '-':>9}")
    lanes = results[-1]
    ok = lanes["disconnect_s"] is not None and lanes["sms_s"] is not None and max(
        lanes["disconnect_s"], lanes["sms_s"]) < 1.0
    print(json.dumps({"bench": "outbox", "ok": ok, "rounds": results}))
    return 0 if ok else 1


def _fmt(value: float | None, limit: float) -> str:
    return f">{limit:g}" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stuck", type=int, default=10_000, help="commands queued for the dead router")
    parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the SMS and the Disconnect")
    raise SystemExit(main(parser.parse_args()))

"""The I/O around settlement: start an attempt at the gateway, handle an incoming callback/IPN/redirect, reconcile
open intents. Each step asks the adapter, then lets radbill.payments.settle decide; none raises to its caller.

These act as the system (a callback has no user): connections are taken with the SYSTEM row-level scope.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import aiohttp
import asyncpg

from radbill import clock
from radbill.db.pool import SYSTEM, scoped
from radbill.payments.gateway import FAILED, PAID, ReturnUrls, Started
from radbill.payments.registry import adapter_for
from radbill.payments.settle import Settled, intent_view, log_event, settle

log = logging.getLogger(__name__)

# Reconciliation: an open intent is first asked after FIRST_CHECK (the callback usually comes within seconds), then
# with doubling gaps up to MAX_GAP; an expired intent the gateway does not report paid is closed as 'expired'.
FIRST_CHECK = timedelta(minutes=3)
MAX_GAP = timedelta(hours=1)
# A customer looking at a "we are confirming" receipt makes us ask the gateway at most this often
RECEIPT_RECHECK = timedelta(seconds=10)


@asynccontextmanager
async def _session(session: aiohttp.ClientSession | None):
    if session is not None:
        yield session
        return
    async with aiohttp.ClientSession() as own:
        yield own


async def _acquire(pool: asyncpg.Pool):
    with scoped(SYSTEM):
        return await pool.acquire()


async def start_payment(conn: asyncpg.Connection, intent: asyncpg.Record, urls: ReturnUrls,
                        session: aiohttp.ClientSession) -> Started:
    """Create the attempt at the gateway and remember its id; the intent becomes 'pending'. Raises the adapter's
    RadbillError (a sentence for the customer) when the gateway refuses."""
    gateway = await conn.fetchrow("SELECT * FROM payment_gateways WHERE id = $1", intent["gateway_id"])
    adapter = adapter_for(gateway, session)
    started = await adapter.start(await intent_view(conn, intent), urls)
    await conn.execute("UPDATE payment_intents SET gateway_payment_id = $2, status = 'pending' WHERE id = $1"
                       " AND status = 'created'", intent["id"], started.gateway_payment_id)
    await log_event(conn, gateway, intent["id"], "start", "pending", "sent to the gateway",
                    {"gateway_payment_id": started.gateway_payment_id})
    return started


async def _find_intent(conn, gateway_id: int, key) -> asyncpg.Record | None:
    if key.reference:
        return await conn.fetchrow("SELECT * FROM payment_intents WHERE gateway_id = $1 AND reference = $2",
                                   gateway_id, key.reference)
    return await conn.fetchrow("SELECT * FROM payment_intents WHERE gateway_id = $1 AND gateway_payment_id = $2",
                               gateway_id, key.gateway_payment_id)


async def handle_incoming(pool: asyncpg.Pool, gateway_id: int, source: str, params: Mapping[str, str], *,
                          session: aiohttp.ClientSession | None = None) -> Settled:
    """A callback/IPN/redirect: which intent (untrusted), ask the gateway (trusted), settle. Never raises: every
    failure is a logged 'rejected' or 'error' event."""
    params = {k: str(v)[:500] for k, v in list(params.items())[:50]}
    conn = await _acquire(pool)
    gateway = None
    try:
        gateway = await conn.fetchrow("SELECT * FROM payment_gateways WHERE id = $1", gateway_id)
        if gateway is None:
            log.warning("payment callback for unknown gateway %s: %s", gateway_id, params)
            return Settled("rejected", "unknown gateway")
        async with _session(session) as http:
            adapter = adapter_for(gateway, http)
            key = adapter.lookup_key(params)
            intent = await _find_intent(conn, gateway_id, key) if key else None
            if intent is None:
                reason = "names no payment" if key is None else "unknown intent"
                await log_event(conn, gateway, None, source, "rejected", reason, {"incoming": params})
                return Settled("rejected", reason)
            if intent["status"] == "paid":  # nothing to ask the gateway: answer from what we already know
                await log_event(conn, gateway, intent["id"], source, "duplicate", "already paid", {"incoming": params})
                return Settled("duplicate", "already paid", intent["id"], intent["reference"], intent["payment_id"])
            verification = await adapter.verify(await intent_view(conn, intent), params)
        return await settle(conn, intent["id"], verification, source, params=params)
    except Exception as exc:  # noqa: BLE001 - a gateway's request must never see our failure, only its log
        log.exception("payment callback on gateway %s failed", gateway_id)
        if gateway is not None:
            await log_event(conn, gateway, None, source, "error", f"{type(exc).__name__}: {exc}"[:500],
                            {"incoming": params})
        return Settled("error", str(exc))
    finally:
        await pool.release(conn)


async def reconcile_open(pool: asyncpg.Pool, *, now: datetime | None = None, limit: int = 100,
                         session: aiohttp.ClientSession | None = None) -> dict[str, int]:
    """One pass of the reconciliation job: query the gateway for open intents that are due a check; returns how
    many ended in each outcome."""
    now = now or clock.now()
    counts: dict[str, int] = {}
    conn = await _acquire(pool)
    try:
        due = await conn.fetch(
            "SELECT i.* FROM payment_intents i WHERE i.status IN ('created', 'pending') AND i.created_at <= $1"
            " AND (i.last_checked_at IS NULL OR i.last_checked_at"
            "      + least($2::interval * power(2, i.check_count), $3::interval) <= $4)"
            " ORDER BY i.last_checked_at NULLS FIRST, i.id LIMIT $5",
            now - FIRST_CHECK, FIRST_CHECK, MAX_GAP, now, limit)
        async with _session(session) as http:
            for intent in due:
                outcome = await _reconcile_one(conn, intent, http, now)
                counts[outcome] = counts.get(outcome, 0) + 1
    finally:
        await pool.release(conn)
    return counts


async def recheck_for_receipt(pool: asyncpg.Pool, reference: str, *,
                              session: aiohttp.ClientSession | None = None) -> None:
    """The receipt of an open intent is being looked at: ask the gateway now rather than at the next
    reconciliation pass (a callback whose verification timed out), at most once per RECEIPT_RECHECK."""
    now = clock.now()
    conn = await _acquire(pool)
    try:
        intent = await conn.fetchrow(
            "UPDATE payment_intents SET last_checked_at = $2 WHERE reference = $1"
            " AND status IN ('created', 'pending') AND gateway_payment_id IS NOT NULL"
            " AND (last_checked_at IS NULL OR last_checked_at <= $3) RETURNING *",
            reference, now, now - RECEIPT_RECHECK)
        if intent is None:
            return
        async with _session(session) as http:
            gateway = await conn.fetchrow("SELECT * FROM payment_gateways WHERE id = $1", intent["gateway_id"])
            verification = await adapter_for(gateway, http).query(await intent_view(conn, intent))
        await settle(conn, intent["id"], verification, "query", now=now)
    except Exception:  # noqa: BLE001 - the receipt still shows; the reconciliation job will ask again
        log.exception("checking payment %s for its receipt failed", reference)
    finally:
        await pool.release(conn)


async def _reconcile_one(conn, intent: asyncpg.Record, http: aiohttp.ClientSession, now: datetime) -> str:
    gateway = await conn.fetchrow("SELECT * FROM payment_gateways WHERE id = $1", intent["gateway_id"])
    await conn.execute("UPDATE payment_intents SET last_checked_at = $2, check_count = check_count + 1"
                       " WHERE id = $1", intent["id"], now)
    try:
        adapter = adapter_for(gateway, http)
        verification = await asyncio.wait_for(adapter.query(await intent_view(conn, intent)), 60)
        if verification.status != PAID and intent["expires_at"] <= now:
            # The gateway does not report it paid and the customer's time is up: close it (a capture reported
            # later is still credited by settle()). A failed one stays failed.
            status = "failed" if verification.status == FAILED else "expired"
            await conn.execute("UPDATE payment_intents SET status = $2 WHERE id = $1 AND status IN"
                               " ('created', 'pending')", intent["id"], status)
            await log_event(conn, gateway, intent["id"], "query", "failed",
                            f"{status}: {verification.reason or verification.status}", {"raw": dict(verification.raw)})
            return status
        return (await settle(conn, intent["id"], verification, "query", now=now)).outcome
    except Exception as exc:  # noqa: BLE001 - one gateway's trouble must not stop the pass
        log.exception("reconciling payment intent %s failed", intent["id"])
        await log_event(conn, gateway, intent["id"], "query", "error", f"{type(exc).__name__}: {exc}"[:500])
        return "error"

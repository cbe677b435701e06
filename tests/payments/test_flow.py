"""Callbacks and reconciliation through real HTTP to the fake bKash, a committed database and the app role."""

from datetime import timedelta

import aiohttp
import asyncpg
import pytest

from radbill import clock
from radbill.db.pool import SYSTEM, create_pool
from radbill.payments.flow import handle_incoming, reconcile_open, start_payment
from radbill.payments.gateway import ReturnUrls
from radbill.payments.settle import create_intent
from tests.payments.bkash_steps import press
from tests.payments.helpers import unbalanced_ledger_txns, world
from tests.support.db import app_url

URLS = ReturnUrls(success="http://127.0.0.1:1/pay/return", fail="http://127.0.0.1:1/pay/return",
                  cancel="http://127.0.0.1:1/pay/return")


@pytest.fixture
async def env(fresh_db_url, fake_bkash):
    owner = await asyncpg.connect(fresh_db_url)
    pool = await create_pool(app_url(fresh_db_url), default_scope=SYSTEM)
    http = aiohttp.ClientSession()
    now = clock.now()
    w = await world(owner, fake_bkash.base_url, fake_bkash.credentials, now=now)
    yield owner, pool, http, w
    await http.close()
    await pool.close()
    await owner.close()


async def begin(pool, http, w, ttl=timedelta(minutes=30)):
    async with pool.acquire() as conn:
        intent = await create_intent(conn, w.system, w.customer["id"], w.bill["id"], None, w.gateway["id"], ttl=ttl)
        started = await start_payment(conn, intent, URLS, http)
    return intent, started


async def test_a_paid_callback_credits_once_and_a_replay_is_a_duplicate(env):
    owner, pool, http, w = env
    intent, started = await begin(pool, http, w)
    params = await press(http, started.redirect_url)
    first = await handle_incoming(pool, w.gateway["id"], "callback", params, session=http)
    again = await handle_incoming(pool, w.gateway["id"], "callback", params, session=http)
    assert (first.outcome, again.outcome) == ("credited", "duplicate")
    assert await owner.fetchval("SELECT status FROM customers WHERE id = $1", w.customer["id"]) == "active"
    assert await owner.fetchval("SELECT count(*) FROM payments WHERE customer_id = $1", w.customer["id"]) == 1


async def test_forged_unknown_and_broken_callbacks_credit_nothing_and_are_logged(env, fake_bkash):
    owner, pool, http, w = env
    intent, started = await begin(pool, http, w)
    forged = await handle_incoming(pool, w.gateway["id"], "callback",
                                   {"paymentID": started.gateway_payment_id, "status": "success"}, session=http)
    unknown = await handle_incoming(pool, w.gateway["id"], "callback", {"paymentID": "TR00XX", "status": "success"})
    nameless = await handle_incoming(pool, w.gateway["id"], "callback", {"status": "success"})
    no_gateway = await handle_incoming(pool, 999999, "callback", {"paymentID": "x"})
    assert (forged.outcome, unknown.outcome, nameless.outcome, no_gateway.outcome) == (
        "pending", "rejected", "rejected", "rejected")
    reasons = {r["reason"] for r in await owner.fetch("SELECT reason FROM payment_events WHERE outcome = 'rejected'")}
    assert {"unknown intent", "names no payment"} <= reasons
    await owner.execute("UPDATE payment_gateways SET credentials_sealed = 'sb1:zz:broken' WHERE id = $1",
                        w.gateway["id"])
    broken = await handle_incoming(pool, w.gateway["id"], "callback", {"paymentID": started.gateway_payment_id})
    assert broken.outcome == "error"
    assert await owner.fetchval("SELECT count(*) FROM payment_events WHERE outcome = 'error'") == 1
    assert await owner.fetchval("SELECT count(*) FROM payments") == 0


async def test_reconciliation_credits_a_payment_whose_callback_never_came_once(env):
    owner, pool, http, w = env
    intent, started = await begin(pool, http, w)
    assert await press(http, started.redirect_url, mode="never") == {}
    later = clock.now() + timedelta(minutes=5)
    assert await reconcile_open(pool, now=later, session=http) == {"credited": 1}
    assert await reconcile_open(pool, now=later + timedelta(hours=2), session=http) == {}
    assert await owner.fetchval("SELECT count(*) FROM payments WHERE customer_id = $1", w.customer["id"]) == 1
    assert await owner.fetchval("SELECT status FROM customers WHERE id = $1", w.customer["id"]) == "active"
    assert not await unbalanced_ledger_txns(owner)


async def test_reconciliation_backs_off_then_expires_an_abandoned_intent(env):
    owner, pool, http, w = env
    intent, started = await begin(pool, http, w, ttl=timedelta(minutes=10))
    t = clock.now() + timedelta(minutes=4)
    assert await reconcile_open(pool, now=t, session=http) == {"pending": 1}
    assert await reconcile_open(pool, now=t + timedelta(minutes=1), session=http) == {}  # backing off
    assert await reconcile_open(pool, now=t + timedelta(minutes=7), session=http) == {"expired": 1}
    row = await owner.fetchrow("SELECT status, check_count FROM payment_intents WHERE id = $1", intent["id"])
    assert (row["status"], row["check_count"]) == ("expired", 2)
    # the customer pays on the still-open bKash page after all: the late callback is credited
    params = await press(http, started.redirect_url)
    assert (await handle_incoming(pool, w.gateway["id"], "callback", params, session=http)).outcome == "credited"


async def test_the_scheduler_job_runs_the_reconciliation_pass(env, fake_bkash):
    from scheduler.jobs import JobContext, all_jobs

    owner, pool, http, w = env
    intent, started = await begin(pool, http, w)
    await press(http, started.redirect_url, mode="never")
    await owner.execute("UPDATE payment_intents SET created_at = created_at - interval '10 minutes'")
    job = next(j for j in all_jobs() if j.name == "payments.reconcile")
    assert await job.run(JobContext(pool, None)) == {"credited": 1}
    assert await owner.fetchval("SELECT count(*) FROM payments WHERE customer_id = $1", w.customer["id"]) == 1

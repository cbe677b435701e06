"""The Idempotency-Key rule (radbill.services.idempotency) on a real database, with separate connections for races.

The payment inside each action is recorded WITHOUT the payment service's own idempotency key and by the system
(no repeat check): only the rule under test stands between a duplicate and a second payment."""

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from radbill import clock
from radbill.services import idempotency, payments
from radbill.services.idempotency import KeyInFlight, KeyReused, Response, fingerprint
from tests.billing.helpers import customer, isp

CLIENT = 7


@pytest.fixture
async def world(fresh_db_url):
    conn = await asyncpg.connect(fresh_db_url)
    w = await isp(conn, credit_limit_minor=10**9)
    w.customer = await customer(conn, w)
    for client_id in (CLIENT, CLIENT + 1):  # two API clients of the operator, with the ids the tests name
        await conn.execute("INSERT INTO api_clients (id, operator_id, scope_operator_id, name, permissions,"
                           " token_prefix, token_hash) OVERRIDING SYSTEM VALUE VALUES ($1, $2, $2, $3,"
                           " '{billing.collect}', $4, $5)", client_id, w.operator["id"], f"erp {client_id}",
                           f"{client_id:010d}", bytes(range(32)))
    w.url = fresh_db_url
    yield w
    await conn.close()


def pay(world, amount_minor: int, delay: float = 0):
    async def action(conn):
        outcome = await payments.record_cash_payment(conn, world.system, world.customer["id"], amount_minor)
        await asyncio.sleep(delay)  # keeps the first request in flight while a duplicate arrives
        return Response(201, {"id": outcome.payment["id"], "amount_minor": amount_minor})
    return action


def body(amount_minor: int) -> bytes:
    return b'{"amount": %d}' % amount_minor


async def assert_ledger_balanced(conn):
    assert await conn.fetch("SELECT txn_id FROM ledger_entries GROUP BY txn_id, currency"
                            " HAVING sum(amount_minor) <> 0") == []


async def count_payments(conn) -> int:
    return await conn.fetchval("SELECT count(*) FROM payments")


async def test_the_same_key_and_request_twice_pays_once_and_answers_the_same(world):
    conn = await asyncpg.connect(world.url)
    try:
        fp = fingerprint("POST", "/api/v1/payments", body(50000))
        first = await idempotency.run(conn, world.system, CLIENT, "k-1", fp, pay(world, 50000))
        again = await idempotency.run(conn, world.system, CLIENT, "k-1", fp, pay(world, 50000))
        assert (first.status, first.replayed) == (201, False)
        assert (again.status, again.body, again.replayed) == (201, first.body, True)
        assert await count_payments(conn) == 1
        # another client's identical key is its own key
        await idempotency.run(conn, world.system, CLIENT + 1, "k-1", fp, pay(world, 50000))
        assert await count_payments(conn) == 2
        await assert_ledger_balanced(conn)
    finally:
        await conn.close()


async def test_a_key_reused_for_another_body_is_refused_and_does_nothing(world):
    conn = await asyncpg.connect(world.url)
    try:
        await idempotency.run(conn, world.system, CLIENT, "k-2", fingerprint("POST", "/p", body(100)), pay(world, 100))
        with pytest.raises(KeyReused) as refused:
            await idempotency.run(conn, world.system, CLIENT, "k-2", fingerprint("POST", "/p", body(200)),
                                  pay(world, 200))
        assert "Idempotency-Key" in refused.value.fields
        with pytest.raises(KeyReused):  # same body, another address
            await idempotency.run(conn, world.system, CLIENT, "k-2", fingerprint("POST", "/q", body(100)),
                                  pay(world, 100))
        assert await count_payments(conn) == 1
    finally:
        await conn.close()


async def test_two_simultaneous_requests_with_one_key_make_one_payment(world):
    conns = await asyncio.gather(*(asyncpg.connect(world.url) for _ in range(4)))
    try:
        fp = fingerprint("POST", "/api/v1/payments", body(70000))
        results = await asyncio.gather(*(idempotency.run(c, world.system, CLIENT, "k-3", fp, pay(world, 70000, 0.3))
                                         for c in conns))
        assert await count_payments(conns[0]) == 1
        assert len({r.body["id"] for r in results}) == 1
        assert sorted(r.replayed for r in results) == [False, True, True, True]
        await assert_ledger_balanced(conns[0])
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def test_a_duplicate_that_waits_too_long_is_told_to_retry(world, monkeypatch):
    monkeypatch.setattr(idempotency, "IN_FLIGHT_WAIT", "200ms")
    first, second = await asyncio.gather(asyncpg.connect(world.url), asyncpg.connect(world.url))
    try:
        fp = fingerprint("POST", "/p", body(100))
        slow = asyncio.ensure_future(idempotency.run(first, world.system, CLIENT, "k-4", fp, pay(world, 100, 1.5)))
        await asyncio.sleep(0.3)
        with pytest.raises(KeyInFlight):
            await idempotency.run(second, world.system, CLIENT, "k-4", fp, pay(world, 100))
        assert (await slow).replayed is False
        # once the first has finished, the same request gets its answer
        assert (await idempotency.run(second, world.system, CLIENT, "k-4", fp, pay(world, 100))).replayed
        assert await count_payments(second) == 1
    finally:
        await asyncio.gather(first.close(), second.close())


async def test_a_failed_request_keeps_nothing_and_an_expired_key_is_new(world):
    conn = await asyncpg.connect(world.url)
    try:
        fp = fingerprint("POST", "/p", body(100))

        async def broken(_conn):
            raise RuntimeError("the service failed")
        with pytest.raises(RuntimeError):
            await idempotency.run(conn, world.system, CLIENT, "k-5", fp, broken)
        assert await conn.fetchval("SELECT count(*) FROM api_idempotency") == 0
        await idempotency.run(conn, world.system, CLIENT, "k-5", fp, pay(world, 100))
        later = clock.now() + idempotency.TTL + timedelta(minutes=1)
        again = await idempotency.run(conn, world.system, CLIENT, "k-5", fp, pay(world, 100), now=later)
        assert again.replayed is False and await count_payments(conn) == 2
        assert await idempotency.purge(conn, later + idempotency.TTL) == 1
        assert await conn.fetchval("SELECT count(*) FROM api_idempotency") == 0
    finally:
        await conn.close()


@pytest.mark.parametrize("raw", [None, "", "  ", "x" * 256, "naïve", "two words"])
def test_a_missing_or_malformed_key_is_refused_naming_the_header(raw):
    with pytest.raises(idempotency.ValidationError) as refused:
        idempotency.check_key(raw)
    assert "Idempotency-Key" in refused.value.fields


async def test_the_scheduler_purges_keys_older_than_a_day_as_the_app_role(world):
    from radbill.db.pool import SYSTEM, create_pool
    from scheduler.jobs import JobContext, all_jobs
    from tests.support.db import app_url

    owner = await asyncpg.connect(world.url)
    pool = await create_pool(app_url(world.url), default_scope=SYSTEM)
    try:
        for key, age in (("old", timedelta(hours=25)), ("new", timedelta(hours=1))):
            await owner.execute("INSERT INTO api_idempotency (client_id, operator_id, key, fingerprint, status, body,"
                                " created_at) VALUES ($1, $2, $3, $4, 201, '{}', now() - $5::interval)",
                                CLIENT, world.sub["id"], key, bytes(32), age)
        job = next(j for j in all_jobs() if j.name == "api.idempotency_purge")
        assert await job.run(JobContext(pool, None)) == 1
        assert await owner.fetchval("SELECT array_agg(key) FROM api_idempotency") == ["new"]
    finally:
        await pool.close()
        await owner.close()

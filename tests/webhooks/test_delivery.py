"""Delivery: signatures, retries with backoff, a dead endpoint delaying nobody, redelivery by hand, and an
endpoint disabled (with an alert) after failing for N days."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from radbill import clock
from radbill.services import webhook_endpoints, webhooks
from radbill.services.outbox import DispatchSettings, RetryPolicy, drain
from radbill.services.webhooks import SignatureError, new_secret, signed_headers, verify
from tests.support.scopes import scope_of
from tests.support.webhooks import FAST, HANDLERS, register, settle


def test_verify_accepts_the_signer_and_refuses_forgeries_other_secrets_and_replays():
    secret, body = new_secret(), b'{"type":"customer.created","data":{"customer_id":7}}'
    headers = signed_headers(secret, "msg_1", body)
    assert verify(secret, headers, body)["data"]["customer_id"] == 7
    assert verify(secret, {k.upper(): v for k, v in headers.items()}, body)  # header names are case-insensitive
    with pytest.raises(SignatureError):
        verify(new_secret(), headers, body)  # another endpoint's secret
    with pytest.raises(SignatureError):
        verify(secret, headers, body.replace(b"7", b"8"))  # a changed body
    with pytest.raises(SignatureError):
        verify(secret, {**headers, "webhook-id": "msg_2"}, body)  # the signature covers the id
    with pytest.raises(SignatureError):
        verify(secret, {**headers, "webhook-signature": "v1,AAAA"}, body)
    old = signed_headers(secret, "msg_1", body, timestamp=int(time.time()) - 301)
    with pytest.raises(SignatureError):
        verify(secret, old, body)  # outside the 5-minute tolerance: a replay
    assert verify(secret, old, body, tolerance=600)


async def _emit(pool, operator_id: int, event: str = "customer.updated", n: int = 1) -> None:
    async with pool.acquire() as conn:
        for i in range(n):
            await webhooks.emit(conn, event, operator_id, {"customer_id": i})


async def test_a_failing_endpoint_is_retried_with_backoff_every_attempt_logged_then_alerted(pool, tree, receiver):
    endpoint = await register(pool, receiver, tree.ops["op_a"], "down")
    receiver.modes["/down"] = "fail"
    await _emit(pool, tree.ops["op_a"]["id"])
    backoff = DispatchSettings(retry=RetryPolicy(max_attempts=3, base_delay=0.2, factor=2.0, jitter=0.0))
    await settle(pool, backoff)
    times = [r.at for r in receiver.at("down")]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.2 and times[2] - times[1] >= 0.4  # backoff: 0.2 s, then 0.4 s
    async with pool.acquire() as conn:
        attempts = await conn.fetch("SELECT status_code, response_excerpt, duration_ms FROM webhook_attempts")
        assert [a["status_code"] for a in attempts] == [500, 500, 500]
        assert attempts[0]["response_excerpt"] == "receiver told to fail"
        assert await conn.fetchval("SELECT failed_at IS NOT NULL FROM outbox WHERE kind = 'webhook'")
        assert await conn.fetchval("SELECT failing_since IS NOT NULL FROM webhook_endpoints WHERE id = $1", endpoint)
        alert = await conn.fetchrow("SELECT kind, operator_id FROM alerts")
        assert dict(alert) == {"kind": "webhook_failing", "operator_id": tree.ops["op_a"]["id"]}


async def test_a_hanging_endpoint_delays_no_other_endpoint(pool, tree, receiver):
    await register(pool, receiver, tree.ops["op_a"], "dead", events=["customer.updated"])
    await register(pool, receiver, tree.ops["op_a"], "live", events=["payment.received"])
    receiver.modes["/dead"] = "hang"
    await _emit(pool, tree.ops["op_a"]["id"], n=20)  # a backlog for the dead endpoint, queued first
    await _emit(pool, tree.ops["op_a"]["id"], "payment.received")
    settings = DispatchSettings(webhook_timeout=1.5, retry=RetryPolicy(max_attempts=1))
    started = time.monotonic()
    run = asyncio.create_task(drain(pool, settings, max_seconds=2, handlers=HANDLERS))
    for _ in range(100):
        if receiver.at("live"):
            break
        await asyncio.sleep(0.01)
    live_after = receiver.at("live")[0].at - started
    await run
    print(f"healthy endpoint received after {live_after * 1000:.0f} ms while the dead one hangs")
    assert live_after < 0.5
    async with pool.acquire() as conn:
        timeouts = await conn.fetch("SELECT duration_ms FROM webhook_attempts WHERE error = 'timeout'")
    assert timeouts and all(t["duration_ms"] >= 1400 for t in timeouts)


async def test_redelivery_by_hand_sends_the_same_id_and_body_again(pool, tree, receiver):
    await register(pool, receiver, tree.ops["op_a"], "a")
    await _emit(pool, tree.ops["op_a"]["id"])
    await settle(pool)
    async with pool.acquire() as conn:
        delivery_id = await conn.fetchval("SELECT id FROM webhook_deliveries")
        await webhook_endpoints.redeliver(conn, scope_of(tree.ops["op_a"]), delivery_id)
    await settle(pool)
    first, again = receiver.at("a")
    assert again.verified is not None
    assert first.headers["webhook-id"] == again.headers["webhook-id"] and first.body == again.body
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM webhook_attempts WHERE delivery_id = $1", delivery_id) == 2


async def test_a_redirect_is_not_followed(pool, tree, receiver):
    await register(pool, receiver, tree.ops["op_a"], "moved")
    receiver.modes["/moved"] = "redirect"
    await _emit(pool, tree.ops["op_a"]["id"])
    await settle(pool, FAST)
    async with pool.acquire() as conn:
        errors = [r["error"] for r in await conn.fetch("SELECT error FROM webhook_attempts")]
    assert errors and all("redirects are not followed" in e for e in errors)


async def test_an_endpoint_failing_for_three_days_is_disabled_with_an_alert(pool, tree, receiver):
    endpoint = await register(pool, receiver, tree.ops["op_a"], "down")
    receiver.modes["/down"] = "fail"
    start = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    one_try = DispatchSettings(retry=RetryPolicy(max_attempts=1))
    with clock.frozen(start):
        await _emit(pool, tree.ops["op_a"]["id"])
        await settle(pool, one_try)
    with clock.frozen(start + timedelta(days=2, hours=23)):  # not yet three days
        await _emit(pool, tree.ops["op_a"]["id"])
        await settle(pool, one_try)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT enabled FROM webhook_endpoints WHERE id = $1", endpoint)
    with clock.frozen(start + timedelta(days=3, minutes=1)):
        await _emit(pool, tree.ops["op_a"]["id"])
        await settle(pool, one_try)
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT enabled, disabled_reason, failing_since FROM webhook_endpoints"
                                  " WHERE id = $1", endpoint)
        assert (row["enabled"], row["disabled_reason"], row["failing_since"]) == (False, "failing", start)
        alert = await conn.fetchrow("SELECT message FROM alerts WHERE kind = 'webhook_failing' AND cause = $1",
                                    f"endpoint:{endpoint}")
        assert alert is not None and "disabled" in alert["message"]
        assert await webhooks.emit(conn, "customer.updated", tree.ops["op_a"]["id"], {}) == 0  # hears nothing now
        await webhook_endpoints.set_enabled(conn, scope_of(tree.ops["op_a"]), endpoint, True)
        assert await webhooks.emit(conn, "customer.updated", tree.ops["op_a"]["id"], {}) == 1

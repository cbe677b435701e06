"""Event SMS through the outbox to a real local HTTP provider: once per occurrence, retries, balance, reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from radbill.services import sms, sms_config, sms_events
from radbill.services.outbox import DispatchSettings, RetryPolicy
from radbill.services.payments import record_cash_payment
from tests.support.scopes import scope_of
from tests.support.sms import FAST, settle


async def messages(conn, **where):
    rows = await conn.fetch("SELECT * FROM sms_messages ORDER BY id")
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


async def test_a_payment_sends_exactly_one_sms_through_the_provider(isp, conn, pool):
    await record_cash_payment(conn, scope_of(isp.sub), isp.customer["id"], 50000, idempotency_key="k1")
    await record_cash_payment(conn, scope_of(isp.sub), isp.customer["id"], 50000, idempotency_key="k1")  # replay
    await settle(pool)
    await settle(pool)
    [got] = isp.provider.accepted()
    assert got.to == "8801712345678" and got.sender == "RADBILL"
    assert got.message.startswith("Dear Rahim Uddin, payment received BDT 500.00") and got.message.endswith("Dhaka Net")
    [m] = await messages(conn)
    assert (m["status"], m["provider_message_id"], m["event"], m["segments"]) == ("sent", got.message_id,
                                                                                   "payment_received", 1)
    # the customer's operator (the sub-operator) paid one segment at its price
    assert m["cost_minor"] == 25 and m["charged"]
    assert await conn.fetchval("SELECT sms_balance FROM operators WHERE id = $1", isp.sub["id"]) == 1000 - 25
    [entry] = await conn.fetch("SELECT * FROM sms_balance_entries WHERE operator_id = $1", isp.sub["id"])
    assert (entry["kind"], entry["amount_minor"], entry["balance_after"]) == ("send", -25, 975)


async def test_bangla_template_is_sent_and_counted_as_ucs2(isp, conn, pool):
    body = "প্রিয় {customer_name}, আপনার {amount} পেমেন্ট পেয়েছি। মেয়াদ {expiry} পর্যন্ত। ধন্যবাদ, {isp_name}"
    await sms_config.save_template(conn, scope_of(isp.sub), "payment_received", body, True)  # the sub's own
    await record_cash_payment(conn, scope_of(isp.sub), isp.customer["id"], 70000)
    await settle(pool)
    [got] = isp.provider.accepted()
    assert got.message.startswith("প্রিয় Rahim Uddin, আপনার BDT 700.00 পেমেন্ট পেয়েছি।")
    [m] = await messages(conn)
    assert m["segments"] == (1 if len(got.message) <= 70 else -(-len(got.message) // 67)) and m["segments"] == 2
    assert m["cost_minor"] == 50


async def test_disabled_template_or_missing_mobile_sends_nothing(isp, conn, pool):
    await sms_config.save_template(conn, scope_of(isp.sub), "account_suspended", "Suspended {username}", False)
    await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_suspended")
    await conn.execute("UPDATE customers SET mobile = NULL WHERE id = $1", isp.customer["id"])
    await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    await settle(pool)
    assert isp.provider.received == [] and await messages(conn) == []
    results = [json.loads(r["result"]) for r in await conn.fetch("SELECT result FROM outbox ORDER BY id")]
    assert [r["skipped"] for r in results] == ["the Account suspended SMS is turned off",
                                               "the customer has no mobile number"]


async def test_provider_failure_is_retried_then_failed_with_the_providers_reason_and_refunded(isp, conn, pool):
    isp.provider.fail_next(10, 503, "Operator network busy, try later")
    await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    await settle(pool)
    assert len(isp.provider.received) == FAST.retry.max_attempts == 3
    [m] = await messages(conn)
    assert m["status"] == "failed" and m["error"] == "HTTP 503: Operator network busy, try later"
    assert m["attempts"] == 3 and not m["charged"]
    assert await conn.fetchval("SELECT sms_balance FROM operators WHERE id = $1", isp.sub["id"]) == 1000
    kinds = [r["kind"] for r in await conn.fetch("SELECT kind FROM sms_balance_entries ORDER BY id")]
    assert kinds == ["send", "refund"]
    alert = await conn.fetchrow("SELECT detail FROM audit_log WHERE action = 'alert'")
    assert "Operator network busy" in alert["detail"]


async def test_a_transient_failure_then_success_sends_once(isp, conn, pool):
    isp.provider.fail_next(1, 429, "Too many requests")
    await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    await settle(pool)
    assert [r.answered for r in isp.provider.received] == [429, 200]
    [m] = await messages(conn)
    assert m["status"] == "sent" and m["attempts"] == 2
    assert await conn.fetchval("SELECT count(*) FROM sms_balance_entries") == 1


async def test_a_provider_timeout_is_retried(isp, conn, pool):
    await conn.execute("UPDATE sms_gateways SET config = config || '{\"timeout_seconds\": 0.3}'")
    isp.provider.timeout_next(1)
    isp.provider.hold_seconds = 1.0
    await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    await settle(pool)
    [m] = await messages(conn)
    assert m["status"] == "sent" and m["attempts"] == 2


async def test_a_rejected_number_fails_at_once_with_the_reason(isp, conn, pool):
    isp.provider.reject("8801712345678")
    await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    await settle(pool)
    [m] = await messages(conn)
    assert (m["status"], m["error"], m["attempts"]) == ("failed", "Invalid mobile number", 1)


async def test_an_exhausted_balance_stops_sending_and_says_why(isp, conn, pool):
    await conn.execute("UPDATE operators SET sms_balance = 30 WHERE id = $1", isp.sub["id"])
    for _ in range(3):
        await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    await settle(pool)
    assert len(isp.provider.accepted()) == 1
    failed = await messages(conn, status="failed")
    assert len(failed) == 2
    assert failed[0]["error"].startswith("SMS balance exhausted: this message costs BDT 0.25 and the balance is "
                                         "BDT 0.05. Ask your parent operator to top up")
    assert await conn.fetchval("SELECT sms_balance FROM operators WHERE id = $1", isp.sub["id"]) == 5
    alerts = await conn.fetch("SELECT detail FROM audit_log WHERE action = 'alert'")
    assert len(alerts) == 2 and all("SMS balance exhausted" in a["detail"] for a in alerts)


async def test_without_a_gateway_the_message_fails_and_says_so(isp, conn, pool):
    await conn.execute("UPDATE sms_gateways SET active = false")
    await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    await settle(pool)
    [m] = await messages(conn)
    assert m["status"] == "failed" and m["error"] == sms.NO_GATEWAY


async def test_every_sms_failing_for_want_of_a_gateway_is_one_alert_with_a_count(isp, conn, pool):
    await conn.execute("UPDATE sms_gateways SET active = false")
    for _ in range(3):
        await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    await settle(pool)
    groups = await conn.fetch("SELECT operator_id, kind, occurrences FROM alerts")
    assert [tuple(g) for g in groups] == [(isp.sub["id"], "sms_no_gateway", 3)]
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'alert'") == 3


async def test_bill_generated_sms_once_per_bill(isp, conn, pool):
    bill = await conn.fetchrow(
        "INSERT INTO bills (customer_id, operator_id, package_id, period_start, period_end, currency, amount_minor,"
        " total_minor, due_at) VALUES ($1, $2, $3, '2025-07-01', '2025-08-01', 'BDT', 105000, 105000, $4) RETURNING *",
        isp.customer["id"], isp.sub["id"], isp.package["id"], datetime(2025, 7, 9, 18, tzinfo=UTC))
    await sms_events.queue_bill_sms(conn, [bill["id"]])
    await sms_events.queue_bill_sms(conn, [bill["id"]])
    await settle(pool)
    [got] = isp.provider.accepted()
    assert "bill generated BDT 1,050.00 10 Jul 2025" in got.message  # due date in Dhaka time


async def test_delivery_report_updates_the_status(isp, conn, pool, make_client):
    client = await make_client()
    await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    await settle(pool)
    first, second = isp.provider.accepted()
    callback = f"{client.origin}/sms/dlr/{isp.gateway['id']}/{isp.token}"
    assert await isp.provider.report(callback, first.message_id, "DELIVERED") == 200
    assert await isp.provider.report(callback, second.message_id, "UNDELIVERED", "Handset unreachable") == 200
    assert await isp.provider.report(callback.replace(isp.token, "wrong-token"), first.message_id) == 404
    a, b = await messages(conn)
    assert a["status"] == "delivered" and a["delivered_at"] is not None
    assert (b["status"], b["error"]) == ("failed", "Handset unreachable")


async def test_rate_limit_spaces_sends_per_gateway(isp, conn, pool):
    await conn.execute("UPDATE sms_gateways SET config = config || '{\"rate_per_second\": 20}'")
    for _ in range(6):
        await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    started = datetime.now(UTC)
    await settle(pool, DispatchSettings(retry=RetryPolicy(max_attempts=2, base_delay=0.01), concurrency=6))
    assert len(isp.provider.accepted()) == 6
    assert datetime.now(UTC) - started >= timedelta(seconds=5 / 20 - 0.02)

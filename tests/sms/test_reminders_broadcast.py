"""Reminders (once per slot, only in sending hours) and a 10,000-recipient broadcast."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from radbill.errors import NotFound, ValidationError
from radbill.services import sms_broadcast, sms_config
from radbill.services.sms_reminders import queue_reminders
from tests.support.scopes import scope_of
from tests.support.sms import settle

# 04:00 UTC = 10:00 in Dhaka (inside the default 09:00-21:00); 18:00 UTC = 00:00 in Dhaka (outside)
IN_HOURS = datetime(2025, 7, 7, 4, 0, tzinfo=UTC)
NIGHT = datetime(2025, 7, 7, 18, 0, tzinfo=UTC)


async def _bill(conn, isp, due_at, issued_at=datetime(2025, 7, 1, tzinfo=UTC), period_start=date(2025, 7, 1)):
    return await conn.fetchrow(
        "INSERT INTO bills (customer_id, operator_id, package_id, period_start, period_end, currency, amount_minor,"
        " total_minor, due_at, issued_at) VALUES ($1, $2, $3, $5::date, $5::date + 31, 'BDT', 50000, 50000, $4, $6)"
        " RETURNING *", isp.customer["id"], isp.sub["id"], isp.package["id"], due_at, period_start, issued_at)


async def test_reminder_job_run_twice_sends_one_reminder_per_slot(isp, conn, pool):
    await _bill(conn, isp, datetime(2025, 7, 9, 18, 0, tzinfo=UTC))        # 10 Jul 00:00 Dhaka: 3 days ahead
    await conn.execute("UPDATE customers SET expires_at = $2 WHERE id = $1", isp.customer["id"],
                       datetime(2025, 7, 8, 12, 0, tzinfo=UTC))            # 8 Jul Dhaka: 1 day ahead
    assert await queue_reminders(conn, NIGHT) == {"due_reminder": 0, "expiry_reminder": 0}  # outside hours
    assert await queue_reminders(conn, IN_HOURS) == {"due_reminder": 1, "expiry_reminder": 1}
    assert await queue_reminders(conn, IN_HOURS) == {"due_reminder": 0, "expiry_reminder": 0}
    assert await queue_reminders(conn, IN_HOURS + timedelta(hours=5)) == {"due_reminder": 0, "expiry_reminder": 0}
    await settle(pool)
    texts = sorted(r.message for r in isp.provider.accepted())
    assert len(texts) == 2
    assert texts[0].startswith("Dear Rahim Uddin, due reminder BDT 500.00 10 Jul 2025")
    assert texts[1].startswith("Dear Rahim Uddin, expiry reminder") and "08 Jul 2025" in texts[1]
    # two days later the 1-day slot of the bill is due: one more, once
    later = IN_HOURS + timedelta(days=2)
    assert (await queue_reminders(conn, later))["due_reminder"] == 1
    assert (await queue_reminders(conn, later))["due_reminder"] == 0


async def test_a_bill_issued_today_gets_no_due_reminder_until_tomorrow(isp, conn):
    """A prepaid bill is issued its due days ahead, often right inside a reminder slot: the bill's own SMS
    already gives the due date, so the reminder waits for the next day (one SMS a day, not two)."""
    issued = datetime(2025, 7, 6, 18, 5, tzinfo=UTC)  # 7 Jul 00:05 Dhaka, the run three days before the period
    await _bill(conn, isp, datetime(2025, 7, 9, 18, 0, tzinfo=UTC), issued, date(2025, 7, 10))
    assert (await queue_reminders(conn, IN_HOURS))["due_reminder"] == 0
    assert (await queue_reminders(conn, IN_HOURS + timedelta(days=1)))["due_reminder"] == 1
    assert (await queue_reminders(conn, IN_HOURS + timedelta(days=2)))["due_reminder"] == 1  # the 1-day slot


async def test_reminders_follow_the_operators_settings_and_templates(isp, conn):
    await _bill(conn, isp, datetime(2025, 7, 9, 18, 0, tzinfo=UTC))
    await sms_config.save_settings(conn, scope_of(isp.op), {"send_from": "11:00", "send_until": "20:00",
                                                            "due_reminder_days": "1", "expiry_reminder_days": "2"})
    assert (await queue_reminders(conn, IN_HOURS + timedelta(hours=2)))["due_reminder"] == 0  # 3 days: no slot
    assert (await queue_reminders(conn, IN_HOURS))["due_reminder"] == 0  # 10:00 is before 11:00 now
    await sms_config.save_template(conn, scope_of(isp.sub), "due_reminder", "x {amount}", False)  # the sub opts out
    assert (await queue_reminders(conn, IN_HOURS + timedelta(days=2, hours=2)))["due_reminder"] == 0


async def test_broadcast_preview_and_refusals(isp, conn):
    with pytest.raises(ValidationError, match=r"\{amount\}"):
        await sms_broadcast.preview_broadcast(conn, scope_of(isp.sub), "Pay {amount}", sms_broadcast.Filters())
    plan = await sms_broadcast.preview_broadcast(conn, scope_of(isp.sub), "নোটিশ: {customer_name}, সংযোগ বন্ধ থাকবে।",
                                                 sms_broadcast.Filters())
    assert (plan.recipients, plan.segments, plan.cost_minor) == (1, 1, 25)
    assert plan.sample.startswith("নোটিশ: Rahim Uddin") and plan.sample_segments.encoding == "ucs2"
    await conn.execute("UPDATE operators SET sms_balance = 10 WHERE id = $1", isp.sub["id"])
    with pytest.raises(ValidationError, match="costs BDT 0.25 and your SMS balance is BDT 0.10"):
        await sms_broadcast.start_broadcast(conn, scope_of(isp.sub), "Hello", sms_broadcast.Filters())
    assert await conn.fetchval("SELECT count(*) FROM sms_messages") == 0


async def test_broadcast_of_2500_recipients_sends_each_once_with_the_right_cost(isp, conn, pool):
    await conn.execute(
        "INSERT INTO customers (operator_id, username, radius_password, name, mobile, connection_type, package_id,"
        " billing_profile_id, status)"
        " SELECT $1, 'bulk' || g, 'pw', 'Bulk ' || g, '+88017' || lpad(g::text, 8, '0'), 'pppoe', $2, $3,"
        "        CASE WHEN g % 10 = 0 THEN 'suspended' ELSE 'active' END"
        "   FROM generate_series(1, 2777) g", isp.op["id"], isp.package["id"], isp.profile["id"])
    # a second account on an existing number must not make a second SMS
    await conn.execute("UPDATE customers SET mobile = '+8801700000001' WHERE username = 'bulk2'")
    await conn.execute("UPDATE operators SET sms_balance = 1000000 WHERE id = $1", isp.op["id"])
    scope = scope_of(isp.op)
    active = sms_broadcast.Filters(status="active")
    body = "Dear {customer_name}, our network maintenance is tonight 1-3 AM. {isp_name}"
    plan = await sms_broadcast.preview_broadcast(conn, scope, body, active)
    assert plan.recipients == 2_500  # 2,500 bulk actives, two sharing a number, + Rahim
    assert (plan.segments, plan.cost_minor) == (2_500, 2_500 * 25)
    broadcast_id = await sms_broadcast.start_broadcast(conn, scope, body, active)
    await settle(pool)
    received = isp.provider.accepted()
    assert len(received) == 2_500 and len({r.to for r in received}) == 2_500
    progress = await sms_broadcast.broadcast_progress(conn, scope, broadcast_id)
    assert progress["counts"] == {"queued": 0, "sent": 2_500, "delivered": 0, "failed": 0}
    assert progress["percent"] == 100
    assert await conn.fetchval("SELECT sms_balance FROM operators WHERE id = $1", isp.op["id"]) == 1_000_000 - 2_500 * 25
    assert await conn.fetchval("SELECT sum(amount_minor) FROM sms_balance_entries WHERE operator_id = $1",
                               isp.op["id"]) == -2_500 * 25


async def test_a_message_to_one_customer_goes_the_broadcast_way_and_only_in_scope(isp, conn, pool):
    other = await conn.fetchrow(
        "INSERT INTO customers (operator_id, username, radius_password, name, mobile, connection_type, package_id,"
        " billing_profile_id) VALUES ($1, 'neighbour', 'pw', 'Karim', '+8801799999999', 'pppoe', $2, $3) RETURNING *",
        isp.sub["id"], isp.package["id"], isp.profile["id"])
    broadcast_id = await sms_broadcast.send_to_customer(conn, scope_of(isp.sub), isp.customer["id"],
                                                        "Hello {customer_name}")
    await settle(pool)
    assert [(r.to, r.message) for r in isp.provider.accepted()] == [("8801712345678", "Hello Rahim Uddin")]
    assert (await sms_broadcast.broadcast_progress(conn, scope_of(isp.sub), broadcast_id))["counts"]["sent"] == 1
    assert await conn.fetchval("SELECT count(*) FROM sms_messages WHERE customer_id = $1", other["id"]) == 0
    # the operator's own customer is not the sub-operator's to message
    mine = await conn.fetchrow("UPDATE customers SET operator_id = $2 WHERE id = $1 RETURNING *", other["id"],
                               isp.op["id"])
    with pytest.raises(NotFound):
        await sms_broadcast.send_to_customer(conn, scope_of(isp.sub), mine["id"], "Hello")
    await conn.execute("UPDATE customers SET mobile = NULL WHERE id = $1", isp.customer["id"])
    with pytest.raises(ValidationError, match="no mobile number"):
        await sms_broadcast.send_to_customer(conn, scope_of(isp.sub), isp.customer["id"], "Hello")

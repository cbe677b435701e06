"""{pay_link} in bill, reminder and suspension SMS: a short portal URL from a pay_links row, one per bill reused
while valid, made only when the template carries the placeholder."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from radbill.payments.links import DEFAULT_TTL, create_pay_link
from radbill.services import sms_config, sms_events
from radbill.sms.text import DEFAULT_TEMPLATES, validate_template
from tests import factories as f
from tests.support.scopes import scope_of
from tests.support.sms import settle

LINK = re.compile(r"https://pay\.example\.net/pay/([A-Za-z0-9_-]{16,64})")


async def bill_for(conn, isp):
    return await f.insert(conn, "bills", {"customer_id": isp.customer["id"], "operator_id": isp.sub["id"],
                                          "period_start": date(2026, 1, 1), "period_end": date(2026, 2, 1),
                                          "currency": "BDT", "amount_minor": 50000, "total_minor": 50000,
                                          "due_at": datetime.now(UTC) + timedelta(days=3)})


def test_default_money_templates_carry_the_link_and_validate():
    for event in ("bill_generated", "due_reminder", "expiry_reminder"):
        assert "{pay_link}" in DEFAULT_TEMPLATES[event] and validate_template(DEFAULT_TEMPLATES[event])
    assert "pay.example.net/pay/" in sms_config.preview(DEFAULT_TEMPLATES["bill_generated"])["text"]


async def test_bill_and_reminder_sms_carry_one_link_for_the_bill(isp, conn, pool, monkeypatch):
    monkeypatch.setenv("RADBILL_PORTAL_URL", "https://pay.example.net/")
    for event in ("bill_generated", "due_reminder"):
        await sms_config.save_template(conn, scope_of(isp.op), event, DEFAULT_TEMPLATES[event], True)
    bill = await bill_for(conn, isp)
    await sms_events.queue_bill_sms(conn, [bill["id"]])
    await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "due_reminder", "due:1",
                                 bill_id=bill["id"])
    await settle(pool)
    bodies = [m.message for m in isp.provider.accepted()]
    assert len(bodies) == 2 and all("BDT 500.00" in b for b in bodies)
    tokens = {LINK.search(b).group(1) for b in bodies}
    assert len(tokens) == 1  # the reminder reuses the bill's link
    (link,) = await conn.fetch("SELECT * FROM pay_links")
    assert (link["token"], link["bill_id"], link["customer_id"], link["operator_id"]) == (
        tokens.pop(), bill["id"], isp.customer["id"], isp.sub["id"])
    assert timedelta(days=13) < link["expires_at"] - datetime.now(UTC) <= DEFAULT_TTL


async def test_no_link_row_without_the_placeholder_and_a_new_one_near_expiry(isp, conn, pool):
    bill = await bill_for(conn, isp)
    await sms_events.queue_bill_sms(conn, [bill["id"]])  # the fixture's template has no {pay_link}
    await settle(pool)
    assert len(isp.provider.accepted()) == 1 and await conn.fetchval("SELECT count(*) FROM pay_links") == 0
    first = await create_pay_link(conn, isp.customer["id"], bill["id"], DEFAULT_TTL)
    assert await create_pay_link(conn, isp.customer["id"], bill["id"], DEFAULT_TTL) == first
    await conn.execute("UPDATE pay_links SET expires_at = now() + interval '1 hour'")
    fresh = await create_pay_link(conn, isp.customer["id"], bill["id"], DEFAULT_TTL)
    assert fresh != first and len(fresh) >= 16
    advance = await create_pay_link(conn, isp.customer["id"], None, DEFAULT_TTL)  # expiry reminder, no bill open
    assert advance not in (first, fresh)
    assert await conn.fetchval("SELECT bill_id FROM pay_links WHERE token = $1", advance) is None

"""radbill.services.fair_usage: top-up packs, buying a top-up from the wallet (ledger + window), daily usage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from radbill.db.pool import set_scope
from radbill.errors import NotFound, ValidationError
from radbill.services import fair_usage, payments
from radbill.tenancy import CustomerScope, Scope
from tests import factories as f

GB = 10**9


def staff(op) -> Scope:
    return Scope(account_id=None, operator_id=op["id"], path=str(op["path"]), role=op["kind"])


@pytest.fixture
async def world(db):
    isp = await f.isp(db)
    capped = await f.package(db, isp.operator["id"], data_cap_bytes=100 * GB, throttled_download_kbps=2000,
                             throttled_upload_kbps=1000)
    isp.customer = await f.customer(db, isp.sub["id"], capped["id"], isp.profile["id"])
    isp.uncapped = await f.customer(db, isp.sub["id"], isp.package["id"], isp.profile["id"])
    await set_scope(db, "*")  # radbill_customer_policy reads the scope from the connection, as in the admin
    isp.pack = await fair_usage.create_pack(db, staff(isp.operator), {"name": "20 GB extra", "size_gb": "20",
                                                                      "price": "150"})
    return isp


async def wallet(db, customer_id):
    return await db.fetchval(fair_usage.WALLET, customer_id, "BDT")


async def test_a_top_up_is_paid_from_the_wallet_and_raises_this_window(db, world):
    c, scope = world.customer, staff(world.sub)
    await payments.add_advance_payment(db, scope, c["id"], 20000)
    topup = await fair_usage.buy_topup(db, scope, c["id"], world.pack)
    assert (topup["bytes"], topup["price_minor"]) == (20 * GB, 15000)
    assert await wallet(db, c["id"]) == 5000
    entries = await db.fetch("SELECT a.kind, e.amount_minor FROM ledger_entries e JOIN ledger_accounts a"
                             " ON a.id = e.account_id WHERE e.txn_id = $1 ORDER BY a.kind", topup["txn_id"])
    assert [(e["kind"], e["amount_minor"]) for e in entries] == [("customer_advance", 15000), ("revenue", -15000)]
    policy = await db.fetchrow("SELECT * FROM radius_policy WHERE customer_id = $1", c["id"])
    assert policy["topup_bytes"] == 20 * GB
    assert (topup["window_start"], topup["window_end"]) == (policy["cap_window_start"], policy["cap_window_end"])
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'customer.data_topup'"
                             " AND object_id = $1", c["id"]) == 1


@pytest.mark.parametrize("case", ["wallet_short", "no_cap"])
async def test_a_refused_top_up_writes_nothing(db, world, case):
    c = world.customer if case == "wallet_short" else world.uncapped
    await payments.add_advance_payment(db, staff(world.sub), c["id"], 10000)
    with pytest.raises(ValidationError) as exc:
        await fair_usage.buy_topup(db, staff(world.sub), c["id"], world.pack)
    assert ("Record a payment first" in str(exc.value)) == (case == "wallet_short")
    assert await wallet(db, c["id"]) == 10000
    assert await db.fetchval("SELECT count(*) FROM data_topups WHERE customer_id = $1", c["id"]) == 0


async def test_a_portal_customer_buys_only_for_themselves(db, world):
    me = CustomerScope(world.uncapped["id"], world.sub["id"], str(world.sub["path"]))
    with pytest.raises(NotFound):
        await fair_usage.buy_topup(db, me, world.customer["id"], world.pack)
    mine = CustomerScope(world.customer["id"], world.sub["id"], str(world.sub["path"]))
    await payments.add_advance_payment(db, staff(world.sub), world.customer["id"], 15000)
    assert (await fair_usage.buy_topup(db, mine, world.customer["id"], world.pack))["bytes"] == 20 * GB


async def test_a_foreign_or_retired_pack_is_not_sold(db, world):
    other = await f.isp(db)
    foreign = await fair_usage.create_pack(db, staff(other.operator), {"name": "x", "size_gb": "1", "price": "1"})
    await fair_usage.set_pack_active(db, staff(world.operator), world.pack, False)
    for pack in (foreign, world.pack):
        with pytest.raises(NotFound):
            await fair_usage.buy_topup(db, staff(world.sub), world.customer["id"], pack)
    with pytest.raises(NotFound):
        await fair_usage.set_pack_active(db, staff(world.operator), foreign, False)


def test_pack_form_says_what_is_wrong():
    with pytest.raises(ValidationError) as exc:
        fair_usage.pack_values({"name": "", "size_gb": "lots", "price": "-1"}, "BDT")
    assert set(exc.value.fields) == {"name", "size_gb", "price"}


async def test_daily_usage_splits_a_session_at_local_midnight(db, world):
    """Dhaka is UTC+6: a session from 17:00 to 19:00 UTC on Nov 3 is 23:00-01:00 local, half on each day."""
    c = world.customer
    await db.execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime,"
        " acctinputoctets, acctoutputoctets) VALUES ('a', 'a', $1, '127.0.0.1', $2, $3, 3000, 1000),"
        " ('b', 'b', $1, '127.0.0.1', $4, NULL, 500, 0)", c["username"],
        datetime(2026, 11, 3, 17, tzinfo=UTC), datetime(2026, 11, 3, 19, tzinfo=UTC),
        datetime(2026, 11, 5, 2, tzinfo=UTC))
    start = datetime(2026, 10, 31, 18, tzinfo=UTC)  # Nov 1, local midnight
    days = await fair_usage.daily_usage(db, c["id"], (start, start + timedelta(days=30)))
    assert len(days) == 30 and days[0].day == date(2026, 11, 1)
    by_day = {d.day: d.bytes for d in days if d.bytes}
    assert by_day == {date(2026, 11, 3): 2000, date(2026, 11, 4): 2000, date(2026, 11, 5): 500}


async def test_a_session_split_across_days_keeps_every_byte(db, world):
    """23:53-00:23 local with 4,000,000,001 octets: a third and two thirds, which no floor of its own makes whole;
    each day's share is the difference of the cumulative shares, so the days add up to the session (the admin's
    panel showed "3.999 GB" for a 4 GB session that crossed midnight)."""
    c = world.customer
    await db.execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime,"
        " acctinputoctets, acctoutputoctets) VALUES ('x', 'x', $1, '127.0.0.1', $2, $3, 1000000001, 3000000000)",
        c["username"], datetime(2026, 11, 3, 17, 53, tzinfo=UTC), datetime(2026, 11, 3, 18, 23, tzinfo=UTC))
    start = datetime(2026, 10, 31, 18, tzinfo=UTC)
    days = await fair_usage.daily_usage(db, c["id"], (start, start + timedelta(days=30)))
    by_day = {d.day: d.bytes for d in days if d.bytes}
    assert sum(by_day.values()) == 4_000_000_001
    assert by_day == {date(2026, 11, 3): 933_333_333, date(2026, 11, 4): 3_066_666_668}


async def test_the_tier_sms_renders_usage_and_speed_with_the_default_text(db, world):
    """The row the RADIUS module queues on a crossing (tests/radius/test_fair_usage.py) becomes this SMS."""
    import json

    from radbill.services import sms
    from radbill.sms.text import default_template

    c = world.customer
    await db.execute("UPDATE customers SET mobile = '+8801711000009' WHERE id = $1", c["id"])
    await db.execute("INSERT INTO sms_templates (operator_id, event, body) VALUES ($1, 'cap_tier_crossed', $2)",
                     world.operator["id"], default_template("cap_tier_crossed", "en"))
    await f.insert(db, "sms_gateways", {"operator_id": world.root["id"], "name": "gw", "kind": "log"})
    payload = {"event": "cap_tier_crossed", "customer_id": c["id"], "tier": 1, "rate": "1M/2M",
               "usage_bytes": 100_500_000_000}
    outbox_id = await db.fetchval("INSERT INTO outbox (kind, operator_id, payload) VALUES ('sms', $1, $2)"
                                  " RETURNING id", c["operator_id"], json.dumps(payload))
    message = await sms.make_event_message(db, outbox_id, payload)
    assert not isinstance(message, str), message
    assert "you have used 100.5 GB this period, so your speed is now 2Mbps" in message["body"]

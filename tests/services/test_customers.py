"""radbill.services.customers: scope, validation, and what one transaction writes (status, outbox, audit)."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from radbill.errors import NotFound, ValidationError
from radbill.policy import Speeds
from radbill.policy.vendors import rate_attributes
from radbill.services import customers as svc
from radbill.tenancy import Scope
from tests import factories as f

_n = itertools.count(1)


def scope_of(operator) -> Scope:
    return Scope(account_id=None, operator_id=operator["id"], path=operator["path"], role=operator["kind"])


async def world(conn):
    isp = await f.isp(conn)
    isp.other_sub = await f.operator(conn, "sub_operator", isp.operator["id"])
    isp.customer = await f.customer(conn, isp.sub["id"], isp.package["id"], isp.profile["id"])
    isp.fast = await f.package(conn, isp.operator["id"], download_kbps=20000, upload_kbps=8000,
                               burst_download_kbps=40000, burst_upload_kbps=16000)
    for package in (isp.package, isp.fast):
        await f.insert(conn, "package_assignments", {"operator_id": isp.sub["id"], "package_id": package["id"],
                                                     "wholesale_price_minor": 100})
    n = next(_n)
    isp.mikrotik = await f.insert(conn, "nas", {"nasname": f"10.250.{n % 250}.1", "shortname": f"mt{n}",
                                                "secret": "s" * 20, "operator_id": isp.operator["id"]})
    isp.other_nas = await f.insert(conn, "nas", {"nasname": f"10.251.{n % 250}.1", "shortname": f"ot{n}",
                                                 "secret": "s" * 20, "operator_id": isp.operator["id"], "type": "generic"})
    return isp


async def open_session(conn, customer, nas, started=None):
    n = next(_n)
    return await f.insert(conn, "radacct", {
        "acctsessionid": f"sess{n}", "acctuniqueid": f"uniq{n}-{customer['id']}", "username": customer["username"],
        "nasipaddress": nas["nasname"], "framedipaddress": f"10.9.{n % 250}.{n % 200 + 2}",
        "acctstarttime": started or datetime.now(UTC) - timedelta(minutes=5)})


async def outbox_rows(conn, customer):
    rows = await conn.fetch("SELECT * FROM outbox WHERE payload->>'username' = $1 ORDER BY id", customer["username"])
    return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]


async def audit_rows(conn, customer):
    rows = await conn.fetch("SELECT * FROM audit_log WHERE object_kind = 'customer' AND object_id = $1 ORDER BY id",
                            customer["id"])
    return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]


async def test_suspend_queues_a_disconnect_per_open_session_and_audits(db):
    isp = await world(db)
    c = isp.customer
    s1 = await open_session(db, c, isp.mikrotik)
    s2 = await open_session(db, c, isp.other_nas)
    await db.execute("UPDATE radacct SET acctstoptime = now() WHERE radacctid = $1",
                     (await open_session(db, c, isp.mikrotik))["radacctid"])  # closed: nothing to send
    updated = await svc.suspend_customer(db, scope_of(isp.sub), c["id"], "unpaid bill", ip="192.0.2.7")
    assert (updated["status"], updated["status_reason"]) == ("suspended", "unpaid bill")
    rows = await outbox_rows(db, c)
    assert [r["kind"] for r in rows] == ["disconnect", "disconnect"]
    assert rows[0]["payload"] == {"username": c["username"], "acct_session_id": s1["acctsessionid"],
                                  "acct_unique_id": s1["acctuniqueid"], "nas_ip": isp.mikrotik["nasname"],
                                  "framed_ip": str(s1["framedipaddress"]), "reason": "suspended",
                                  "customer_id": c["id"]}
    assert rows[0]["dedupe_key"] == f"disconnect:{s1['acctuniqueid']}:suspended"
    assert rows[1]["payload"]["acct_session_id"] == s2["acctsessionid"]
    assert all(r["operator_id"] == isp.sub["id"] for r in rows)
    [entry] = await audit_rows(db, c)
    assert entry["action"] == "customer.suspend" and str(entry["ip"]) == "192.0.2.7"
    assert entry["detail"]["status"] == ["active", "suspended"]
    assert entry["detail"]["outbox_ids"] == [r["id"] for r in rows]


async def test_a_second_suspend_changes_nothing(db):
    isp = await world(db)
    await open_session(db, isp.customer, isp.mikrotik)
    for _ in range(2):
        await svc.suspend_customer(db, scope_of(isp.sub), isp.customer["id"], "unpaid")
    assert len(await outbox_rows(db, isp.customer)) == 1
    assert len(await audit_rows(db, isp.customer)) == 1


async def test_a_double_submitted_suspend_queues_one_row(fresh_db_url):
    setup = await asyncpg.connect(fresh_db_url)
    try:
        isp = await world(setup)
        await open_session(setup, isp.customer, isp.mikrotik)
        clicks = [await asyncpg.connect(fresh_db_url) for _ in range(2)]
        try:
            await asyncio.gather(*(svc.suspend_customer(conn, scope_of(isp.sub), isp.customer["id"], "unpaid")
                                   for conn in clicks))
        finally:
            for conn in clicks:
                await conn.close()
        assert len(await outbox_rows(setup, isp.customer)) == 1
        assert [a["action"] for a in await audit_rows(setup, isp.customer)] == ["customer.suspend"]
    finally:
        await setup.close()


async def test_the_accounting_hooks_disconnect_for_the_same_session_is_the_same_row(db):
    isp = await world(db)
    s = await open_session(db, isp.customer, isp.mikrotik)
    # what radius_module queues when a suspended customer's session sends an Interim-Update
    await db.execute("INSERT INTO outbox (kind, payload, dedupe_key) VALUES ('disconnect', '{}', $1)",
                     f"disconnect:{s['acctuniqueid']}:suspended")
    await svc.suspend_customer(db, scope_of(isp.sub), isp.customer["id"], "unpaid")
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE payload->>'acct_unique_id' = $1 OR payload = '{}'",
                             s["acctuniqueid"]) == 1


async def test_suspending_again_after_a_failed_disconnect_tries_again(db):
    isp = await world(db)
    await open_session(db, isp.customer, isp.mikrotik)
    scope = scope_of(isp.operator)
    await svc.suspend_customer(db, scope, isp.customer["id"], "unpaid")
    await db.execute("UPDATE outbox SET failed_at = now(), attempts = 8")
    await svc.activate_customer(db, scope, isp.customer["id"])
    await svc.suspend_customer(db, scope, isp.customer["id"], "still unpaid")
    failed, again = await outbox_rows(db, isp.customer)  # a new row: the failed one keeps its history
    assert failed["failed_at"] is not None and failed["attempts"] == 8
    assert (again["attempts"], again["failed_at"], again["done_at"]) == (0, None, None)
    assert again["dedupe_key"] == failed["dedupe_key"] and again["destination"] == f"nas:{isp.mikrotik['nasname']}"


@pytest.mark.parametrize("action", [svc.suspend_customer, svc.disable_customer])
async def test_a_sub_operator_cannot_touch_another_sub_operators_customer(db, action):
    isp = await world(db)
    with pytest.raises(NotFound) as missing:
        await action(db, scope_of(isp.other_sub), isp.customer["id"], "not mine")
    with pytest.raises(NotFound) as foreign:
        await action(db, scope_of(isp.other_sub), 10**12, "not there")
    assert str(missing.value).replace(str(isp.customer["id"]), "N") == str(foreign.value).replace(str(10**12), "N")
    assert await db.fetchval("SELECT status FROM customers WHERE id = $1", isp.customer["id"]) == "active"
    await action(db, scope_of(isp.operator), isp.customer["id"], "the parent operator may")


async def test_status_transitions(db):
    isp = await world(db)
    scope, cid = scope_of(isp.sub), isp.customer["id"]
    with pytest.raises(ValidationError, match="reason"):
        await svc.suspend_customer(db, scope, cid, "  ")
    await svc.disable_customer(db, scope, cid, "fraud")
    with pytest.raises(ValidationError, match="is disabled; activate them before you suspend them"):
        await svc.suspend_customer(db, scope, cid, "unpaid")
    assert (await svc.activate_customer(db, scope, cid))["status"] == "active"
    await svc.suspend_customer(db, scope, cid, "unpaid")
    assert (await svc.disable_customer(db, scope, cid, "moved away"))["status"] == "disabled"
    actions = [a["action"] for a in await audit_rows(db, isp.customer)]
    assert actions == ["customer.disable", "customer.activate", "customer.suspend", "customer.disable"]


async def test_activate_disconnects_only_walled_garden_sessions(db):
    isp = await world(db)
    old = await open_session(db, isp.customer, isp.mikrotik, started=datetime.now(UTC) - timedelta(hours=2))
    await svc.suspend_customer(db, scope_of(isp.sub), isp.customer["id"], "unpaid")
    await db.execute("UPDATE outbox SET done_at = now()")
    walled = await open_session(db, isp.customer, isp.mikrotik, started=datetime.now(UTC) + timedelta(seconds=1))
    await svc.activate_customer(db, scope_of(isp.sub), isp.customer["id"], "paid")
    pending = [r for r in await outbox_rows(db, isp.customer) if r["done_at"] is None]
    assert [(r["kind"], r["payload"]["acct_session_id"], r["payload"]["reason"]) for r in pending] == [
        ("disconnect", walled["acctsessionid"], "reactivated")]
    assert old["acctsessionid"] != walled["acctsessionid"]


def mikrotik_rate(payload: dict) -> str:
    """The Mikrotik-Rate-Limit the dispatcher sends for a CoA row (its payload holds vendor-neutral speeds)."""
    return rate_attributes("mikrotik", Speeds(**payload["speeds"]))["Mikrotik-Rate-Limit"]


async def test_change_package_sends_coa_to_mikrotik_and_disconnect_elsewhere(db):
    isp = await world(db)
    mt = await open_session(db, isp.customer, isp.mikrotik)
    await open_session(db, isp.customer, isp.other_nas)
    updated = await svc.change_package(db, scope_of(isp.sub), isp.customer["id"], isp.fast["id"])
    assert updated["package_id"] == isp.fast["id"]
    coa, disconnect = await outbox_rows(db, isp.customer)
    assert coa["kind"] == "coa" and coa["payload"]["acct_unique_id"] == mt["acctuniqueid"]
    assert mikrotik_rate(coa["payload"]) == "8M/20M 16M/40M 6M/15M 8/8"
    assert coa["dedupe_key"] == f"coa:package:{mt['acctuniqueid']}:{isp.fast['id']}"
    assert disconnect["kind"] == "disconnect" and disconnect["payload"]["reason"] == "package_change"
    [entry] = await audit_rows(db, isp.customer)
    assert entry["detail"]["package_id"] == [isp.package["id"], isp.fast["id"]]


async def test_changing_back_and_forth_leaves_only_the_newest_coa_pending(db):
    isp = await world(db)
    await open_session(db, isp.customer, isp.mikrotik)
    scope, cid = scope_of(isp.operator), isp.customer["id"]
    for package in (isp.fast, isp.package, isp.fast):
        await svc.change_package(db, scope, cid, package["id"])
    pending = [r for r in await outbox_rows(db, isp.customer) if r["done_at"] is None]
    assert [mikrotik_rate(r["payload"]) for r in pending] == ["8M/20M 16M/40M 6M/15M 8/8"]


async def test_a_package_not_assigned_to_the_sub_operator_is_refused_and_nothing_changes(db):
    isp = await world(db)
    await open_session(db, isp.customer, isp.mikrotik)
    unassigned = await f.package(db, isp.operator["id"])
    with pytest.raises(ValidationError) as err:
        await svc.change_package(db, scope_of(isp.sub), isp.customer["id"], unassigned["id"])
    assert str(err.value) == (f"Package {unassigned['id']} is not available to {isp.customer['username']}'s "
                              "operator: ask the operator to assign it to this sub-operator first.")
    assert err.value.fields == {"package_id": "not assigned to the customer's operator"}
    assert await db.fetchval("SELECT package_id FROM customers WHERE id = $1", isp.customer["id"]) == isp.package["id"]
    assert await outbox_rows(db, isp.customer) == [] and await audit_rows(db, isp.customer) == []


async def test_packages_an_operators_customer_may_use(db):
    isp = await world(db)
    own = await f.customer(db, isp.operator["id"], isp.package["id"], isp.profile["id"])
    from_group_admin = await f.package(db, isp.root["id"])
    other_operator = await f.operator(db, "operator", isp.root["id"])
    foreign = await f.package(db, other_operator["id"])
    retired = await f.package(db, isp.operator["id"], status="retired")
    scope = scope_of(isp.operator)
    await svc.change_package(db, scope, own["id"], from_group_admin["id"])
    with pytest.raises(ValidationError, match="choose one of this operator's own packages"):
        await svc.change_package(db, scope, own["id"], foreign["id"])
    with pytest.raises(ValidationError, match="retired"):
        await svc.change_package(db, scope, own["id"], retired["id"])


async def test_set_custom_price(db):
    isp = await world(db)
    scope, cid = scope_of(isp.sub), isp.customer["id"]
    assert (await svc.set_custom_price(db, scope, cid, 45000))["custom_price_minor"] == 45000
    assert (await svc.set_custom_price(db, scope, cid, None))["custom_price_minor"] is None
    for bad in (-1, 12.5, "100", True):
        with pytest.raises(ValidationError, match="whole, non-negative amount"):
            await svc.set_custom_price(db, scope, cid, bad)
    details = [a["detail"] for a in await audit_rows(db, isp.customer)]
    assert details == [{"custom_price_minor": [None, 45000]}, {"custom_price_minor": [45000, None]}]
    with pytest.raises(NotFound):
        await svc.set_custom_price(db, scope_of(isp.other_sub), cid, 1)

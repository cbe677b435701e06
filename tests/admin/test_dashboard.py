"""The dashboard's figures are scoped, and a dispatcher alert is shown to the customer's operators."""

from datetime import UTC, datetime

import asyncpg

from radbill.services import alerts, corrections, dashboard, payments
from tests import factories as f
from tests.billing.helpers import customer, isp, scope_of


async def test_dashboard_counts_only_the_callers_subtree(make_client, fresh_db_url, tree):
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await conn.execute("UPDATE customers SET status = 'suspended' WHERE username = 'cust-a2'")
        await f.insert(conn, "radacct", {"acctsessionid": "s1", "acctuniqueid": "u1", "username": "cust-a1",
                                         "nasipaddress": "10.0.1.1", "acctstarttime": datetime.now(UTC)})
        await f.insert(conn, "payments", {"customer_id": tree.customers["a1"]["id"],
                                          "operator_id": tree.ops["sub_a1"]["id"], "amount_minor": 123456,
                                          "currency": "BDT", "method": "cash"})
        await alerts.raise_alert(conn, tree.ops["op_a"]["id"], "router_unreachable", "10.0.1.1",
                                 "Could not disconnect cust-a1's session", {"nas_ip": "10.0.1.1"}, "customer",
                                 tree.customers["a1"]["id"], audit_operator_id=tree.ops["sub_a1"]["id"])
    finally:
        await conn.close()
    opa = await (await (await make_client("opa")).get("/")).text()
    assert '<b>2</b><span>customers</span>' in opa and '<b>1</b><span>suspended</span>' in opa
    assert '<b>1</b><span>online</span>' in opa
    assert "BDT 1,234.56" in opa and "Could not disconnect cust-a1" in opa
    opb = await (await (await make_client("opb")).get("/")).text()
    assert '<b>1</b><span>customers</span>' in opb and "BDT 1,234.56" not in opb and "Could not disconnect" not in opb
    sub1 = await (await (await make_client("suba1")).get("/")).text()
    assert "Could not disconnect" not in sub1  # a sub-operator cannot manage the router: not its alert
    sub2 = await (await (await make_client("suba2")).get("/")).text()
    assert '<b>0</b><span>online</span>' in sub2 and "Needs attention" not in sub2


async def test_the_dashboard_counts_only_what_is_left_of_reversed_payments(db):
    """A reversed payment is money that did not stay: the figures and the 30-day chart count what is left of it."""
    w = await isp(db)
    c = await customer(db, w)
    now = datetime(2024, 3, 10, 6, tzinfo=UTC)
    payment = (await payments.record_cash_payment(db, w.system, c["id"], 50000, now=now)).payment
    await corrections.reverse_payment(db, w.system, payment["id"], 30000, "cheque bounced", now=now)
    seen = await dashboard.load(db, scope_of(w.operator), now, "Asia/Dhaka")
    assert (seen.collected_today, seen.collected_month, seen.daily[-1][1]) == (20000, 20000, 20000)

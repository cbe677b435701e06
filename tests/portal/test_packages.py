"""The portal's Change package: the list, the preview (the admin's figures), a request to staff, and an upgrade
paid through the fake bKash that settlement applies exactly once (real HTTP, real Postgres)."""

import re

from radbill.services import payments
from tests import factories as f
from tests.payments.bkash_steps import press
from tests.support.portal import Portal


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def _ready(p: Portal, setting: str):
    """The customer active with the current bill paid, a dearer package on offer; logged in. Returns it."""
    w, c = p.w, p.w.customer
    await p.owner.execute("UPDATE operators SET credit_limit_minor = 10000000, portal_package_change = $2"
                          " WHERE id = $1", w.sub["id"], setting)
    await payments.record_cash_payment(p.owner, w.system, c["id"], w.bill["total_minor"], w.bill["id"])
    fast = await f.package(p.owner, w.operator["id"], name="Fast 80", price_minor=80000, download_kbps=81920)
    await f.insert(p.owner, "package_assignments", {"operator_id": w.sub["id"], "package_id": fast["id"],
                                                    "wholesale_price_minor": 56000})
    async with p.http.get(f"{p.url}/login") as r:
        token = _csrf(await r.text())
    r = await p.http.post(f"{p.url}/login", data={"csrf_token": token, "username": c["username"],
                                                   "password": c["radius_password"]},
                          headers={"Origin": p.url}, allow_redirects=False)
    assert r.status == 303
    return fast


async def _get(p: Portal, path: str, **kw):
    async with p.http.get(p.url + path, allow_redirects=False, **kw) as r:
        return r.status, await r.text(), r.headers


async def test_the_list_and_the_preview_then_a_request_becomes_a_ticket_for_staff(portal: Portal):
    p = portal
    fast = await _ready(p, "request")
    status, page, _ = await _get(p, "/packages")
    assert status == 200 and "Fast 80" in page and "800.00" in page and "Your current package" in page
    status, page, _ = await _get(p, f"/packages/{fast['id']}")
    assert status == 200 and "Charged now:" in page and "Send the request to my provider" in page
    assert "Pay and change now" not in page
    r = await p.http.post(f"{p.url}/packages/{fast['id']}/request", data={"csrf_token": _csrf(page)},
                          headers={"Origin": p.url}, allow_redirects=False)
    assert r.status == 200 and "Request sent" in await r.text()
    ticket = await p.owner.fetchrow("SELECT t.*, m.body FROM tickets t JOIN ticket_messages m ON m.ticket_id = t.id"
                                    " WHERE t.customer_id = $1", p.w.customer["id"])
    assert ticket["category"] == "other" and "Fast 80" in ticket["subject"]
    assert f"/customers/{p.w.customer['id']}/package?package_id={fast['id']}" in ticket["body"]
    # nothing changed until staff apply it
    assert await p.owner.fetchval("SELECT package_id FROM customers WHERE id = $1", p.w.customer["id"]) != fast["id"]


async def test_a_package_not_on_offer_is_not_found_and_off_offers_no_form(portal: Portal):
    p = portal
    fast = await _ready(p, "off")
    other_op = await f.operator(p.owner, "operator", p.w.root["id"])
    foreign = await f.package(p.owner, other_op["id"], name="Elsewhere")
    assert (await _get(p, f"/packages/{foreign['id']}"))[0] == 404
    status, page, _ = await _get(p, f"/packages/{fast['id']}")
    assert status == 200 and "contact your provider" in page and "<form method=\"post\" action=\"/packages" not in page
    r = await p.http.post(f"{p.url}/packages/{fast['id']}/request", data={"csrf_token": _csrf(page)},
                          headers={"Origin": p.url}, allow_redirects=False)
    assert r.status == 404
    assert await p.owner.fetchval("SELECT count(*) FROM tickets") == 0


async def test_an_upgrade_paid_through_bkash_is_applied_once_when_the_payment_settles(portal: Portal):
    p = portal
    fast = await _ready(p, "pay_now")
    status, page, headers = await _get(p, f"/packages/{fast['id']}")
    assert status == 200 and "Pay and change now" in page
    assert p.fake.base_url in headers["Content-Security-Policy"]
    r = await p.http.post(f"{p.url}/packages/{fast['id']}/pay",
                          data={"csrf_token": _csrf(page), "gateway": str(p.w.gateway["id"])},
                          headers={"Origin": p.url}, allow_redirects=False)
    assert r.status == 303, await r.text()
    intent = await p.owner.fetchrow("SELECT * FROM payment_intents WHERE package_id = $1", fast["id"])
    assert intent["origin"] == "portal" and intent["amount_minor"] > 0 and intent["package_applied_at"] is None
    assert await p.owner.fetchval("SELECT package_id FROM customers WHERE id = $1", p.w.customer["id"]) != fast["id"]
    params = await press(p.http, r.headers["Location"])
    for _ in range(2):  # the browser's return and a repeat of it: one change, one payment
        status, _, headers = await _get(p, f"/pay/return/{p.w.gateway['id']}", params=params)
        assert status == 303 and headers["Location"].startswith("/pay/receipt/")
    row = await p.owner.fetchrow("SELECT * FROM customers WHERE id = $1", p.w.customer["id"])
    assert row["package_id"] == fast["id"]
    bills = await p.owner.fetch("SELECT * FROM bills WHERE customer_id = $1 AND kind = 'package_change'", row["id"])
    assert [(b["status"], b["total_minor"]) for b in bills] == [("paid", intent["amount_minor"])]
    assert await p.owner.fetchval("SELECT count(*) FROM payments WHERE customer_id = $1 AND method = 'gateway'",
                                  row["id"]) == 1
    assert (await p.owner.fetchrow("SELECT * FROM payment_intents WHERE id = $1", intent["id"]))[
        "package_applied_at"] is not None

"""The admin's package change: preview with the money, a confirmation, the change billed, the timeline."""

import re

import asyncpg

from radbill import clock
from radbill.services import billing, payments
from radbill.tenancy import Scope
from tests import factories as f

_EXPECTED = re.compile(r'name="expected_minor" value="(-?\d+)"')


async def _prepared(url, tree):
    """Customer A1 billed and paid for the current period; a dearer package assigned to its reseller."""
    conn = await asyncpg.connect(url)
    try:
        op_a, cust = tree.ops["op_a"], tree.customers["a1"]
        fast = await f.package(conn, op_a["id"], name="Fast 80", price_minor=80000, download_kbps=81920)
        for package_id in (fast["id"], cust["package_id"]):
            await f.insert(conn, "package_assignments", {"operator_id": tree.ops["sub_a1"]["id"],
                                                         "package_id": package_id, "wholesale_price_minor": 30000})
        system = Scope.system(op_a["id"], str(op_a["path"]))
        await conn.execute("UPDATE operators SET credit_limit_minor = 10000000 WHERE id = $1", tree.ops["sub_a1"]["id"])
        await billing.generate_bills(conn, clock.now(), system, [cust["id"]])
        for bill in await conn.fetch("SELECT * FROM bills WHERE customer_id = $1", cust["id"]):
            await payments.record_cash_payment(conn, system, cust["id"], bill["total_minor"], bill["id"])
        return fast
    finally:
        await conn.close()


async def test_preview_shows_the_charge_then_a_confirmation_then_the_change_is_billed(make_client, tree,
                                                                                        fresh_db_url):
    fast = await _prepared(fresh_db_url, tree)
    c = await make_client("suba1")
    path = f"/customers/{tree.customers['a1']['id']}"
    page = await (await c.get(f"{path}/package?package_id={fast['id']}")).text()
    expected = int(_EXPECTED.search(page).group(1))
    assert expected > 0 and "Charged now:" in page and "It applies now." in page
    assert "There is no live session: the new speed applies at the next login." in page
    form = {"package_id": fast["id"], "expected_minor": expected}
    asked = await c.post(f"{path}/package", form, token_from=path)
    text = await asked.text()
    assert asked.status == 200 and "Change the package to Fast 80?" in text and "Charged now:" in text
    conn = await asyncpg.connect(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT package_id FROM customers WHERE id = $1",
                                   tree.customers["a1"]["id"]) != fast["id"]  # asking changed nothing
        wrong = await c.post(f"{path}/package", {**form, "expected_minor": expected + 1, "confirm": "yes"},
                             token_from=path)
        assert wrong.status == 303 and "package_id" in wrong.headers["Location"]
        assert await conn.fetchval("SELECT count(*) FROM bills WHERE kind = 'package_change'") == 0
        done = await c.post(f"{path}/package", {**form, "confirm": "yes"}, token_from=path)
        assert done.status == 303 and done.headers["Location"].startswith(path)
        row = await conn.fetchrow("SELECT c.package_id, b.total_minor FROM customers c JOIN bills b"
                                  " ON b.customer_id = c.id AND b.kind = 'package_change' WHERE c.id = $1",
                                  tree.customers["a1"]["id"])
        assert (row["package_id"], row["total_minor"]) == (fast["id"], expected)
        actions = [r[0] for r in await conn.fetch("SELECT action FROM audit_log WHERE object_id = $1"
                                                  " AND object_kind = 'customer' ORDER BY id", tree.customers["a1"]["id"])]
        assert actions[-2:] == ["customer.change_package", "customer.package_change_billed"]
    finally:
        await conn.close()
    profile = await (await c.get(path)).text()
    assert "Package change to Fast 80 billed by" in profile and "Charged" in profile


async def test_confirming_without_a_preview_figure_is_sent_back_to_the_preview(make_client, tree, fresh_db_url):
    fast = await _prepared(fresh_db_url, tree)
    c = await make_client("suba1")
    path = f"/customers/{tree.customers['a1']['id']}"
    response = await c.post(f"{path}/package", {"package_id": fast["id"], "confirm": "yes"}, token_from=path)
    assert response.status == 303 and response.headers["Location"].endswith("/package")


async def test_the_portal_setting_is_chosen_on_the_isp_page_and_audited(make_client, tree, fresh_db_url):
    c = await make_client("suba1")
    page = await (await c.get("/isp")).text()
    assert 'name="portal_package_change" value="request" checked' in page
    done = await c.post("/isp/portal-package-change", {"portal_package_change": "pay_now"}, token_from="/isp")
    assert done.status == 303
    bad = await c.post("/isp/portal-package-change", {"portal_package_change": "always"}, token_from="/isp")
    assert bad.status == 303
    assert "Choose what customers may do when they pick another package." in await (await c.get("/isp")).text()
    conn = await asyncpg.connect(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT portal_package_change FROM operators WHERE id = $1",
                                   tree.ops["sub_a1"]["id"]) == "pay_now"
        detail = await conn.fetchval("SELECT detail FROM audit_log WHERE object_kind = 'isp_info' ORDER BY id DESC"
                                     " LIMIT 1")
    finally:
        await conn.close()
    assert '"portal_package_change": ["request", "pay_now"]' in detail


async def test_a_change_for_the_next_period_is_previewed_as_such_and_shown_on_the_profile(make_client, tree,
                                                                                         fresh_db_url):
    fast = await _prepared(fresh_db_url, tree)
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await conn.execute("UPDATE billing_profiles SET change_billing = 'next_period' WHERE id = $1",
                           tree.customers["a1"]["billing_profile_id"])
    finally:
        await conn.close()
    c = await make_client("suba1")
    path = f"/customers/{tree.customers['a1']['id']}"
    page = await (await c.get(f"{path}/package?package_id={fast['id']}")).text()
    assert "It applies from the next period" in page and "The speed stays as it is" in page
    form = {"package_id": fast["id"], "expected_minor": _EXPECTED.search(page).group(1), "confirm": "yes"}
    done = await c.post(f"{path}/package", form, token_from=path)
    assert done.status == 303
    profile = await (await c.get(path)).text()
    assert 'id="next-package"' in profile and "Fast 80 (waiting for the next period)" in profile
    assert 'id="cancel-next-package"' in profile  # the staff who may change the package may cancel the change

    asked = await c.post(f"{path}/package/cancel", {}, token_from=path)
    text = await asked.text()
    assert asked.status == 200 and "Cancel the change to Fast 80?" in text and "Nothing is charged" in text
    figure = _EXPECTED.search(text).group(1)
    done = await c.post(f"{path}/package/cancel", {"expected_minor": figure, "confirm": "yes"}, token_from=path)
    assert done.status == 303 and done.headers["Location"] == path
    profile = await (await c.get(path)).text()
    assert 'id="next-package"' not in profile
    assert "The package change to Fast 80 waiting for the next period was cancelled by" in profile
    again = await c.post(f"{path}/package/cancel", {"expected_minor": figure, "confirm": "yes"}, token_from=path)
    assert again.status == 303  # nothing waits any more: sent back with the sentence, not a 500
    assert "nothing to cancel" in await (await c.get(path)).text()

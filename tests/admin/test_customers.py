"""Customers through the admin: add (with every validation), find, edit, status, package, price."""

import re

import asyncpg
import pytest

from tests import factories as f


@pytest.fixture
async def catalog(fresh_db_url, tree):
    """A package and a billing profile assigned to sub-operator A1, a zone of operator A, one of operator B."""
    conn = await asyncpg.connect(fresh_db_url)
    try:
        pkg = await f.package(conn, tree.ops["op_a"]["id"], name="Home 10", download_kbps=10000, upload_kbps=5000)
        fast = await f.package(conn, tree.ops["op_a"]["id"], name="Fast 50", download_kbps=50000, upload_kbps=25000)
        unassigned = await f.package(conn, tree.ops["op_a"]["id"], name="Not for A1")
        for p in (pkg, fast):
            await f.insert(conn, "package_assignments", {"operator_id": tree.ops["sub_a1"]["id"], "package_id": p["id"],
                                                         "wholesale_price_minor": 30000})
        profile = await f.billing_profile(conn, tree.ops["op_a"]["id"], name="Monthly A", billing_type="postpaid")
        await f.insert(conn, "billing_profile_assignments", {"operator_id": tree.ops["sub_a1"]["id"],
                                                             "billing_profile_id": profile["id"]})
        zone = await f.insert(conn, "zones", {"operator_id": tree.ops["op_a"]["id"], "name": "North"})
        foreign_zone = await f.insert(conn, "zones", {"operator_id": tree.ops["op_b"]["id"], "name": "Elsewhere"})
        return {"pkg": pkg, "fast": fast, "unassigned": unassigned, "profile": profile, "zone": zone,
                "foreign_zone": foreign_zone}
    finally:
        await conn.close()


def new_customer_form(catalog, **overrides):
    form = {"name": "Rahim Uddin", "mobile": "01712-345678", "username": "rahim01", "radius_password": "",
            "connection_type": "pppoe", "package_id": catalog["pkg"]["id"],
            "billing_profile_id": catalog["profile"]["id"], "zone_id": catalog["zone"]["id"]}
    form.update(overrides)
    return {k: str(v) for k, v in form.items()}


async def count_customers(url, username):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM customers WHERE username = $1", username)
    finally:
        await conn.close()


async def test_sub_operator_adds_a_customer_who_can_authenticate(make_client, catalog, fresh_db_url, tree):
    c = await make_client("suba1")
    response = await c.post("/customers/new", new_customer_form(catalog), token_from="/customers/new")
    assert response.status == 303, await response.text()
    profile = await c.get(response.headers["Location"])
    page = await profile.text()
    assert "Rahim Uddin" in page and "+8801712345678" in page
    conn = await asyncpg.connect(fresh_db_url)
    try:
        row = await conn.fetchrow("SELECT * FROM radius_policy WHERE username = 'rahim01'")  # what RADIUS loads
        customer = await conn.fetchrow("SELECT * FROM customers WHERE username = 'rahim01'")
        audit = await conn.fetchval("SELECT count(*) FROM audit_log WHERE object_kind = 'customer'"
                                    " AND object_id = $1 AND action = 'create'", customer["id"])
    finally:
        await conn.close()
    assert row is not None and row["status"] == "active" and len(row["password"]) >= 8  # generated
    assert customer["operator_id"] == tree.ops["sub_a1"]["id"]
    assert audit == 1
    assert row["password"] in page  # staff can read it out to the customer (under Login details)


@pytest.mark.parametrize(("overrides", "field", "text"), [
    ({"username": "cust-b"}, "username", "taken"),
    ({"mobile": "0171234"}, "mobile", "Bangladesh mobile number"),
    ({"mobile": "01212345678"}, "mobile", "11 digits"),
    ({"username": "bad name"}, "username", "letters, digits"),
    ({"connection_type": "static", "static_ip": ""}, "static_ip", "needs an address"),
    ({"package_id": "unassigned"}, "package_id", "assign it to this sub-operator"),
    ({"zone_id": "foreign_zone"}, "zone_id", "Choose one of your zones"),
    ({"custom_price": "12.345"}, "custom_price", "at most 2 decimals"),
    ({"name": ""}, "name", "Enter the customer&#39;s name"),
    ({"radius_password": "pässwörd"}, "radius_password", "printable ASCII"),
    ({"radius_password": "x" * 129}, "radius_password", "at most 128 characters"),
])
async def test_every_bad_field_gets_a_message_and_nothing_is_saved(make_client, catalog, fresh_db_url, overrides,
                                                                   field, text):
    values = {k: (catalog[v]["id"] if v in ("unassigned", "foreign_zone") else v) for k, v in overrides.items()}
    c = await make_client("suba1")
    response = await c.post("/customers/new", new_customer_form(catalog, **values), token_from="/customers/new")
    page = await response.text()
    assert response.status == 422
    assert "nothing was saved" in page
    assert text in page
    username = values.get("username", "rahim01")
    if username != "cust-b":
        assert await count_customers(fresh_db_url, username) == 0


async def test_static_ip_used_by_someone_else_is_refused(make_client, catalog, fresh_db_url):
    c = await make_client("suba1")
    first = new_customer_form(catalog, username="static1", connection_type="static", static_ip="10.50.0.9")
    assert (await c.post("/customers/new", first, token_from="/customers/new")).status == 303
    second = new_customer_form(catalog, username="static2", connection_type="static", static_ip="10.50.0.9")
    response = await c.post("/customers/new", second, token_from="/customers/new")
    assert response.status == 422 and "already uses this address" in await response.text()


async def test_search_by_mobile_name_username_and_id_stays_in_scope(make_client, catalog, tree):
    c = await make_client("suba1")
    await c.post("/customers/new", new_customer_form(catalog), token_from="/customers/new")
    for q in ("+880 1712-345678", "01712345678", "Rahim", "rahim0", str(tree.customers["a1"]["id"])):
        page = await (await c.get(f"/customers?q={q}")).text()
        assert ("rahim01" in page) or (q == str(tree.customers["a1"]["id"]) and "cust-a1" in page), q
    everything = await (await c.get("/customers")).text()
    assert "cust-a2" not in everything and "cust-b" not in everything
    assert "cust-b" not in await (await c.get(f"/customers?q={tree.customers['b']['id']}")).text()
    filtered = await (await c.get("/customers?status=suspended")).text()
    assert "rahim01" not in filtered


async def test_foreign_customer_pages_are_404(make_client, tree):
    c = await make_client("suba1")
    foreign = tree.customers["a2"]["id"]
    for path in (f"/customers/{foreign}", f"/customers/{foreign}/edit", f"/customers/{foreign}/package"):
        assert (await c.get(path)).status == 404, path
    response = await c.post(f"/customers/{foreign}/status", {"action": "suspend", "reason": "x"},
                            token_from="/customers")
    assert response.status == 404


async def test_suspend_activate_change_package_and_price(make_client, catalog, fresh_db_url):
    c = await make_client("suba1")
    created = await c.post("/customers/new", new_customer_form(catalog), token_from="/customers/new")
    path = created.headers["Location"]
    no_reason = await c.post(f"{path}/status", {"action": "suspend"}, token_from=path)
    assert no_reason.status == 303
    assert (await c.post(f"{path}/status", {"action": "suspend", "reason": "unpaid"}, token_from=path)).status == 303
    preview = await c.get(f"{path}/package?package_id={catalog['fast']['id']}")
    page = await preview.text()
    assert "25M/50M" in page
    form = {"package_id": catalog["fast"]["id"], "expected_minor": re.search(r'name="expected_minor" value="(-?\d+)"',
                                                                              page).group(1)}
    asked = await c.post(f"{path}/package", form, token_from=path)
    assert asked.status == 200 and "Yes, change the package" in await asked.text()
    changed = await c.post(f"{path}/package", {**form, "confirm": "yes"}, token_from=path)
    assert changed.status == 303
    assert (await c.post(f"{path}/price", {"custom_price": "450.50"}, token_from=path)).status == 303
    assert (await c.post(f"{path}/status", {"action": "activate"}, token_from=path)).status == 303
    conn = await asyncpg.connect(fresh_db_url)
    try:
        row = await conn.fetchrow("SELECT * FROM customers WHERE username = 'rahim01'")
        actions = [r[0] for r in await conn.fetch(
            "SELECT action FROM audit_log WHERE object_kind = 'customer' AND object_id = $1 ORDER BY id", row["id"])]
    finally:
        await conn.close()
    assert row["status"] == "active" and row["package_id"] == catalog["fast"]["id"]
    assert row["custom_price_minor"] == 45050
    assert actions[0] == "create" and "customer.suspend" in actions and "customer.activate" in actions
    assert "customer.change_package" in actions and "customer.set_custom_price" in actions


async def test_edit_records_old_and_new_values(make_client, catalog, fresh_db_url):
    c = await make_client("suba1")
    created = await c.post("/customers/new", new_customer_form(catalog), token_from="/customers/new")
    path = created.headers["Location"]
    form = new_customer_form(catalog, name="Rahim U.", mobile="01812345678", radius_password="newpass123")
    form.pop("package_id")
    response = await c.post(f"{path}/edit", form, token_from=f"{path}/edit")
    assert response.status == 303, await response.text()
    conn = await asyncpg.connect(fresh_db_url)
    try:
        detail = await conn.fetchval("SELECT detail FROM audit_log WHERE action = 'edit' AND object_kind = 'customer'")
    finally:
        await conn.close()
    assert '"name": ["Rahim Uddin", "Rahim U."]' in detail
    assert '"mobile": ["+8801712345678", "+8801812345678"]' in detail
    assert "newpass123" not in detail


async def test_search_lists_the_exact_id_then_exact_username_then_prefix_then_the_rest(make_client, catalog,
                                                                                          fresh_db_url, tree):
    """Typing 706 finds customer 706 first, not 2706: then username "706", then "706x...", then the others."""
    conn = await asyncpg.connect(fresh_db_url)
    try:
        for customer_id, username in ((706, "r-706"), (1706, "706"), (1707, "706x"), (2706, "r-2706")):
            await conn.execute("SELECT setval(pg_get_serial_sequence('customers', 'id'), $1)", customer_id - 1)
            await f.customer(conn, tree.ops["sub_a1"]["id"], catalog["pkg"]["id"], catalog["profile"]["id"],
                             username=username, name=f"Person {customer_id}", mobile=None)
    finally:
        await conn.close()
    c = await make_client("suba1")
    page = await (await c.get("/customers?q=706")).text()
    positions = [page.find(f"<small>{username}</small>") for username in ("r-706", "706", "706x", "r-2706")]
    assert -1 not in positions, positions
    assert positions == sorted(positions), positions


async def test_the_timeline_reads_as_sentences_not_json(make_client, catalog):
    c = await make_client("suba1")
    created = await c.post("/customers/new", new_customer_form(catalog), token_from="/customers/new")
    path = created.headers["Location"]
    await c.post(f"{path}/status", {"action": "suspend", "reason": "unpaid November bill"}, token_from=path)
    await c.post(f"{path}/price", {"custom_price": "450.50"}, token_from=path)
    page = await (await c.get(path)).text()
    timeline = page[page.index("<h2>Timeline</h2>"):]
    assert "Suspended by suba1: unpaid November bill." in timeline
    assert "Created by suba1 with username rahim01." in timeline
    assert "Custom price set to" in timeline and "450.50 by suba1." in timeline
    assert "{" not in timeline and "&#34;" not in timeline and "customer.suspend" not in timeline

"""IP pools through the real admin on real Postgres: usage, overlaps refused, scope, and the next free address
for a static customer (also under concurrent saves)."""

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from radbill.db.pool import set_scope
from radbill.errors import ValidationError
from radbill.services import customer_records
from radbill.tenancy import Scope
from tests import factories as f
from tests.support.db import app_url


async def _db(url, query, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def _add_pool(c, **form):
    return await c.post("/ip-pools/new", {"name": "pppoe-a", "range": "10.9.0.0/29", **form},
                        token_from="/ip-pools/new")


async def test_pool_shows_usage_from_open_sessions_and_static_customers(make_client, fresh_db_url, tree):
    c = await make_client("opa")
    response = await _add_pool(c)
    assert response.status == 303, await response.text()
    [pool] = await _db(fresh_db_url, "SELECT host(start_ip) AS s, host(end_ip) AS e FROM ip_pools")
    assert (pool["s"], pool["e"]) == ("10.9.0.1", "10.9.0.6")  # a /29's usable hosts
    conn = await asyncpg.connect(fresh_db_url)
    try:
        now = datetime.now(UTC)
        for n, (ip, stop) in enumerate((("10.9.0.2", None), ("10.9.0.3", now), ("10.9.9.9", None))):
            await f.insert(conn, "radacct", {"acctsessionid": f"s{n}", "acctuniqueid": f"u{n}", "username": "cust-a1",
                                             "nasipaddress": "10.0.1.1", "acctstarttime": now,
                                             "acctstoptime": stop, "framedipaddress": ip})
        # a static customer of op_b's inside op_a's range still takes the address (static IPs are system-wide)
        await conn.execute("UPDATE customers SET connection_type = 'static', static_ip = '10.9.0.5'"
                           " WHERE username = 'cust-b'")
    finally:
        await conn.close()
    page = await (await c.get("/ip-pools")).text()
    assert "pppoe-a" in page and "10.9.0.1–10.9.0.6" in page
    assert "2 of 6" in page  # the open session and the static customer; the closed session and outsider not


@pytest.mark.parametrize(("form", "field", "text"), [
    ({"range": "10.9.0.4-10.9.0.20", "name": "other"}, "range", "Overlaps pool pppoe-a"),
    ({"range": "10.8.0.1-10.8.0.9"}, "name", "already have a pool with this name"),
    ({"range": "10.9.1.9-10.9.1.1", "name": "x"}, "range", "must not come after"),
    ({"range": "not an address", "name": "x"}, "range", "Enter a range like"),
    ({"range": "10.0.0.0/8", "name": "x"}, "range", "at most"),
    ({"range": "10.7.0.1", "name": "bad name!"}, "name", "letters, digits"),
])
async def test_bad_or_overlapping_pools_are_refused_with_a_sentence(make_client, fresh_db_url, form, field, text):
    c = await make_client("opa")
    assert (await _add_pool(c)).status == 303
    response = await _add_pool(c, **form)
    assert response.status == 422
    assert text in await response.text()
    assert len(await _db(fresh_db_url, "SELECT 1 FROM ip_pools")) == 1


async def test_another_operator_may_reuse_the_range_but_not_see_or_edit_the_pool(make_client, fresh_db_url):
    a, b = await make_client("opa"), await make_client("opb")
    assert (await _add_pool(a)).status == 303
    [pool] = await _db(fresh_db_url, "SELECT id FROM ip_pools")
    assert (await _add_pool(b)).status == 303  # overlaps are per operator
    assert "10.9.0.1" in await (await b.get("/ip-pools")).text()
    assert (await b.get(f"/ip-pools/{pool['id']}/edit")).status == 404
    response = await b.post(f"/ip-pools/{pool['id']}/delete", token_from="/ip-pools")
    assert response.status == 404
    assert len(await _db(fresh_db_url, "SELECT 1 FROM ip_pools")) == 2
    sub = await make_client("suba1")
    assert (await sub.get("/ip-pools")).status == 403


async def test_edit_and_delete_are_audited(make_client, fresh_db_url):
    c = await make_client("opa")
    await _add_pool(c)
    [pool] = await _db(fresh_db_url, "SELECT id FROM ip_pools")
    response = await c.post(f"/ip-pools/{pool['id']}/edit", {"name": "pppoe-a", "range": "10.9.0.10-10.9.0.20"},
                            token_from=f"/ip-pools/{pool['id']}/edit")
    assert response.status == 303
    assert (await c.post(f"/ip-pools/{pool['id']}/delete", token_from="/ip-pools")).status == 303
    actions = [r["action"] for r in await _db(fresh_db_url, "SELECT action FROM audit_log WHERE object_kind ="
                                                            " 'ip_pool' ORDER BY id")]
    assert actions == ["ip_pool.create", "ip_pool.edit", "ip_pool.delete"]


@pytest.fixture
async def sellable(fresh_db_url, tree):
    """op_a's package and billing profile offered to its reseller sub_a1."""
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await f.insert(conn, "package_assignments", {"operator_id": tree.ops["sub_a1"]["id"],
                                                     "package_id": tree.customers["a1"]["package_id"],
                                                     "wholesale_price_minor": 1})
        await f.insert(conn, "billing_profile_assignments", {"operator_id": tree.ops["sub_a1"]["id"],
                                                             "billing_profile_id": tree.customers["a1"]["billing_profile_id"]})
    finally:
        await conn.close()


def _static_form(tree, pool_id, username):
    return {"name": username, "username": username, "connection_type": "static", "static_ip": "",
            "static_pool": str(pool_id), "package_id": str(tree.customers["a1"]["package_id"]),
            "billing_profile_id": str(tree.customers["a1"]["billing_profile_id"])}


async def test_a_reseller_customer_gets_the_next_free_address_of_its_operators_pool(make_client, fresh_db_url, tree,
                                                                                     sellable):
    await _add_pool(await make_client("opa"), range="10.9.0.1-10.9.0.3")
    [pool] = await _db(fresh_db_url, "SELECT id FROM ip_pools")
    await _db(fresh_db_url, "UPDATE customers SET connection_type = 'static', static_ip = '10.9.0.1'"
                            " WHERE username = 'cust-b'")  # taken by another tenant's customer
    sub = await make_client("suba1")
    assert "pppoe-a" in await (await sub.get("/customers/new")).text()
    for username, expected in (("st-1", "10.9.0.2"), ("st-2", "10.9.0.3")):
        response = await sub.post("/customers/new", _static_form(tree, pool["id"], username),
                                  token_from="/customers/new")
        assert response.status == 303, await response.text()
        [row] = await _db(fresh_db_url, "SELECT host(static_ip) AS ip FROM customers WHERE username = $1", username)
        assert row["ip"] == expected
    response = await sub.post("/customers/new", _static_form(tree, pool["id"], "st-3"), token_from="/customers/new")
    assert response.status == 422
    assert "has no free address left" in await response.text()


async def test_two_saves_at_once_never_get_the_same_address(make_client, fresh_db_url, tree, sellable):
    await _add_pool(await make_client("opa"), range="10.9.0.1-10.9.0.50")
    [pool] = await _db(fresh_db_url, "SELECT id FROM ip_pools")
    op = tree.ops["sub_a1"]
    scope = Scope(tree.accounts["suba1"]["id"], op["id"], op["path"], "sub_operator")
    conns = [await asyncpg.connect(app_url(fresh_db_url)) for _ in range(8)]
    try:
        for conn in conns:
            await set_scope(conn, op["path"])
        results = await asyncio.gather(*(
            customer_records.create_customer(conn, scope, _static_form(tree, pool["id"], f"race-{n}"), bill=False)
            for n, conn in enumerate(conns)), return_exceptions=True)
    finally:
        for conn in conns:
            await conn.close()
    assert not [r for r in results if isinstance(r, BaseException)], results
    addresses = [str(r["static_ip"]) for r in results]
    assert sorted(addresses, key=lambda a: int(a.split(".")[-1].split("/")[0])) == [
        f"10.9.0.{n}" for n in range(1, 9)]


async def test_a_pool_the_caller_cannot_read_gives_no_address(fresh_db_url, tree, sellable):
    conn = await asyncpg.connect(fresh_db_url)
    pool = await f.insert(conn, "ip_pools", {"operator_id": tree.ops["op_b"]["id"], "name": "b-pool",
                                             "start_ip": "10.5.0.1", "end_ip": "10.5.0.9"})
    await conn.close()
    op = tree.ops["sub_a1"]
    app = await asyncpg.connect(app_url(fresh_db_url))
    try:
        await set_scope(app, op["path"])
        scope = Scope(tree.accounts["suba1"]["id"], op["id"], op["path"], "sub_operator")
        with pytest.raises(ValidationError) as exc:
            await customer_records.create_customer(app, scope, _static_form(tree, pool["id"], "sneaky"), bill=False)
        assert "static_pool" in exc.value.fields
    finally:
        await app.close()


async def test_a_package_pool_change_asks_first_saying_how_many_sessions(make_client, fresh_db_url, tree):
    c = await make_client("opa")
    await _add_pool(c, name="fresh-pool")
    package_id = tree.customers["a1"]["package_id"]
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await f.insert(conn, "radacct", {"acctsessionid": "s1", "acctuniqueid": "u1", "username": "cust-a1",
                                         "nasipaddress": "10.0.1.1", "acctstarttime": datetime.now(UTC)})
    finally:
        await conn.close()
    page = await (await c.get(f"/packages/{package_id}/edit")).text()
    assert '<option value="fresh-pool">' in page  # the defined pools are offered
    form = {"name": "Home A", "download": "10M", "upload": "5M", "price": "500", "validity_days": "30",
            "ip_pool": "fresh-pool", "connection_types": ["pppoe", "hotspot", "static", "other"]}
    asked = await c.post(f"/packages/{package_id}/edit", form, token_from=f"/packages/{package_id}/edit")
    text = await asked.text()
    assert asked.status == 200 and "1 open session of this package" in text
    assert (await _db(fresh_db_url, "SELECT ip_pool FROM packages WHERE id = $1", package_id))[0][0] == "pool-a1"
    done = await c.post(f"/packages/{package_id}/edit", {**form, "confirm": "yes"},
                        token_from=f"/packages/{package_id}/edit")
    assert done.status == 303, await done.text()
    assert (await _db(fresh_db_url, "SELECT ip_pool FROM packages WHERE id = $1", package_id))[0][0] == "fresh-pool"
    [queued] = await _db(fresh_db_url, "SELECT kind, payload->>'reason' AS reason FROM outbox")
    assert (queued["kind"], queued["reason"]) == ("disconnect", "pool_change")


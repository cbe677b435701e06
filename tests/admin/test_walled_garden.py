"""The walled-garden settings page: validated, saved for the caller's own operator, with the MikroTik
configuration generated from what was saved."""

from __future__ import annotations

import html

import asyncpg


async def test_save_and_see_the_router_configuration(make_client, tree, fresh_db_url):
    c = await make_client("opa")
    page = await (await c.get("/walled-garden")).text()
    assert "Set a router pool name above" in page

    refused = await c.post("/walled-garden", {"pool": "walled garden", "rate_limit": "fast", "session_timeout": "5",
                                              "network": ""})
    assert refused.status == 422
    text = html.unescape(await refused.text())
    assert "Write the speed as download/upload" in text and 'value="walled garden"' in text

    saved = await c.post("/walled-garden", {"pool": "walled", "rate_limit": "256k/256k", "session_timeout": "300",
                                            "network": "10.99.0.0/24"})
    assert saved.status == 303
    page = html.unescape(await (await c.get("/walled-garden")).text())
    assert "add name=walled ranges=10.99.0.1-10.99.0.254" in page
    assert "action-data=http://127.0.0.1:8081/" in page  # the default RADBILL_PORTAL_URL

    conn = await asyncpg.connect(fresh_db_url)
    try:
        row = await conn.fetchrow("SELECT suspended_pool, suspended_network::text AS net FROM operators WHERE id = $1",
                                  tree.ops["op_a"]["id"])
        assert tuple(row) == ("walled", "10.99.0.0/24")
        assert await conn.fetchval("SELECT suspended_pool FROM operators WHERE id = $1", tree.ops["op_b"]["id"]) is None
    finally:
        await conn.close()

    # the reseller below sees where its customers' garden comes from
    sub = await make_client("suba1")
    assert "Operator A (pool walled)" in html.unescape(await (await sub.get("/walled-garden")).text())
    manager = await make_client("mgr_all")
    assert (await manager.get("/walled-garden")).status == 403

"""Fair usage in the admin: top-up packs, the usage panel with its per-day chart, buying a top-up (confirmed)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from radbill import clock


async def capped(fresh_db_url, tree):
    """Customer a1's package gets a 10 GB cap; 4 GB used today; 200.00 in the advance wallet."""
    conn = await asyncpg.connect(fresh_db_url)
    try:
        c = tree.customers["a1"]
        await conn.execute("UPDATE packages SET data_cap_bytes = 10000000000, throttled_download_kbps = 1000,"
                           " throttled_upload_kbps = 512 WHERE id = $1", c["package_id"])
        now = clock.now()
        await conn.execute(
            "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime,"
            " acctinputoctets, acctoutputoctets) VALUES ('s1', 's1', $1, '10.0.1.1', $2, $3, 1000000000, 3000000000)",
            c["username"], now - timedelta(minutes=30), now - timedelta(minutes=10))
        return c
    finally:
        await conn.close()


async def test_packs_usage_panel_and_a_confirmed_top_up(make_client, fresh_db_url, tree):
    c = await capped(fresh_db_url, tree)
    opa = await make_client("opa")
    response = await opa.post("/topup-packs", {"name": "", "size_gb": "x", "price": "150"}, token_from="/topup-packs")
    assert response.status == 422 and "Give the pack a name" in await response.text()
    response = await opa.post("/topup-packs", {"name": "5 GB extra", "size_gb": "5", "price": "150"},
                              token_from="/topup-packs")
    assert response.status == 303
    assert "5 GB extra" in await (await opa.get("/topup-packs")).text()

    page = await (await opa.get(f"/customers/{c['id']}")).text()
    assert "4 GB used from" in page and "Next slow-down after 10 GB" in page and "<rect" in page
    pack_id = page.split('<select name="pack_id">')[1].split('value="')[1].split('"')[0]

    # the first POST only asks; the wallet is empty, so the confirmed one says what to do and writes nothing
    response = await opa.post(f"/customers/{c['id']}/topup", {"pack_id": pack_id}, token_from=f"/customers/{c['id']}")
    text = await response.text()
    assert response.status == 200 and "taken from the customer&#39;s advance balance" in text
    response = await opa.post(f"/customers/{c['id']}/topup", {"pack_id": pack_id, "confirm": "yes"},
                              token_from=f"/customers/{c['id']}")
    assert response.status == 303
    assert "Record a payment first" in await (await opa.get(f"/customers/{c['id']}")).text()

    response = await opa.post(f"/customers/{c['id']}/collect", {"kind": "advance", "amount": "200",
                                                                "idempotency_key": "k" * 32},
                              token_from=f"/customers/{c['id']}")
    assert response.status == 303, await response.text()
    response = await opa.post(f"/customers/{c['id']}/topup", {"pack_id": pack_id, "confirm": "yes"},
                              token_from=f"/customers/{c['id']}")
    assert response.status == 303
    page = await (await opa.get(f"/customers/{c['id']}")).text()
    assert "Topped up this period: 5 GB." in page and "Next slow-down after 15 GB" in page
    assert "Data top-up 5 GB extra bought by" in page  # the timeline

    # a sibling reseller's staff cannot buy for a1 (404, like a missing customer)
    a2 = await make_client("suba2")
    response = await a2.post(f"/customers/{c['id']}/topup", {"pack_id": pack_id, "confirm": "yes"},
                             token_from="/customers")
    assert response.status == 404
    conn = await asyncpg.connect(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM data_topups WHERE customer_id = $1", c["id"]) == 1
    finally:
        await conn.close()

"""A bulk import and a single save taking addresses from the same pool at once never hand one address out twice:
both take the pool's advisory lock (radbill_next_free_ips), and whoever comes second waits for the first to commit
and then sees its addresses."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from radbill.db.pool import set_scope
from radbill.errors import ValidationError
from radbill.services import customer_bulk, customer_records
from radbill.tenancy import Scope
from tests import factories as f


def form(catalog, pool_id: int, username: str) -> dict:
    return {"name": username.title(), "username": username, "radius_password": "secret-1", "connection_type": "static",
            "static_pool": str(pool_id), "package_id": str(catalog["pkg"]["id"]),
            "billing_profile_id": str(catalog["profile"]["id"]), "zone_id": str(catalog["north"]["id"])}


async def holding_lock(watcher, pid: int) -> None:
    """Until backend `pid` holds an advisory lock (it has taken its addresses)."""
    for _ in range(400):
        if await watcher.fetchval("SELECT exists(SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = $1"
                                  " AND granted)", pid):
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the first save never took the pool's lock")


async def waiting_for_lock(watcher, pid: int) -> None:
    """Until backend `pid` waits for a lock (the pool's advisory lock): proof that it did not go ahead."""
    for _ in range(400):
        if await watcher.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid):
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the second save never waited for the pool's lock")


@pytest.mark.parametrize("first", ["bulk", "single"])
async def test_a_bulk_import_and_a_single_save_never_share_an_address(fresh_db_url, tree, catalog, first):
    op_a, sub = tree.ops["op_a"], tree.ops["sub_a1"]
    conns = [await asyncpg.connect(fresh_db_url) for _ in range(4)]
    bulk, single, watcher, leader_watcher = conns  # one each: the leader polls while the test's body does
    try:
        pool = await f.insert(watcher, "ip_pools", {"operator_id": op_a["id"], "name": "Shared",
                                                    "start_ip": "10.50.0.1", "end_ip": "10.50.0.10"})
        path = await watcher.fetchval("SELECT path::text FROM operators WHERE id = $1", sub["id"])
        scope = Scope(account_id=tree.accounts["suba1"]["id"], operator_id=sub["id"], path=path, role="sub_operator")
        for conn in (bulk, single):
            await set_scope(conn, path)
        forms = [form(catalog, pool["id"], f"bulk{n}") for n in range(3)]

        async def run_bulk() -> list:
            async with bulk.transaction():  # the import's own transaction: the lock lasts until it commits
                results = await customer_bulk.create_customers(bulk, scope, forms, bill=False)
                if first == "bulk":
                    await waiting_for_lock(leader_watcher, single.get_server_pid())
            return results

        async def run_single():
            async with single.transaction():
                created = await customer_records.create_customer(single, scope, form(catalog, pool["id"], "one"),
                                                                 bill=False)
                if first == "single":
                    await waiting_for_lock(leader_watcher, bulk.get_server_pid())
            return created

        runs = (run_bulk, run_single) if first == "bulk" else (run_single, run_bulk)
        leader = asyncio.create_task(runs[0]())
        await holding_lock(watcher, (bulk if first == "bulk" else single).get_server_pid())
        follower = await runs[1]()
        outcome = await leader
        bulk_rows, single_row = (outcome, follower) if first == "bulk" else (follower, outcome)
        assert not any(isinstance(r, ValidationError) for r in bulk_rows), bulk_rows
        addresses = [str(r["static_ip"]) for r in bulk_rows] + [str(single_row["static_ip"])]
        expected = (["10.50.0.1", "10.50.0.2", "10.50.0.3", "10.50.0.4"] if first == "bulk"
                    else ["10.50.0.2", "10.50.0.3", "10.50.0.4", "10.50.0.1"])
        assert addresses == expected
    finally:
        for conn in conns:
            await conn.close()

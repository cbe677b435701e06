"""radbill_next_free_ips (the one rule for "the next free addresses of a pool") against the plain definition: every
address of the range in order, minus customers' static addresses and open sessions' addresses, the first N."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime

import asyncpg

from radbill.db.pool import SYSTEM, set_scope
from radbill.services import ip_pools
from tests import factories as f


async def test_the_gap_search_gives_the_lowest_free_addresses_in_order(fresh_db_url, tree):
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await set_scope(conn, SYSTEM)
        op = tree.ops["op_a"]
        pkg = await f.package(conn, op["id"], name="Static")
        profile = await f.billing_profile(conn, op["id"], name="Monthly")
        rng = random.Random(63)
        for case in range(6):
            first = ipaddress.IPv4Address(f"10.{60 + case}.0.0") + rng.randrange(0, 3)
            size = rng.choice([1, 2, 5, 40, 300])
            pool = await f.insert(conn, "ip_pools", {"operator_id": op["id"], "name": f"p{case}",
                                                    "start_ip": str(first), "end_ip": str(first + size - 1)})
            # used: inside the range (ends included) and just outside it, by customers and by open sessions
            candidates = [first + i for i in range(-2, size + 2) if int(first) + i >= 0]
            used = rng.sample(candidates, rng.randrange(0, len(candidates) + 1))
            closed = set(used[3::6])  # a finished session leaves its address free
            for n, address in enumerate(used):
                if n % 3:
                    await f.insert(conn, "customers", {
                        "operator_id": op["id"], "username": f"c{case}-{n}", "radius_password": "x", "name": "C",
                        "connection_type": "static", "static_ip": str(address), "package_id": pkg["id"],
                        "billing_profile_id": profile["id"]})
                else:
                    await f.insert(conn, "radacct", {"acctsessionid": f"s{case}-{n}", "acctuniqueid": f"u{case}-{n}",
                                                     "username": "cust-a1", "nasipaddress": "10.0.1.1",
                                                     "framedipaddress": str(address),
                                                     "acctstoptime": datetime.now(UTC) if address in closed else None})
            free = [str(first + i) for i in range(size) if first + i not in used or first + i in closed]
            async with conn.transaction():
                for wanted in (1, 2, 7, size + 3):
                    assert await ip_pools.next_free_addresses(conn, pool["id"], wanted) == free[:wanted], (case, wanted)
    finally:
        await conn.close()

"""Import tests: the admin app and ISP tree (tests/fixtures/admin.py), plus a catalog sub-operator A1 may sell
from. Uploading and waiting are in tests/support/imports.py."""

from __future__ import annotations

import asyncpg
import pytest

from tests import factories as f


@pytest.fixture
async def catalog(fresh_db_url, tree):
    """Packages Home 10 / Fast 50 (operator A's, assigned to A1), a postpaid profile, zones North and South."""
    conn = await asyncpg.connect(fresh_db_url)
    try:
        pkg = await f.package(conn, tree.ops["op_a"]["id"], name="Home 10", download_kbps=10000, upload_kbps=5000)
        fast = await f.package(conn, tree.ops["op_a"]["id"], name="Fast 50", download_kbps=50000, upload_kbps=25000)
        for p in (pkg, fast):
            await f.insert(conn, "package_assignments", {"operator_id": tree.ops["sub_a1"]["id"], "package_id": p["id"],
                                                         "wholesale_price_minor": 30000})
        profile = await f.billing_profile(conn, tree.ops["op_a"]["id"], name="Monthly A", billing_type="postpaid")
        await f.insert(conn, "billing_profile_assignments", {"operator_id": tree.ops["sub_a1"]["id"],
                                                             "billing_profile_id": profile["id"]})
        north = await f.insert(conn, "zones", {"operator_id": tree.ops["op_a"]["id"], "name": "North"})
        south = await f.insert(conn, "zones", {"operator_id": tree.ops["op_a"]["id"], "name": "South"})
        return {"pkg": pkg, "fast": fast, "profile": profile, "north": north, "south": south}
    finally:
        await conn.close()

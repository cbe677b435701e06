"""Import tests: the admin app and ISP tree of tests/admin, plus a catalog sub-operator A1 may sell from."""

from __future__ import annotations

import asyncio
import csv
import io

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


def csv_bytes(rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode(encoding)


async def upload(client, data: bytes, filename: str = "customers.csv"):
    """POST a file as the browser's multipart form does; returns the response (303 to the mapping page)."""
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("csrf_token", await client.csrf("/customers/import"))
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return await client.client.post("/customers/import", data=form, headers={"Origin": client.origin},
                                    allow_redirects=False)


async def wait_for_import(url: str, batch_id: int, seconds: float = 60) -> asyncpg.Record:
    conn = await asyncpg.connect(url)
    try:
        for _ in range(int(seconds * 20)):
            row = await conn.fetchrow("SELECT * FROM import_batches WHERE id = $1", batch_id)
            if row["status"] != "importing":
                return row
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError(f"import {batch_id} still running after {seconds} s")


async def fetch(url: str, query: str, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()

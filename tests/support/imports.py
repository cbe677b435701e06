"""Helpers of the import tests: a CSV file's bytes, its upload as the browser sends it, waiting for the import."""

from __future__ import annotations

import asyncio
import csv
import io

import asyncpg


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

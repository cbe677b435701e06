"""Admin ticket pages over HTTP: open for a customer with a photo, reply (SMS queued), assign, close, the list's
filters, the dashboard tile, the photo served with its sniffed type, and scope (a sibling's ticket is a 404)."""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
import zlib

import aiohttp
import asyncpg
import pytest

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(13) + zlib.compress(b"photo")


@pytest.fixture
def admin_config(admin_config, tmp_path):
    """The conftest's config with uploads under the test's own directory (never the project's var/)."""
    return dataclasses.replace(admin_config, var_dir=tmp_path)


async def post_multipart(c, path: str, fields: dict, photo: tuple[bytes, str] | None = None):
    form = aiohttp.FormData()
    form.add_field("csrf_token", await c.csrf("/"))
    for key, value in fields.items():
        form.add_field(key, value)
    if photo:
        form.add_field("photo", photo[0], filename="photo.png", content_type=photo[1])
    return await c.client.post(path, data=form, headers={"Origin": c.origin}, allow_redirects=False)


async def test_open_reply_assign_close_through_the_pages(make_client, tree, fresh_db_url, tmp_path):
    c = await make_client("suba1")
    customer = tree.customers["a1"]
    response = await post_multipart(c, f"/customers/{customer['id']}/tickets/new",
                                    {"category": "no_internet", "subject": "Red LOS light", "text": "Since noon"},
                                    (PNG, "image/jpeg"))  # the browser's claim is ignored: the bytes say PNG
    assert response.status == 303, await response.text()
    ticket_path = response.headers["Location"]
    ticket_id = int(ticket_path.rsplit("/", 1)[1])

    page = await (await c.get(ticket_path)).text()
    assert "Red LOS light" in page and "Since noon" in page
    photo_url = re.search(r'src="(/tickets/photos/\d+)"', page).group(1)
    photo = await c.get(photo_url)
    assert photo.status == 200 and photo.headers["Content-Type"] == "image/png"
    assert photo.headers["X-Content-Type-Options"] == "nosniff" and await photo.read() == PNG
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == [hashlib.sha256(PNG).hexdigest()]

    response = await post_multipart(c, f"/tickets/{ticket_id}/reply", {"text": "Technician on the way."})
    assert response.status == 303
    page = await (await c.get(ticket_path)).text()
    assert "Technician on the way." in page and "Waiting for the customer" in page

    response = await c.post(f"/tickets/{ticket_id}/assign", {"assigned_to": str(tree.accounts["suba1"]["id"])})
    assert response.status == 303
    mine = await (await c.get("/tickets?mine=1")).text()
    assert f"/tickets/{ticket_id}" in mine
    assert f"/tickets/{ticket_id}" not in await (await c.get("/tickets?status=closed")).text()

    response = await c.post(f"/tickets/{ticket_id}/status", {"action": "close"})
    assert response.status == 303
    assert f"/tickets/{ticket_id}" in await (await c.get("/tickets?status=closed")).text()

    conn = await asyncpg.connect(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE payload->>'event' = 'ticket_reply'"
                                   " AND (payload->>'ticket_id')::bigint = $1", ticket_id) == 1
        assert await conn.fetchval("SELECT status FROM tickets WHERE id = $1", ticket_id) == "closed"
    finally:
        await conn.close()

    # the sibling reseller: the ticket, its photo and its forms are all "not found"
    other = await make_client("suba2")
    assert (await other.get(ticket_path)).status == 404
    assert (await other.get(photo_url)).status == 404
    assert (await other.post(f"/tickets/{ticket_id}/reply", {"text": "hi"})).status == 404
    assert f"/tickets/{ticket_id}" not in await (await other.get("/tickets")).text()


async def test_a_wrong_photo_type_is_refused_with_a_sentence_and_nothing_is_stored(make_client, tree, fresh_db_url,
                                                                                     tmp_path):
    c = await make_client("opa")
    customer = tree.customers["a2"]
    response = await post_multipart(c, f"/customers/{customer['id']}/tickets/new",
                                    {"category": "slow", "subject": "Slow", "text": "At night"},
                                    (b"GIF89a" + bytes(40), "image/png"))
    assert response.status == 422
    assert "Only JPEG, PNG or WebP photos" in await response.text()
    conn = await asyncpg.connect(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM tickets") == 0
    finally:
        await conn.close()
    assert not (tmp_path / "uploads").exists()


async def test_the_dashboard_tile_and_the_customer_page_lead_to_tickets(make_client, tree):
    c = await make_client("opa")
    customer = tree.customers["a1"]
    for n in range(2):
        response = await c.post(f"/customers/{customer['id']}/tickets/new",
                                {"category": "billing", "subject": f"Bill {n}", "text": "Why?"})
        assert response.status == 303
    dashboard = await (await c.get("/")).text()
    assert re.search(r'href="/tickets\?status=open"><b>2</b>', dashboard)
    profile = await (await c.get(f"/customers/{customer['id']}")).text()
    assert f'href="/tickets?customer_id={customer["id"]}"' in profile
    assert "Ticket opened by opa: Bill 1." in html.unescape(profile)  # on the customer's timeline
    listed = await (await c.get(f"/tickets?customer_id={customer['id']}")).text()
    assert listed.count('href="/tickets/') == 2
    # a form without the CSRF token changes nothing
    refused = await c.post(f"/customers/{customer['id']}/tickets/new",
                           {"category": "billing", "subject": "x", "text": "x"}, token="forged")
    assert refused.status == 403

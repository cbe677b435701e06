"""The group admin's System page (health checks, backups) and the dashboard's last-backup tile; nobody else sees
either (the page answers 403 like any page above a role)."""

from __future__ import annotations

import html

import asyncpg


async def test_the_group_admin_sees_the_last_backup_and_the_system_page(make_client, tree, fresh_db_url):
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await conn.execute("INSERT INTO backups (started_at, finished_at, kind, ok, path, size_bytes, error) VALUES"
                           " (now(), now(), 'daily', true, '/b/radbill-daily.tar', 5242880, NULL),"
                           " (now() - interval '1 day', now() - interval '1 day', 'daily', false, NULL, NULL,"
                           "  'pg_dump failed: disk full')")
    finally:
        await conn.close()
    admin = await make_client("admin")
    dashboard = html.unescape(await (await admin.get("/")).text())
    assert "last backup, 5,120 KB" in dashboard and 'href="/system"' in dashboard
    page = html.unescape(await (await admin.get("/system")).text())
    assert "Failed: pg_dump failed: disk full" in page and "5,120 KB" in page
    assert "The database answers." in page


async def test_others_see_neither(make_client, tree):
    for login in ("opa", "suba1", "mgr_all"):
        client = await make_client(login)
        assert "last backup" not in await (await client.get("/")).text()
        assert (await client.get("/system")).status == 403


async def test_the_system_page_lists_the_radius_nodes_and_names_one_not_answering(make_client, tree, fresh_db_url):
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await conn.execute("INSERT INTO radius_nodes (instance, name, probed_at, answered_at, round_trip_ms) VALUES"
                           " ('n1', 'radius1', now(), now(), 0.8),"
                           " ('n2', 'radius2', now(), now() - interval '90 seconds', 1.2)")
    finally:
        await conn.close()
    page = html.unescape(await (await (await make_client("admin")).get("/system")).text())
    assert "RADIUS nodes" in page and "Yes, in 0.8 ms" in page
    assert "Not answering for 9" in page  # 90 s and a little
    assert "RADIUS node radius2 is running but has not answered for 9" in page  # the failing check says what to do
